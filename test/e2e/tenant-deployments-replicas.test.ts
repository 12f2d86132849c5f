/**
 * Two gateways on one PostgreSQL: a dedicated deployment created through one gateway's admin API
 * is served by the other within a second (NOTIFY; the other replica opens the tenant's
 * credential itself), and a rotated upstream secret reaches it too.
 */
import { randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPostgresTestDatabase, type PostgresTestDatabase } from '../../src/store/testing.js';
import { startTestGateway, type TestGateway } from '../helpers/gateway.js';
import { POSTGRES_URL, postgresAvailable } from '../helpers/services.js';
import { BOOTSTRAP_KEY, client, str, type Client } from '../integration/admin/helpers.js';

const available = await postgresAvailable();
const KEY = 'ghk_replica0_dedicatedkeyforreplicatest000000000';
const WITHIN_MS = 1_000;

describe.skipIf(!available)('dedicated deployments across two gateways [PostgreSQL]', () => {
  let db: PostgresTestDatabase;
  let one: TestGateway | undefined;
  let two: TestGateway | undefined;
  let upstream: Server;
  let upstreamUrl: string;
  const seen: (string | undefined)[] = [];
  let admin: Client;
  let tenant: string;

  const call = async (gw: TestGateway, model: string): Promise<number> => {
    const res = await request(`${gw.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${KEY}`, 'content-type': 'application/json' },
      body: JSON.stringify({ model, messages: [{ role: 'user', content: 'hi' }] }),
    });
    await res.body.dump();
    return res.statusCode;
  };

  async function within(gw: TestGateway, model: string, status: number): Promise<number> {
    const started = performance.now();
    while (performance.now() - started < 5_000) {
      if ((await call(gw, model)) === status) return performance.now() - started;
      await new Promise((r) => setTimeout(r, 20));
    }
    throw new Error(`${model} never answered ${status}`);
  }

  beforeAll(async () => {
    upstream = createServer((req, res) => {
      seen.push(req.headers.authorization);
      req.resume();
      req.on('end', () => {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ id: 'x', object: 'chat.completion', created: 1, model: 'm', choices: [{ index: 0, message: { role: 'assistant', content: 'ok' }, finish_reason: 'stop' }], usage: { prompt_tokens: 1, completion_tokens: 1, total_tokens: 2 } }));
      });
    });
    await new Promise<void>((resolve) => upstream.listen(0, '127.0.0.1', resolve));
    upstreamUrl = `http://127.0.0.1:${(upstream.address() as AddressInfo).port}`;
    db = await createPostgresTestDatabase(POSTGRES_URL);
    const yaml = ['security:', '  outbound:', '    allowCidrs: ["127.0.0.1/32"]', 'tenants:', '  - slug: replicated', '    keys: [{ name: main, value: { env: REPLICA_KEY } }]', ''].join('\n');
    const env = { DATABASE_URL: db.url, GATEHOUSE_MASTER_KEY: randomBytes(32).toString('hex'), GATEHOUSE_ADMIN_KEY: BOOTSTRAP_KEY, GATEHOUSE_DEMO: '0', REPLICA_KEY: KEY };
    one = await startTestGateway({ yaml, env });
    two = await startTestGateway({ yaml, env });
    const platform = client(one, BOOTSTRAP_KEY);
    tenant = str((await platform('GET', '/tenants/replicated')).json.id);
    const k = await platform('POST', `/tenants/${tenant}/admin-keys`, { body: { name: 'owner', role: 'tenant_admin' } });
    admin = client(one, str(k.json.key));
  }, 120_000);

  afterAll(async () => {
    await Promise.all([one?.stop(), two?.stop()]);
    await new Promise<void>((resolve) => (upstream ? upstream.close(() => resolve()) : resolve()));
    await db?.drop();
  });

  it('the other replica serves a new dedicated deployment, with the credential, within a second', async () => {
    const c = await admin('POST', `/tenants/${tenant}/provider-credentials`, { body: { name: 'byok', provider: 'openai', secret: 'sk-replica-first-0123' } });
    expect(c.status, c.text).toBe(201);
    const d = await admin('POST', `/tenants/${tenant}/deployments`, {
      body: { model: 'replica-llm', provider: 'openai-compatible', base_url: `${upstreamUrl}/v1`, credential_id: str(c.json.id) },
    });
    expect(d.status, d.text).toBe(201);
    const ms = await within(two as TestGateway, 'replica-llm', 200);
    console.log(`dedicated deployment reached the other replica in ${ms.toFixed(0)} ms`);
    expect(ms).toBeLessThan(WITHIN_MS);
    expect(seen.at(-1)).toBe('Bearer sk-replica-first-0123');

    const rotated = await admin('POST', `/tenants/${tenant}/provider-credentials/${str(c.json.id)}/secret`, { body: { secret: 'sk-replica-second-4567' } });
    expect(rotated.status, rotated.text).toBe(200);
    const started = performance.now();
    while (performance.now() - started < 3_000) {
      await call(two as TestGateway, 'replica-llm');
      if (seen.at(-1) === 'Bearer sk-replica-second-4567') break;
      await new Promise((r) => setTimeout(r, 20));
    }
    expect(seen.at(-1)).toBe('Bearer sk-replica-second-4567');
    expect(performance.now() - started).toBeLessThan(WITHIN_MS);

    const del = await admin('DELETE', `/tenants/${tenant}/deployments/${str(d.json.id)}`, { headers: { 'if-match': str(d.headers.etag) } });
    expect(del.status, del.text).toBe(204);
    expect(await within(two as TestGateway, 'replica-llm', 404)).toBeLessThan(WITHIN_MS);
  });
});
