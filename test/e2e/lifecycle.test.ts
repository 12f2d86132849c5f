/**
 * Process lifecycle through the real CLI: health probes, graceful shutdown on SIGTERM that lets
 * an in-flight stream finish and exits 0, and logs that never contain keys or prompts.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { request } from 'undici';
import { afterEach, describe, expect, it } from 'vitest';
import { DEMO_KEY, startTestGateway } from '../helpers/gateway.js';

const BIN = join(import.meta.dirname, '..', '..', 'bin', 'gatehouse.js');

interface Started {
  child: ChildProcess;
  url: string;
  output: () => string;
  exited: Promise<number | null>;
}

async function startCli(env: Record<string, string>): Promise<Started> {
  const child = spawn(process.execPath, [BIN, 'start'], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout?.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const deadline = Date.now() + 150_000;
  for (;;) {
    const match = /"url":"(http:\/\/[^"]+)"/.exec(out);
    if (match?.[1]) return { child, url: match[1], output: () => out, exited };
    if (child.exitCode !== null) throw new Error(`gatehouse exited early:\n${out}`);
    if (Date.now() > deadline) throw new Error(`gatehouse did not start:\n${out}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

const dirs: string[] = [];
afterEach(async () => {
  for (const d of dirs.splice(0)) await rm(d, { recursive: true, force: true });
});

// Spawning the CLI may compile the sources first and creates a new embedded database: slow on a
// loaded CI machine, so these tests get minutes, not the default 30 s.
const SLOW = 180_000;

describe('gatehouse start', () => {
  it('prints a generated demo key once, and not on the next start', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'gatehouse-cli-'));
    dirs.push(dir);
    const env = { GATEHOUSE_DATA_DIR: dir, GATEHOUSE_PORT: '0', GATEHOUSE_HOST: '127.0.0.1', GATEHOUSE_DEMO_KEY: '' };
    const first = await startCli(env);
    // The key banner follows the "listening" log line that startCli waits for.
    const keyPattern = /(ghk_[A-Za-z0-9]{8}_[A-Za-z0-9]{40})/;
    for (let i = 0; i < 100 && !keyPattern.test(first.output()); i++) await new Promise((r) => setTimeout(r, 100));
    const key = keyPattern.exec(first.output())?.[1];
    expect(key).toBeDefined();
    const ok = await request(`${first.url}/v1/models`, { headers: { authorization: `Bearer ${key}` } });
    expect(ok.statusCode).toBe(200);
    await ok.body.text();
    first.child.kill('SIGTERM');
    expect(await first.exited).toBe(0);

    const second = await startCli(env);
    const again = await request(`${second.url}/v1/models`, { headers: { authorization: `Bearer ${key}` } });
    expect(again.statusCode).toBe(200);
    await again.body.text();
    // Checked after a served request, by when a banner would have been printed.
    expect(second.output()).not.toContain(key);
    second.child.kill('SIGTERM');
    expect(await second.exited).toBe(0);
  }, SLOW);

  it('drains an in-flight stream on SIGTERM, refuses new work, and exits 0', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'gatehouse-cli-'));
    dirs.push(dir);
    const gw = await startCli({
      GATEHOUSE_DATA_DIR: dir,
      GATEHOUSE_PORT: '0',
      GATEHOUSE_HOST: '127.0.0.1',
      GATEHOUSE_DEMO_KEY: DEMO_KEY,
      GATEHOUSE_SHUTDOWN_GRACE_MS: '10000',
    });
    const ready = await request(`${gw.url}/readyz`);
    expect(ready.statusCode).toBe(200);
    await ready.body.text();

    const res = await request(`${gw.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${DEMO_KEY}`, 'content-type': 'application/json' },
      body: JSON.stringify({
        model: 'gpt-4o-mini',
        stream: true,
        messages: [{ role: 'user', content: 'x' }],
        mock: { tokens: 40, tokensPerSecond: 40 },
      }),
    });
    expect(res.statusCode).toBe(200);
    gw.child.kill('SIGTERM');
    const text = await res.body.text();
    expect(text.trimEnd().endsWith('data: [DONE]')).toBe(true);
    expect(await gw.exited).toBe(0);
    await expect(request(`${gw.url}/healthz`)).rejects.toThrow();
  }, SLOW);

  it('stops with a clear message on invalid configuration', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'gatehouse-cli-'));
    dirs.push(dir);
    const child = spawn(process.execPath, [BIN, 'start'], {
      env: { ...process.env, GATEHOUSE_DATA_DIR: dir, GATEHOUSE_PORT: 'eighty' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let err = '';
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
    expect(code).toBe(1);
    expect(err).toContain('GATEHOUSE_PORT');
  }, SLOW);
});

describe('shutdown at the end of its grace period', () => {
  it('cuts the streams still open with a shutting_down error event, and records their usage before the spool closes', async () => {
    const gw = await startTestGateway({ env: { GATEHOUSE_SHUTDOWN_GRACE_MS: '1000' } });
    try {
      const streams = await Promise.all(
        [1, 2, 3].map(() =>
          request(`${gw.url}/v1/chat/completions`, {
            method: 'POST',
            headers: { authorization: `Bearer ${DEMO_KEY}`, 'content-type': 'application/json' },
            body: JSON.stringify({ model: 'gpt-4o-mini', stream: true, messages: [{ role: 'user', content: 'x' }], mock: { tokens: 200, tokensPerSecond: 20 } }),
          }),
        ),
      );
      for (const s of streams) expect(s.statusCode).toBe(200);
      const texts = streams.map((s) => s.body.text());
      const before = gw.metering.stats().spool.appended;
      await gw.close();
      for (const text of await Promise.all(texts)) {
        const last = text.trim().split('\n\n').at(-1) ?? '';
        expect(last).toMatch(/^data: \{"error":/);
        expect((JSON.parse(last.slice('data: '.length)) as { error: { code: string } }).error.code).toBe('shutting_down');
        expect(text).not.toContain('[DONE]');
      }
      // Each cut stream's usage event reached the spool before it closed.
      expect(gw.metering.stats().spool.appended - before).toBe(3);
      expect(gw.logs.join('')).not.toContain('spool is closed');
    } finally {
      await gw.stop();
    }
  }, SLOW);
});

describe('logs', () => {
  it('carry request and tenant ids but never keys or prompt content', async () => {
    const gw = await startTestGateway();
    try {
      const canaryPrompt = 'CANARY-PROMPT-7f3a9c';
      const wrongKey = 'ghk_canary00_' + 'c'.repeat(40);
      for (const [key, body] of [
        [DEMO_KEY, { model: 'gpt-4o-mini', messages: [{ role: 'user', content: canaryPrompt }] }],
        [DEMO_KEY, { model: 'gpt-4o-mini', messages: [{ role: 'user', content: canaryPrompt }], mock: { errorRate: 1, errorStatus: 500 } }],
        [wrongKey, { model: 'gpt-4o-mini', messages: [{ role: 'user', content: canaryPrompt }] }],
      ] as const) {
        const res = await request(`${gw.url}/v1/chat/completions`, {
          method: 'POST',
          headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json', 'x-request-id': 'log-test-1' },
          body: JSON.stringify(body),
        });
        await res.body.text();
      }
      const all = gw.logs.join('');
      expect(all).toContain('log-test-1');
      expect(all).toContain('"tenant":"demo"');
      expect(all).not.toContain(canaryPrompt);
      expect(all).not.toContain(DEMO_KEY);
      expect(all).not.toContain(wrongKey);
    } finally {
      await gw.stop();
    }
  });

  it('never carry the text a malformed JSON body quotes (V8 quotes it around an unexpected token), on the data plane or the admin API', async () => {
    const adminKey = 'admin-canary-0123456789abcdef0123456789abcdef';
    const gw = await startTestGateway({ env: { GATEHOUSE_ADMIN_KEY: adminKey } });
    try {
      // Curly quotes pasted from a document: a plausible mistake that V8 reports with an excerpt.
      const prompt = 'CANARY-JSON-PROMPT my password is hunter2';
      const secret = 'sk-CANARY-JSON-SECRET-9d1e';
      for (const [path, key, body] of [
        ['/v1/chat/completions', DEMO_KEY, `{"model":"gpt-4o-mini","messages":[{"role":"user","content": ‘${prompt}’}]}`],
        ['/v1/chat/completions', DEMO_KEY, prompt],
        ['/v1/messages', DEMO_KEY, `{"model":"gpt-4o-mini","max_tokens":5,"messages":[{"role":"user","content": ‘${prompt}’}]}`],
        ['/admin/v1/tenants', adminKey, `{"slug":"acme","name": ${secret}}`],
      ] as const) {
        const res = await request(`${gw.url}${path}`, {
          method: 'POST',
          headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json', 'x-request-id': 'json-log-test' },
          body,
        });
        expect(res.statusCode).toBe(400);
        expect(await res.body.text()).toContain('not valid JSON');
      }
      const all = gw.logs.join('');
      expect(all).toContain('json-log-test');
      expect(all).toContain('not valid JSON');
      for (const fragment of ['CANARY-JSON', 'CANARY', 'hunter2', 'sk-CANA', 'CANA']) expect(all).not.toContain(fragment);
    } finally {
      await gw.stop();
    }
  });

  it("never carry an upstream's error text, which may quote the prompt; the client still gets it", async () => {
    const canary = 'CANARY-QUOTED-b41d07';
    // An upstream whose 5xx quotes what it was sent, as some providers' do.
    const upstream = createServer((req, res) => {
      let body = '';
      req.on('data', (c: Buffer) => (body += c.toString()));
      req.on('end', () => {
        res.writeHead(500, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ error: { message: `could not process: ${body.slice(0, 300)}`, type: 'server_error' } }));
      });
    });
    await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', r));
    const port = (upstream.address() as AddressInfo).port;
    const key = 'sk-quoted-0123456789abcdef0123456789abcdef';
    const gw = await startTestGateway({
      yaml: `
demo: { enabled: false }
routing: { maxAttempts: 1 }
providers:
  - { name: quoting, kind: openai-compatible, baseUrl: "http://127.0.0.1:${port}/v1", apiKey: upstream-secret-key }
deployments:
  - { model: quoting-model, provider: quoting }
tenants:
  - slug: quoted
    keys: [{ name: main, value: ${key} }]
`,
    });
    try {
      const res = await request(`${gw.url}/v1/chat/completions`, {
        method: 'POST',
        headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
        body: JSON.stringify({ model: 'quoting-model', messages: [{ role: 'user', content: canary }] }),
      });
      expect(res.statusCode).toBe(502);
      expect(await res.body.text()).toContain(canary);
      const all = gw.logs.join('');
      expect(all).toContain('upstream failure (upstream_error)');
      expect(all).not.toContain(canary);
    } finally {
      await gw.stop();
      upstream.close();
    }
  });
});
