/**
 * A start that fails part-way closes what it had opened: the built-in mock's server, the
 * metering spool, the embedded store (whose data directory can then be opened again). The port
 * being taken fails the start at its last step, after everything else is open.
 */
import { createServer, type Server } from 'node:http';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startGateway } from '../../src/app.js';
import { loadConfig } from '../../src/config/load.js';

const servers = (): number => process.getActiveResourcesInfo().filter((r) => r === 'TCPServerWrap').length;

describe('a start that fails', () => {
  let dir: string;
  let blocker: Server;
  let port: number;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'gatehouse-start-failure-'));
    blocker = createServer();
    await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
    port = (blocker.address() as { port: number }).port;
  });
  afterAll(async () => {
    await new Promise<void>((resolve) => blocker.close(() => resolve()));
    await rm(dir, { recursive: true, force: true });
  });

  const env = (p: number): NodeJS.ProcessEnv => ({
    GATEHOUSE_DATA_DIR: join(dir, 'data'),
    GATEHOUSE_HOST: '127.0.0.1',
    GATEHOUSE_PORT: String(p),
    GATEHOUSE_LOG_LEVEL: 'error',
    GATEHOUSE_DEMO_KEY: 'ghk_demo0000_testkeyforthedemotenant000000000000',
  });
  const quiet = new Writable({ write: (_c, _e, done) => done() });

  it('on a taken port closes the mock provider and the store it had opened, and a later start succeeds', async () => {
    const before = servers();
    const e = env(port);
    await expect(startGateway(await loadConfig({ env: e, cwd: dir }), { env: e, logDestination: quiet })).rejects.toThrow(/EADDRINUSE|in use/i);
    // Nothing of the failed start still listens (the demo's mock provider did, before).
    expect(servers()).toBe(before);
    // The store and spool were closed: the same data directory opens again.
    const e2 = env(0);
    const gw = await startGateway(await loadConfig({ env: e2, cwd: dir }), { env: e2, logDestination: quiet });
    try {
      const res = await fetch(`${gw.url}/healthz`);
      expect(res.status).toBe(200);
    } finally {
      await gw.close();
    }
    expect(servers()).toBe(before);
  }, 120_000);
});
