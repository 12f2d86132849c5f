/** A Bedrock deployment's AWS credentials never reach a log line, even if a deployment is logged by mistake. */
import { Writable } from 'node:stream';
import { expect, it } from 'vitest';
import { createLogger } from '../../../../src/observability/logger.js';

it('redacts aws credentials by path', () => {
  const lines: string[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      lines.push(chunk.toString('utf8'));
      done();
    },
  });
  const log = createLogger('info', sink);
  const aws = { accessKeyId: 'AKIDCANARY', secretAccessKey: 'SECRET-CANARY', region: 'us-east-1' };
  log.info({ aws }, 'top level');
  log.info({ deployment: { id: 'd', aws } }, 'nested');
  expect(lines).toHaveLength(2);
  expect(lines.join('')).not.toContain('CANARY');
  expect(lines.join('')).toContain('[redacted]');
});
