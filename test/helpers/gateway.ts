/**
 * Starts a real gateway in-process on an ephemeral port, with its own embedded store in a temp
 * directory and the built-in mock provider as upstream. Tests talk to it over HTTP only. The
 * store's database is created from a cached copy (embedded-template.ts); the gateway migrates it.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { startGateway, type RunningGateway } from '../../src/app.js';
import { loadConfig } from '../../src/config/load.js';
import { seedEmbeddedDatabase } from './embedded-template.js';

export interface TestGateway extends RunningGateway {
  dir: string;
  /** Every log line written so far (JSON text). */
  logs: string[];
  stop(): Promise<void>;
}

export interface TestGatewayOptions {
  /** YAML configuration; written to a file and passed as GATEHOUSE_CONFIG. */
  yaml?: string;
  env?: Record<string, string>;
}

export const DEMO_KEY = 'ghk_demo0000_testkeyforthedemotenant000000000000';

export async function startTestGateway(opts: TestGatewayOptions = {}): Promise<TestGateway> {
  const dir = await mkdtemp(join(tmpdir(), 'gatehouse-test-'));
  const env: NodeJS.ProcessEnv = {
    GATEHOUSE_DATA_DIR: join(dir, 'data'),
    GATEHOUSE_HOST: '127.0.0.1',
    GATEHOUSE_PORT: '0',
    GATEHOUSE_LOG_LEVEL: 'debug',
    GATEHOUSE_DEMO_KEY: DEMO_KEY,
    GATEHOUSE_SHUTDOWN_GRACE_MS: '2000',
    ...opts.env,
  };
  if (opts.yaml !== undefined) {
    const file = join(dir, 'gatehouse.yaml');
    await writeFile(file, opts.yaml);
    env.GATEHOUSE_CONFIG = file;
  }
  const logs: string[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      logs.push(chunk.toString('utf8'));
      done();
    },
  });
  const config = await loadConfig({ env, cwd: dir });
  // A new embedded store is a copy of one created once per machine (embedded-template.ts).
  if (config.databaseUrl === undefined) await seedEmbeddedDatabase(config.dataDir);
  const gateway = await startGateway(config, { env, logDestination: sink });
  return Object.assign(gateway, {
    dir,
    logs,
    async stop() {
      await gateway.close();
      await rm(dir, { recursive: true, force: true });
    },
  });
}
