/**
 * Runs the mock provider on its own, for benchmarks and manual use:
 *   node dist/src/providers/mock/main.js --port 9999 [--host 127.0.0.1] [--latency-ms 0]
 *     [--tokens-per-second 0] [--error-rate 0] [--error-status 500] [--api-key KEY]
 */
import { parseArgs } from 'node:util';
import { startMockProvider } from './server.js';

const { values } = parseArgs({
  options: {
    host: { type: 'string', default: '127.0.0.1' },
    port: { type: 'string', default: '9999' },
    'latency-ms': { type: 'string', default: '0' },
    'tokens-per-second': { type: 'string', default: '0' },
    'error-rate': { type: 'string', default: '0' },
    'error-status': { type: 'string', default: '500' },
    'api-key': { type: 'string' },
  },
  strict: true,
});

function numberOption(name: string, value: string | undefined): number {
  const n = Number(value);
  if (!Number.isFinite(n) || n < 0) {
    process.stderr.write(`--${name} must be a non-negative number\n`);
    process.exit(2);
  }
  return n;
}

const mock = await startMockProvider({
  host: values.host,
  port: numberOption('port', values.port),
  apiKey: values['api-key'],
  behaviour: {
    latencyMs: numberOption('latency-ms', values['latency-ms']),
    tokensPerSecond: numberOption('tokens-per-second', values['tokens-per-second']),
    errorRate: numberOption('error-rate', values['error-rate']),
    errorStatus: numberOption('error-status', values['error-status']),
  },
});
process.stdout.write(`mock provider listening on ${mock.url}\n`);

const stop = (): void => {
  mock.close().then(
    () => process.exit(0),
    () => process.exit(1),
  );
};
process.once('SIGINT', stop);
process.once('SIGTERM', stop);
