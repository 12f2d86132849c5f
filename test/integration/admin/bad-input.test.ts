/**
 * Hostile and broken input to the admin API (issue 4, "Bad input"): each gets a clear 4xx in the
 * error envelope and the store stays as it was.
 */
import net from 'node:net';
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TestGateway } from '../../helpers/gateway.js';
import { seedResources, type TenantFixtures } from './fixtures.js';
import { BOOTSTRAP_KEY, client, envelope, etag, makeTenant, startAdminGateway, str, type Client } from './helpers.js';
import { fill, MATRIX, resourceParams } from './matrix.js';

let gw: TestGateway;
let platform: Client;
let admin: Client;
let adminKey: string;
let fx: TenantFixtures;
let base: string;

beforeAll(async () => {
  gw = await startAdminGateway();
  platform = client(gw, BOOTSTRAP_KEY);
  const t = await makeTenant(platform, 'bad');
  adminKey = t.admin;
  admin = client(gw, t.admin);
  fx = await seedResources(admin, t.id, t.slug);
  base = `/tenants/${t.id}`;
});
afterAll(async () => {
  await gw?.stop();
});

describe('ids', () => {
  const withIds = MATRIX.filter((e) => resourceParams(e.path).some((p) => p !== 'domain'));
  it.each(withIds.map((e) => [`${e.method} ${e.path}`, e] as const))('%s: a malformed id is the same 404 as an unknown one', async (_l, e) => {
    const c = e.path.startsWith('/tenants/') ? admin : platform;
    for (const bad of ['not-a-uuid', '12345', "1' OR '1'='1", 'ÄÖÜ', `${randomUUID()}x`]) {
      // Every id of the fixtures but the tenant's own and the domain (a host name, checked below).
      const ids = Object.keys(fx).filter((k) => k !== 'tenant' && k !== 'slug' && k !== 'domain');
      const path = fill(e.path, { ...fx, ...Object.fromEntries(ids.map((k) => [k, bad])) });
      const unknown = fill(e.path, { ...fx, ...Object.fromEntries(ids.map((k) => [k, randomUUID()])) });
      const headers: Record<string, string> = e.ifMatch === true ? { 'if-match': '*' } : {};
      const body = e.body?.(fx);
      const r = await c(e.method, path, body === undefined ? { headers } : { body, headers });
      const u = await c(e.method, unknown, body === undefined ? { headers } : { body, headers });
      envelope(r, 404, 'not_found');
      expect(r.json).toEqual(u.json);
    }
  });

  it('a tenant reference that is neither an id nor a slug of anyone is a 404; broken percent-encoding a 400', async () => {
    for (const ref of ['NOT_A_SLUG', 'x'.repeat(200), '00000000-0000-0000-0000-000000000000']) {
      envelope(await platform('GET', `/tenants/${encodeURIComponent(ref)}`), 404, 'not_found');
    }
    envelope(await platform('GET', '/tenants/%E0%A4%A'), 400, 'invalid_request');
  });

  it('unknown routes, trailing slashes and wrong methods', async () => {
    envelope(await platform('GET', '/nope'), 404, 'not_found');
    envelope(await platform('GET', '/tenants/'), 404, 'not_found');
    const r = await platform('PUT', '/tenants');
    envelope(r, 405, 'method_not_allowed');
    expect(r.headers.allow).toBe('GET, POST');
  });
});

describe('values', () => {
  it.each([
    ['an uppercase slug', { slug: 'Acme', name: 'x' }, 'slug'],
    ['a slug with underscores', { slug: 'a_b', name: 'x' }, 'slug'],
    ['a slug ending in a dash', { slug: 'acme-', name: 'x' }, 'slug'],
    ['a 64-character slug', { slug: 'a'.repeat(64), name: 'x' }, 'slug'],
    ['a UUID-shaped slug', { slug: randomUUID(), name: 'x' }, 'slug'],
    ['an empty name', { slug: 'ok-slug', name: '' }, 'name'],
    ['a name with control characters', { slug: 'ok-slug', name: 'a\u0000b' }, 'name'],
    ['an unknown time zone', { slug: 'ok-slug', name: 'x', time_zone: 'Mars/Olympus' }, 'time_zone'],
    ['a negative limit', { slug: 'ok-slug', name: 'x', limits: [{ id: 'rpm', metric: 'requests', window: 'minute', limit: -1 }] }, 'limits.0.limit'],
    ['a fractional limit', { slug: 'ok-slug', name: 'x', limits: [{ id: 'tpd', metric: 'tokens', window: 'day', limit: 1.5 }] }, 'limits.0.limit'],
    ['an unknown plan', { slug: 'ok-slug', name: 'x', plan: 'gold' }, 'plan'],
    ['an unknown field', { slug: 'ok-slug', name: 'x', tier: 'gold' }, null],
    ['duplicate models', { slug: 'ok-slug', name: 'x', allowed_models: ['a', 'a'] }, 'allowed_models'],
  ])('tenants: refuses %s', async (_n, body, param) => {
    const r = await platform('POST', '/tenants', { body });
    expect(envelope(r, 400, 'invalid_request').param).toBe(param);
    expect((await platform('GET', '/tenants?limit=200')).json.data).not.toContainEqual(expect.objectContaining({ slug: 'ok-slug' }));
  });

  it.each(['localhost', '1.2.3.4', '[::1]', 'a..example.com', 'http://ai.example.com', 'ai.example.com:8443', 'ai.example.com/path', '-x.example.com', 'x'.repeat(64) + '.com', 'ai.example.123', 'ai.example.com.'])(
    'domains: refuses %j',
    async (domain) => {
      const r = await admin('POST', `${base}/domains`, { body: { domain } });
      expect(envelope(r, 400, 'invalid_request').param).toBe('domain');
    },
  );

  it('domains: lower-cases; a second claim in one tenant is a 409, another tenant\'s pending claim blocks nobody', async () => {
    const r = await admin('POST', `${base}/domains`, { body: { domain: 'MiXeD.Example.COM' } });
    expect(r.json.domain).toBe('mixed.example.com');
    expect(r.json.status).toBe('pending');
    envelope(await admin('POST', `${base}/domains`, { body: { domain: 'mixed.example.com' } }), 409, 'conflict');
    const other = await makeTenant(platform, 'bad-other');
    const theirs = await client(gw, other.admin)('POST', `/tenants/${other.id}/domains`, { body: { domain: 'mixed.example.com' } });
    expect(theirs.status, theirs.text).toBe(201);
    expect(theirs.json.status).toBe('pending');
  });

  it.each([
    ['a host address with a prefix', '10.0.0.1/8', /host bits/],
    ['no prefix', '10.0.0.0', /address\/prefix/],
    ['a v4 prefix over 32', '10.0.0.0/33', /over 32/],
    ['a v6 prefix over 128', '2001:db8::/129', /over 128/],
    ['a v6 host with prefix', '2001:db8::1/64', /host bits/],
    ['a zone id', 'fe80::1%eth0/64', /IPv4 or IPv6/],
    ['garbage', 'not-a-network/8', /IPv4 or IPv6/],
  ])('CIDR allow-lists: refuses %s', async (_n, cidr, why) => {
    const r = await admin('POST', `${base}/api-keys`, { body: { name: 'cidr', allowed_cidrs: [cidr] } });
    const e = envelope(r, 400, 'invalid_request');
    expect(e.param).toBe('allowed_cidrs.0');
    expect(e.message).toMatch(why);
  });

  it('CIDR allow-lists: valid v4 and v6 lists are stored and enforced on the data plane; duplicates refused; none is fine', async () => {
    const far = await admin('POST', `${base}/api-keys`, { body: { name: 'cidr-far', allowed_cidrs: ['203.0.113.0/24', '2001:db8::/32'] } });
    expect(far.status).toBe(201);
    expect(far.json.allowed_cidrs).toEqual(['203.0.113.0/24', '2001:db8::/32']);
    const near = await admin('POST', `${base}/api-keys`, { body: { name: 'cidr-near', allowed_cidrs: ['127.0.0.0/8', '::1/128'] } });
    expect(near.status).toBe(201);
    const models = async (key: unknown) => {
      const res = await fetch(`${gw.url}/v1/models`, { headers: { authorization: `Bearer ${str(key)}` } });
      return { status: res.status, body: (await res.json()) as { error?: { code: string } } };
    };
    // The test client connects from loopback: outside the first list, inside the second.
    const refused = await models(far.json.key);
    expect(refused.status).toBe(403);
    expect(refused.body.error?.code).toBe('ip_not_allowed');
    expect((await models(near.json.key)).status).toBe(200);
    envelope(await admin('POST', `${base}/api-keys`, { body: { name: 'cidr', allowed_cidrs: ['10.0.0.0/8', '10.0.0.0/8'] } }), 400, 'invalid_request');
    const ok = await admin('POST', `${base}/api-keys`, { body: { name: 'open', allowed_cidrs: null } });
    expect(ok.status).toBe(201);
    expect(ok.json.allowed_cidrs).toBeNull();
  });

  it.each([
    ['an unknown rule type', { rules: [{ type: 'eval', code: 'process.exit()' }] }],
    ['no rules', { rules: [] }],
    ['a rule with an extra field', { rules: [{ type: 'max_tokens', max: 10, regex: '.*' }] }],
    ['a huge max', { rules: [{ type: 'max_tokens', max: 1e12 }] }],
    ['too many terms', { rules: [{ type: 'block_terms', terms: Array.from({ length: 201 }, (_, i) => `t${i}`) }] }],
  ])('policies: refuses %s', async (_n, document) => {
    envelope(await admin('POST', `${base}/policies`, { body: { name: 'bad-policy', document } }), 400, 'invalid_request');
  });

  it('refuses expiry times in the past or without an offset', async () => {
    for (const expires_at of ['2001-01-01T00:00:00Z', '2099-01-01T00:00:00', 'tomorrow', '2099-13-01T00:00:00Z']) {
      envelope(await admin('POST', `${base}/api-keys`, { body: { name: 'exp', expires_at } }), 400, 'invalid_request');
    }
  });
});

describe('bodies, queries and headers', () => {
  it('malformed JSON, non-objects, wrong media types and invalid UTF-8', async () => {
    const post = (raw: string | Buffer, type = 'application/json') => admin('POST', `${base}/teams`, { raw, headers: { 'content-type': type } });
    envelope(await post('{"slug":'), 400, 'invalid_json');
    envelope(await post('[]'), 400, 'invalid_json');
    envelope(await post('null'), 400, 'invalid_json');
    envelope(await post(''), 400, 'invalid_json');
    envelope(await post('slug=x', 'application/x-www-form-urlencoded'), 415, 'unsupported_media_type');
    envelope(await post(Buffer.from([0x7b, 0x22, 0xc3, 0x28, 0x22, 0x3a, 0x31, 0x7d])), 400, 'invalid_utf8');
  });

  it('oversized bodies: 413, declared or streamed', async () => {
    const big = JSON.stringify({ slug: 'big', name: 'x'.repeat(200_000) });
    envelope(await admin('POST', `${base}/teams`, { raw: big, headers: { 'content-type': 'application/json' } }), 413, 'payload_too_large');
    const streamed = await new Promise<string>((resolve, reject) => {
      const socket = net.connect(Number(new URL(gw.url).port), '127.0.0.1');
      let out = '';
      socket.on('data', (d) => (out += d.toString('utf8')));
      socket.on('close', () => resolve(out));
      socket.on('error', reject);
      const chunk = 'x'.repeat(16_384);
      socket.write(
        `POST /admin/v1${base}/teams HTTP/1.1\r\nhost: x\r\nauthorization: Bearer ${adminKey}\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\nconnection: close\r\n\r\n`,
      );
      for (let i = 0; i < 10; i++) socket.write(`${chunk.length.toString(16)}\r\n${chunk}\r\n`);
      socket.end('0\r\n\r\n');
    });
    expect(streamed).toMatch(/^HTTP\/1\.1 413 /);
    expect(streamed).toContain('"code":"payload_too_large"');
    expect((await admin('GET', `${base}/teams`)).json.data).toHaveLength(1);
  });

  it('unknown, repeated and invalid query parameters; forged cursors', async () => {
    envelope(await admin('GET', `${base}/teams?colour=blue`), 400, 'invalid_request');
    envelope(await admin('GET', `${base}/teams?limit=1&limit=2`), 400, 'invalid_request');
    for (const limit of ['0', '201', 'ten', '-1', '1.5']) expect(envelope(await admin('GET', `${base}/teams?limit=${limit}`), 400).param).toBe('limit');
    expect(envelope(await admin('GET', `${base}/teams?cursor=garbage`), 400).param).toBe('cursor');
    const page = await admin('GET', `${base}/users?limit=1`);
    await admin('POST', `${base}/users`, { body: { email: 'second@bad.example.com' } });
    const next = str((await admin('GET', `${base}/users?limit=1`)).json.next_cursor);
    expect(page.status).toBe(200);
    expect(envelope(await admin('GET', `${base}/teams?cursor=${next}`), 400).param).toBe('cursor');
    const forged = Buffer.from(JSON.stringify({ l: 'api-keys', a: "' OR 1=1 --" })).toString('base64url');
    expect(envelope(await admin('GET', `${base}/api-keys?cursor=${forged}`), 400).param).toBe('cursor');
  });

  it('values the store cannot hold (NUL, a lone surrogate, bytes past an index row) are a 400, never a 500', async () => {
    const refused = async (r: Awaited<ReturnType<Client>>) => envelope(r, 400, 'invalid_request');
    await refused(await admin('GET', `${base}/logs?model=%00`));
    await refused(await admin('GET', `${base}/audit?actor_id=%00`));
    envelope(await admin('GET', `/tenants/%00/teams`), 404, 'not_found'); // a reference to no one, as above
    const nulCursor = Buffer.from(JSON.stringify({ l: 'teams', a: 'a\u0000' })).toString('base64url');
    await refused(await admin('GET', `${base}/teams?cursor=${nulCursor}`));
    await refused(await admin('POST', `${base}/policies`, { body: { name: 'nul-terms', document: { rules: [{ type: 'block_terms', terms: ['a\u0000b'] }] } } }));
    // 2,048 characters pass the length check; 6 KB of UTF-8 does not fit a btree index row
    // (random characters: a repeated one compresses to nothing).
    const cjk = Array.from({ length: 2000 }, () => String.fromCharCode(0x4e00 + Math.floor(Math.random() * 20_000))).join('');
    const issuer = `https://idp.example.com/${cjk}`;
    await refused(await admin('POST', `${base}/jwt-issuers`, { body: { issuer, jwks_url: 'https://idp.example.com/jwks.json' } }));
    expect((await admin('GET', `${base}/policies`)).json.data).not.toContainEqual(expect.objectContaining({ name: 'nul-terms' }));
  });

  it('malformed If-Match and Idempotency-Key headers; a body where none is taken', async () => {
    const team = await admin('GET', `${base}/teams/${fx.team}`);
    expect(envelope(await admin('PATCH', `${base}/teams/${fx.team}`, { body: { name: 'x' }, headers: { 'if-match': 'v1' } }), 400).param).toBe('If-Match');
    expect((await admin('GET', `${base}/teams/${fx.team}`)).json.name).toBe(team.json.name);
    expect(envelope(await admin('POST', `${base}/teams`, { body: { slug: 'idem' }, headers: { 'idempotency-key': 'has space' } }), 400).param).toBe('Idempotency-Key');
    envelope(await admin('POST', `${base}/api-keys/${fx.api_key}/revoke`, { body: { now: true } }), 400, 'invalid_request');
    expect((await admin('GET', `${base}/api-keys/${fx.api_key}`)).json.status).toBe('active');
  });
});

describe('duplicates and races', () => {
  it.each([
    ['team', '/teams', { slug: 'dupe' }, 'slug'],
    ['user', '/users', { email: 'dupe@bad.example.com' }, 'email'],
    ['service account', '/service-accounts', { name: 'dupe' }, 'name'],
    ['policy', '/policies', { name: 'dupe', document: { rules: [{ type: 'max_tokens', max: 5 }] } }, 'name'],
  ])('a second %s with the same name is a 409, and there is still one', async (_n, path, body, param) => {
    expect((await admin('POST', `${base}${path}`, { body })).status).toBe(201);
    expect(envelope(await admin('POST', `${base}${path}`, { body }), 409, 'conflict').param).toBe(param);
    const list = await admin('GET', `${base}${path}?limit=200`);
    const key = Object.keys(body)[0] ?? '';
    const value = (body as Record<string, unknown>)[key];
    expect((list.json.data as Record<string, unknown>[]).filter((x) => x[key] === value)).toHaveLength(1);
  });

  it('a user email differing only in case is the same user', async () => {
    envelope(await admin('POST', `${base}/users`, { body: { email: 'DUPE@bad.example.com' } }), 409, 'conflict');
  });

  it('concurrent creations of one name: one 201, the rest 409', async () => {
    const replies = await Promise.all(Array.from({ length: 6 }, () => admin('POST', `${base}/teams`, { body: { slug: 'racer' } })));
    expect(replies.map((r) => r.status).sort()).toEqual([201, 409, 409, 409, 409, 409]);
    for (const r of replies.filter((x) => x.status === 409)) envelope(r, 409, 'conflict');
  });

  it('concurrent updates of a policy holding one ETag: one wins, the rest 412, the winner is what is stored', async () => {
    const p = await admin('GET', `${base}/policies/${fx.policy}`);
    const replies = await Promise.all(
      [1, 2, 3, 4].map((n) =>
        admin('PATCH', `${base}/policies/${fx.policy}`, { body: { document: { rules: [{ type: 'max_tokens', max: n }] } }, headers: { 'if-match': etag(p) } }),
      ),
    );
    expect(replies.map((r) => r.status).sort()).toEqual([200, 412, 412, 412]);
    const winner = replies.find((r) => r.status === 200);
    expect((await admin('GET', `${base}/policies/${fx.policy}`)).json.document).toEqual(winner?.json.document);
  });

  it('a team with keys cannot be deleted; renaming onto a taken slug is a 409', async () => {
    const team = await admin('GET', `${base}/teams/${fx.team}`);
    envelope(await admin('DELETE', `${base}/teams/${fx.team}`, { headers: { 'if-match': etag(team) } }), 409, 'conflict');
    envelope(await admin('PATCH', `${base}/teams/${fx.team}`, { body: { slug: 'dupe' }, headers: { 'if-match': etag(team) } }), 409, 'conflict');
    expect((await admin('GET', `${base}/teams/${fx.team}`)).json).toMatchObject({ slug: 'core' });
  });
});
