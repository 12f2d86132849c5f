/**
 * Structured logs (pino). Secrets and prompt content never reach a log line: credentials are
 * redacted by path as a second line of defence, and the code never logs bodies or headers.
 */
import { pino, type Logger, type LevelWithSilent } from 'pino';

const REDACT = [
  'authorization',
  '*.authorization',
  'headers.authorization',
  '*.headers.authorization',
  '*.headers["api-key"]',
  '*.headers["x-api-key"]',
  'apiKey',
  '*.apiKey',
  // Bedrock deployments: AWS access key id, secret and session token.
  'aws',
  '*.aws',
  'key',
  '*.key',
  'credential',
  '*.credential',
  'body',
  '*.body',
  'messages',
  '*.messages',
];

export function createLogger(level: LevelWithSilent, destination?: NodeJS.WritableStream): Logger {
  const options = {
    level,
    base: { service: 'gatehouse' },
    redact: { paths: REDACT, censor: '[redacted]' },
  };
  return destination === undefined ? pino(options) : pino(options, destination);
}

export type { Logger };
