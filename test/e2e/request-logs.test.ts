/**
 * Stored request logs (src/logs/) through the gateway, with the OpenAI SDK as the client and the
 * admin API as the reader, on PGlite and on PostgreSQL: a chat answer and a streamed answer are
 * logged with their content (the stream assembled, tool calls included) and readable by the
 * tenant's admin and auditor, never by another tenant's admin; reading content is audited; a
 * client opts out with `x-gatehouse-log: off`; a tenant at its log_bytes quota loses entries,
 * never requests; a tenant logging metadata only stores no content; a plan without log retention
 * logs nothing.
 */
import { randomBytes } from 'node:crypto';
import OpenAI from 'openai';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPostgresTestDatabase, type PostgresTestDatabase } from '../../src/store/testing.js';
import { startTestGateway, type TestGateway } from '../helpers/gateway.js';
import { POSTGRES_URL, postgresAvailable } from '../helpers/services.js';
import { BOOTSTRAP_KEY, client, envelope, str, type Client } from '../integration/admin/helpers.js';

const pgAvailable = await postgresAvailable();

const ACME = 'sk-acme-logs-0123456789abcdef0123456789ab';
const GLOBEX = 'sk-globex-logs-0123456789abcdef012345678';
const META = 'sk-meta-logs-0123456789abcdef0123456789ab';
const TINY = 'sk-tiny-logs-0123456789abcdef0123456789ab';
const FREE = 'sk-free-logs-0123456789abcdef0123456789ab';

const YAML = `
deployments:
  - model: gpt-4o-mini
    provider: mock
requestLogs:
  flushIntervalMs: 50
plans:
  - name: tiny-logs
    weight: 1
    rules:
      - { id: log-bytes, metric: log_bytes, limit: 2500 }
tenants:
  - slug: acme
    logs: { content: true, retentionDays: 7 }
    keys: [{ name: main, value: ${ACME} }]
  - slug: globex
    logs: { content: true }
    keys: [{ name: main, value: ${GLOBEX} }]
  - slug: meta
    logs: {}
    keys: [{ name: main, value: ${META} }]
  - slug: tiny
    plan: tiny-logs
    logs: { content: true }
    keys: [{ name: main, value: ${TINY} }]
  - slug: free
    plan: free
    logs: { content: true }
    keys: [{ name: main, value: ${FREE} }]
`;

interface LogEntry {
  id: string;
  request_id: string;
  status: number;
  model: string;
  streamed: boolean;
  has_content: boolean;
  key_id: string | null;
  content_status?: string;
  content?: { request: Record<string, unknown> | string; response: Record<string, unknown> | string | null; request_truncated: boolean; response_truncated: boolean } | null;
}

const stores: { label: string; skip: boolean }[] = [
  { label: 'PGlite', skip: false },
  { label: 'PostgreSQL', skip: !pgAvailable },
];

for (const s of stores) {
  describe.skipIf(s.skip)(`request logs end to end [${s.label}]`, () => {
    let gw: TestGateway;
    let db: PostgresTestDatabase | undefined;
    const admins = new Map<string, Client>();
    let auditor: Client;

    const sdk = (key: string) => new OpenAI({ apiKey: key, baseURL: `${gw.url}/v1`, maxRetries: 0 });
    const rid = (label: string) => `${label}-${randomBytes(6).toString('hex')}`;
    const admin = (slug: string): Client => {
      const c = admins.get(slug);
      if (c === undefined) throw new Error(`no admin for ${slug}`);
      return c;
    };

    async function list(slug: string, query = ''): Promise<LogEntry[]> {
      const r = await admin(slug)('GET', `/tenants/${slug}/logs${query}`);
      expect(r.status, r.text).toBe(200);
      return r.json.data as LogEntry[];
    }

    /** Entries are written off the request path: wait until the one with `requestId` is listed. */
    async function logged(slug: string, requestId: string): Promise<LogEntry> {
      for (let i = 0; i < 200; i++) {
        const hit = (await list(slug)).find((e) => e.request_id === requestId);
        if (hit !== undefined) return hit;
        await new Promise((r) => setTimeout(r, 25));
      }
      throw new Error(`no log entry for ${requestId} in ${slug}: ${gw.logs.filter((l) => l.includes('request log')).join('\n')}`);
    }

    async function metric(outcome: string): Promise<number> {
      const res = await request(`${gw.url}/metrics`);
      const text = await res.body.text();
      const m = new RegExp(`^gatehouse_request_logs_total\\{outcome="${outcome}"\\} (\\d+)`, 'm').exec(text);
      return m === null ? 0 : Number(m[1]);
    }

    beforeAll(async () => {
      const env: Record<string, string> = { GATEHOUSE_ADMIN_KEY: BOOTSTRAP_KEY };
      if (s.label === 'PostgreSQL') {
        db = await createPostgresTestDatabase(POSTGRES_URL);
        Object.assign(env, { DATABASE_URL: db.url, GATEHOUSE_MASTER_KEY: randomBytes(32).toString('hex') });
      }
      gw = await startTestGateway({ yaml: YAML, env });
      const platform = client(gw, BOOTSTRAP_KEY);
      for (const slug of ['acme', 'globex', 'meta', 'tiny', 'free']) {
        const k = await platform('POST', `/tenants/${slug}/admin-keys`, { body: { name: 'owner', role: 'tenant_admin' } });
        expect(k.status, k.text).toBe(201);
        admins.set(slug, client(gw, str(k.json.key)));
      }
      const a = await admin('acme')('POST', '/tenants/acme/admin-keys', { body: { name: 'auditor', role: 'tenant_auditor' } });
      expect(a.status, a.text).toBe(201);
      auditor = client(gw, str(a.json.key));
      // A tenant's first request on an instance loads its log policy in the background (no request
      // waits on the database) and is not logged.
      for (const key of [ACME, GLOBEX, META, TINY, FREE]) {
        await sdk(key).chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'warm up' }] });
      }
      await new Promise((r) => setTimeout(r, 300));
    }, 180_000);

    afterAll(async () => {
      await gw?.stop();
      await db?.drop();
    });

    it('a chat answer is logged with its request and response, readable by the tenant admin and auditor', async () => {
      const id = rid('chat');
      const prompt = `log me ${id}`;
      const { data } = await sdk(ACME)
        .chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: prompt }] }, { headers: { 'x-request-id': id } })
        .withResponse();
      const listed = await logged('acme', id);
      expect(listed).toMatchObject({ status: 200, model: 'gpt-4o-mini', streamed: false, has_content: true });
      expect(listed).not.toHaveProperty('content');
      expect(listed.key_id).toMatch(/^[0-9a-f-]{36}$/);

      const read = await admin('acme')('GET', `/tenants/acme/logs/${id}`);
      expect(read.status, read.text).toBe(200);
      const entry = read.json as unknown as LogEntry;
      expect(entry.content_status).toBe('available');
      const req = entry.content?.request as { messages: { content: string }[]; model: string };
      expect(req.messages[0]?.content).toBe(prompt);
      const res = entry.content?.response as { choices: { message: { content: string } }[] };
      expect(res.choices[0]?.message.content).toBe(data.choices[0]?.message.content);
      expect(res.choices[0]?.message.content).toContain(prompt);

      // The same entry by its row id.
      const byId = await admin('acme')('GET', `/tenants/acme/logs/${listed.id}`);
      expect(byId.status, byId.text).toBe(200);
      expect((byId.json.content as { request: unknown }).request).toEqual(entry.content?.request);

      // The tenant's auditor lists entries but never opens their content (no access to prompts).
      const auditorList = await auditor('GET', `/tenants/acme/logs?limit=50`);
      expect(auditorList.status, auditorList.text).toBe(200);
      expect(JSON.stringify(auditorList.json)).toContain(listed.id);
      expect(JSON.stringify(auditorList.json)).not.toContain(prompt);
      const auditorRead = await auditor('GET', `/tenants/acme/logs/${listed.id}`);
      expect(auditorRead.status, auditorRead.text).toBe(403);
      expect(auditorRead.text).not.toContain(prompt);

      // Reading content is audited, with who read which entry.
      const audit = await admin('acme')('GET', '/tenants/acme/audit?action=request_log.read');
      expect(audit.status, audit.text).toBe(200);
      const reads = (audit.json.data as { target_id?: string }[]).filter((e) => e.target_id === listed.id);
      expect(reads.length).toBeGreaterThanOrEqual(2);
    });

    it("another tenant's admin gets the same 404 as for an entry that does not exist", async () => {
      const id = rid('private');
      await sdk(ACME).chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'acme only' }] }, { headers: { 'x-request-id': id } });
      const mine = await logged('acme', id);
      const foreignTenant = await admin('globex')('GET', `/tenants/acme/logs/${id}`);
      const foreignEntry = await admin('globex')('GET', `/tenants/globex/logs/${mine.id}`);
      const foreignByRequestId = await admin('globex')('GET', `/tenants/globex/logs/${id}`);
      const missing = await admin('globex')('GET', `/tenants/globex/logs/${rid('nowhere')}`);
      envelope(foreignTenant, 404, 'not_found');
      envelope(foreignEntry, 404, 'not_found');
      envelope(foreignByRequestId, 404, 'not_found');
      envelope(missing, 404, 'not_found');
      expect(foreignEntry.json).toEqual(missing.json);
      expect((await admin('globex')('GET', '/tenants/acme/logs')).status).toBe(404);
      expect((await list('globex')).some((e) => e.request_id === id)).toBe(false);
      // Roles without the permission (developer) are refused.
      const dev = await admin('acme')('POST', '/tenants/acme/admin-keys', { body: { name: 'dev', role: 'tenant_developer' } });
      const devRead = await client(gw, str(dev.json.key))('GET', `/tenants/acme/logs/${id}`);
      envelope(devRead, 403, 'forbidden');
    });

    it('a streamed answer is logged assembled: text, finish reason and usage instead of SSE frames', async () => {
      const id = rid('stream');
      const stream = await sdk(ACME).chat.completions.create(
        { model: 'gpt-4o-mini', messages: [{ role: 'user', content: `stream ${id}` }], stream: true, stream_options: { include_usage: true } },
        { headers: { 'x-request-id': id } },
      );
      let text = '';
      for await (const chunk of stream) text += chunk.choices[0]?.delta.content ?? '';
      await logged('acme', id);
      const read = await admin('acme')('GET', `/tenants/acme/logs/${id}`);
      expect(read.status, read.text).toBe(200);
      const entry = read.json as unknown as LogEntry;
      expect(entry.streamed).toBe(true);
      const res = entry.content?.response as { choices: { message: { content: string }; finish_reason: string }[]; usage: { completion_tokens: number }; stream_done: boolean };
      expect(res.choices[0]?.message.content).toBe(text);
      expect(res.choices[0]?.finish_reason).toBe('stop');
      expect(res.usage.completion_tokens).toBeGreaterThan(0);
      expect(res.stream_done).toBe(true);
      expect(entry.content?.response_truncated).toBe(false);
    });

    it('a streamed tool call is assembled from its argument deltas', async () => {
      const id = rid('tools');
      const stream = await sdk(ACME).chat.completions.create(
        {
          model: 'gpt-4o-mini',
          messages: [{ role: 'user', content: 'weather in Paris?' }],
          tools: [{ type: 'function', function: { name: 'get_weather', parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] } } }],
          tool_choice: { type: 'function', function: { name: 'get_weather' } },
          stream: true,
        },
        { headers: { 'x-request-id': id } },
      );
      let args = '';
      for await (const chunk of stream) args += chunk.choices[0]?.delta.tool_calls?.[0]?.function?.arguments ?? '';
      await logged('acme', id);
      const entry = (await admin('acme')('GET', `/tenants/acme/logs/${id}`)).json as unknown as LogEntry;
      const res = entry.content?.response as { choices: { message: { tool_calls: { function: { name: string; arguments: string } }[] }; finish_reason: string }[] };
      expect(res.choices[0]?.message.tool_calls[0]?.function).toEqual({ name: 'get_weather', arguments: args });
      expect(res.choices[0]?.finish_reason).toBe('tool_calls');
    });

    it('an Anthropic Messages request is logged as the chat request it became, with the canonical answer', async () => {
      const id = rid('messages');
      const res = await request(`${gw.url}/v1/messages`, {
        method: 'POST',
        headers: { 'x-api-key': ACME, 'content-type': 'application/json', 'anthropic-version': '2023-06-01', 'x-request-id': id },
        body: JSON.stringify({ model: 'gpt-4o-mini', max_tokens: 50, messages: [{ role: 'user', content: `anthropic ${id}` }] }),
      });
      const answer = (await res.body.json()) as { type: string; content: { text: string }[] };
      expect(answer.type).toBe('message');
      await logged('acme', id);
      const entry = (await admin('acme')('GET', `/tenants/acme/logs/${id}`)).json as unknown as LogEntry;
      const req = entry.content?.request as { messages: { role: string; content: unknown }[] };
      expect(JSON.stringify(req.messages)).toContain(`anthropic ${id}`);
      const out = entry.content?.response as { choices: { message: { content: string } }[] };
      expect(out.choices[0]?.message.content).toBe(answer.content[0]?.text);
    });

    it('x-gatehouse-log: off stores nothing for that request; a malformed value is a 400', async () => {
      const optedBefore = await metric('opted_out');
      const off = rid('off');
      const on = rid('after-off');
      await sdk(ACME).chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'secret' }] }, { headers: { 'x-request-id': off, 'x-gatehouse-log': 'off' } });
      await sdk(ACME).chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'fine' }] }, { headers: { 'x-request-id': on } });
      // Entries are written in queue order: once the later one is listed, the earlier would be.
      await logged('acme', on);
      expect((await list('acme')).some((e) => e.request_id === off)).toBe(false);
      envelope(await admin('acme')('GET', `/tenants/acme/logs/${off}`), 404, 'not_found');
      expect(await metric('opted_out')).toBe(optedBefore + 1);

      const bad = await request(`${gw.url}/v1/chat/completions`, {
        method: 'POST',
        headers: { authorization: `Bearer ${ACME}`, 'content-type': 'application/json', 'x-gatehouse-log': 'of' },
        body: JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'typo' }] }),
      });
      expect(bad.statusCode).toBe(400);
      expect(((await bad.body.json()) as { error: { param: string } }).error.param).toBe('x-gatehouse-log');
    });

    it('the list filters by status and pages with a cursor', async () => {
      const ids = [rid('page'), rid('page'), rid('page')];
      for (const id of ids) await sdk(GLOBEX).chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: id }] }, { headers: { 'x-request-id': id } });
      const refused = rid('refused');
      await expect(
        sdk(GLOBEX).chat.completions.create({ model: 'no-such-model', messages: [{ role: 'user', content: 'x' }] }, { headers: { 'x-request-id': refused } }),
      ).rejects.toThrow();
      await logged('globex', refused);
      const errors = await list('globex', '?status=4xx');
      expect(errors.map((e) => e.request_id)).toContain(refused);
      expect(errors.every((e) => e.status >= 400 && e.status < 500)).toBe(true);
      expect((await list('globex', '?status=200')).map((e) => e.request_id)).toEqual(expect.arrayContaining(ids));

      const seen: string[] = [];
      let cursor: string | null = null;
      do {
        const r = await admin('globex')('GET', `/tenants/globex/logs?limit=2${cursor === null ? '' : `&cursor=${cursor}`}`);
        expect(r.status, r.text).toBe(200);
        seen.push(...(r.json.data as LogEntry[]).map((e) => e.request_id));
        cursor = r.json.next_cursor as string | null;
      } while (cursor !== null);
      expect(new Set(seen).size).toBe(seen.length);
      expect(seen).toEqual(expect.arrayContaining([...ids, refused]));
    });

    it('a tenant logging metadata only stores no content', async () => {
      const id = rid('meta');
      await sdk(META).chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'private prompt' }] }, { headers: { 'x-request-id': id } });
      expect(await logged('meta', id)).toMatchObject({ has_content: false, status: 200 });
      const read = await admin('meta')('GET', `/tenants/meta/logs/${id}`);
      expect(read.json).toMatchObject({ content_status: 'none', content: null });
      expect(read.text).not.toContain('private prompt');
    });

    it('a tenant at its log_bytes quota loses entries, never requests', async () => {
      const quotaBefore = await metric('quota');
      const ids: string[] = [];
      for (let i = 0; i < 6; i++) {
        const id = rid('tiny');
        ids.push(id);
        const answer = await sdk(TINY).chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: `fill ${id}` }] }, { headers: { 'x-request-id': id } });
        expect(answer.choices[0]?.message.content).toContain(id);
      }
      for (let i = 0; i < 200 && (await metric('quota')) === quotaBefore; i++) await new Promise((r) => setTimeout(r, 25));
      expect(await metric('quota')).toBeGreaterThan(quotaBefore);
      const stored = (await list('tiny')).filter((e) => ids.includes(e.request_id));
      expect(stored.length).toBeGreaterThan(0);
      expect(stored.length).toBeLessThan(ids.length);
    });

    it('a plan that keeps no logs (free) logs nothing, and its admin may not turn logging on', async () => {
      const id = rid('free');
      await sdk(FREE).chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'x' }] }, { headers: { 'x-request-id': id } });
      await new Promise((r) => setTimeout(r, 300));
      expect(await list('free')).toEqual([]);
      const t = await admin('free')('GET', '/tenants/free');
      const patched = await admin('free')('PATCH', '/tenants/free', { body: { logs: { enabled: true } }, headers: { 'if-match': str(t.headers.etag) } });
      expect(envelope(patched, 403, 'forbidden').param).toBe('logs.enabled');
    });

    it('the tenant admin changes the opt-in through the admin API; more retention than the plan is refused', async () => {
      const t = await admin('globex')('GET', '/tenants/globex');
      expect(t.json.logs).toEqual({ enabled: true, content: true, retention_days: null });
      const tooLong = await admin('globex')('PATCH', '/tenants/globex', {
        body: { logs: { enabled: true, retention_days: 3650 } },
        headers: { 'if-match': str(t.headers.etag) },
      });
      // YAML tenants are on no plan here: every feature, 365 days of logs.
      expect(envelope(tooLong, 403, 'forbidden').param).toBe('logs.retention_days');
      const off = await admin('globex')('PATCH', '/tenants/globex', { body: { logs: { enabled: false } }, headers: { 'if-match': str(t.headers.etag) } });
      expect(off.status, off.text).toBe(200);
      expect(off.json.logs).toEqual({ enabled: false, content: false, retention_days: null });
      const id = rid('disabled');
      const marker = rid('marker');
      await sdk(GLOBEX).chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'x' }] }, { headers: { 'x-request-id': id } });
      await sdk(ACME).chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'x' }] }, { headers: { 'x-request-id': marker } });
      await logged('acme', marker);
      expect((await list('globex')).some((e) => e.request_id === id)).toBe(false);
    });
  });
}
