import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Pool } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  addressProblem,
  checkOutboundUrl,
  compileOutboundPolicy,
  guardedLookup,
  outboundGuard,
  urlProblem,
  type Resolver,
} from '../../../src/routing/ssrf.js';

const deny = compileOutboundPolicy();

describe('addressProblem', () => {
  it.each([
    ['127.0.0.1', 'loopback'],
    ['127.255.255.254', 'loopback'],
    ['10.1.2.3', 'private'],
    ['172.16.0.1', 'private'],
    ['172.31.255.255', 'private'],
    ['192.168.1.1', 'private'],
    ['169.254.169.254', 'link_local'],
    ['169.254.0.1', 'link_local'],
    ['100.64.0.1', 'cgnat'],
    ['100.127.255.255', 'cgnat'],
    ['0.0.0.0', 'unspecified'],
    ['224.0.0.1', 'multicast'],
    ['239.255.255.250', 'multicast'],
    ['255.255.255.255', 'reserved'],
    ['::1', 'loopback'],
    ['::', 'unspecified'],
    ['fc00::1', 'private'],
    ['fd12:3456::1', 'private'],
    ['fe80::1', 'link_local'],
    ['febf::1', 'link_local'],
    ['ff02::1', 'multicast'],
    ['::ffff:127.0.0.1', 'loopback'],
    ['::ffff:7f00:1', 'loopback'],
    ['::ffff:169.254.169.254', 'link_local'],
    ['::ffff:a9fe:a9fe', 'link_local'],
    ['::ffff:10.0.0.1', 'private'],
    ['::ffff:100.64.0.1', 'cgnat'],
    ['::127.0.0.1', 'loopback'],
    ['64:ff9b::a9fe:a9fe', 'link_local'],
  ])('refuses %s as %s', (address, rule) => {
    expect(addressProblem(address, deny)?.rule).toBe(rule);
  });

  it.each(['93.184.216.34', '8.8.8.8', '172.32.0.1', '100.128.0.1', '2606:4700::1111', '::ffff:8.8.8.8', '192.169.0.1'])('allows public %s', (a) => {
    expect(addressProblem(a, deny)).toBeUndefined();
  });

  it('honours the operator allow-list (CIDRs, mapped forms included) and allowPrivate', () => {
    const cidrs = compileOutboundPolicy({ allowPrivate: false, allowHosts: [], allowCidrs: ['10.20.0.0/16', 'fd00::/8'] });
    expect(addressProblem('10.20.1.1', cidrs)).toBeUndefined();
    expect(addressProblem('::ffff:10.20.1.1', cidrs)).toBeUndefined();
    expect(addressProblem('fd00::5', cidrs)).toBeUndefined();
    expect(addressProblem('10.21.1.1', cidrs)?.rule).toBe('private');
    expect(addressProblem('127.0.0.1', cidrs)?.rule).toBe('loopback');
    const open = compileOutboundPolicy({ allowPrivate: true, allowHosts: [], allowCidrs: [] });
    expect(addressProblem('127.0.0.1', open)).toBeUndefined();
    expect(addressProblem('::ffff:169.254.169.254', open)).toBeUndefined();
  });
});

describe('urlProblem (save time, no DNS)', () => {
  it.each([
    ['file:///etc/passwd', 'scheme'],
    ['gopher://example.com/', 'scheme'],
    ['ftp://example.com/', 'scheme'],
    ['https://user:pw@api.example.com/', 'credentials'],
    ['https://user@api.example.com/', 'credentials'],
    ['not a url', 'invalid_url'],
    ['http://localhost:8080/', 'local_name'],
    ['http://LOCALHOST./', 'local_name'],
    ['http://api.localhost/', 'local_name'],
    ['http://metadata.google.internal/computeMetadata/v1/', 'local_name'],
    ['http://foo.internal/', 'local_name'],
    ['http://127.0.0.1:9/', 'loopback'],
    ['http://2130706433/', 'loopback'],
    ['http://0x7f.1/', 'loopback'],
    ['http://169.254.169.254/latest/meta-data', 'link_local'],
    ['http://[::1]/', 'loopback'],
    ['http://[::ffff:127.0.0.1]/', 'loopback'],
    ['http://[::ffff:a9fe:a9fe]/', 'link_local'],
    ['http://[fe80::1]/', 'link_local'],
    ['http://[fd00::1]/', 'private'],
    ['http://0.0.0.0/', 'unspecified'],
    ['http://100.100.100.200/', 'cgnat'],
  ])('refuses %s (%s)', (url, rule) => {
    expect(urlProblem(url, deny)?.rule).toBe(rule);
  });

  it('accepts public URLs, and hosts the operator allows', () => {
    expect(urlProblem('https://api.openai.com/v1', deny)).toBeUndefined();
    expect(urlProblem('http://[2606:4700::1111]/v1', deny)).toBeUndefined();
    const hosts = compileOutboundPolicy({ allowPrivate: false, allowHosts: ['llm.corp.internal', '127.0.0.1'], allowCidrs: [] });
    expect(urlProblem('http://llm.corp.internal/v1', hosts)).toBeUndefined();
    expect(urlProblem('http://127.0.0.1:8000/v1', hosts)).toBeUndefined();
    expect(urlProblem('http://other.internal/v1', hosts)?.rule).toBe('local_name');
  });
});

describe('checkOutboundUrl (save time, with DNS)', () => {
  const resolver = (table: Record<string, string[]>): Resolver => async (host) => {
    const found = table[host];
    if (found === undefined) throw Object.assign(new Error('ENOTFOUND'), { code: 'ENOTFOUND' });
    return found;
  };

  it('refuses a name any of whose addresses is refused, naming the rule', async () => {
    const r = resolver({ 'evil.example.com': ['93.184.216.34', '10.0.0.7'], 'meta.example.com': ['::ffff:169.254.169.254'] });
    const p = await checkOutboundUrl('https://evil.example.com/v1', deny, r);
    expect(p?.rule).toBe('private');
    expect(p?.message).toContain('evil.example.com resolves to it');
    expect((await checkOutboundUrl('https://meta.example.com/', deny, r))?.rule).toBe('link_local');
  });

  it('accepts public names and names that do not resolve (the connect-time check decides)', async () => {
    const r = resolver({ 'api.example.com': ['93.184.216.34', '2606:2800:220:1::1'] });
    expect(await checkOutboundUrl('https://api.example.com/v1', deny, r)).toBeUndefined();
    expect(await checkOutboundUrl('https://nowhere.example.com/v1', deny, r)).toBeUndefined();
  });
});

describe('connect-time pin (DNS rebinding)', () => {
  let server: Server;
  let port = 0;
  let hits = 0;
  beforeAll(async () => {
    server = createServer((_req, res) => {
      hits += 1;
      res.end('reached');
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    port = (server.address() as AddressInfo).port;
  });
  afterAll(async () => {
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });

  async function get(host: string, lookup: ReturnType<typeof guardedLookup>): Promise<string> {
    const pool = new Pool(`http://${host}:${port}`, { connect: { timeout: 2000, lookup } });
    try {
      const res = await pool.request({ method: 'GET', path: '/' });
      return await res.body.text();
    } finally {
      await pool.destroy();
    }
  }

  it('refuses a name that was public at save and is private at connect; nothing reaches the server', async () => {
    let answer = '93.184.216.34';
    const rebinding: Resolver = async () => [answer];
    expect(await checkOutboundUrl(`http://rebind.example.com:${port}/`, deny, rebinding)).toBeUndefined();
    answer = '127.0.0.1';
    const before = hits;
    await expect(get('rebind.example.com', guardedLookup(deny, rebinding))).rejects.toThrow(/loopback/);
    expect(hits).toBe(before);
  });

  it('refuses when one of several addresses is private (no racing to the bad one)', async () => {
    const mixed: Resolver = async () => ['93.184.216.34', '127.0.0.1'];
    await expect(get('mixed.example.com', guardedLookup(deny, mixed))).rejects.toThrow(/loopback/);
  });

  it('connects to the checked address, when allowed, through the injected resolver (not system DNS)', async () => {
    const allowed = compileOutboundPolicy({ allowPrivate: false, allowHosts: [], allowCidrs: ['127.0.0.0/8'] });
    const pinned: Resolver = async () => ['127.0.0.1'];
    expect(await get('model.tenant.test', guardedLookup(allowed, pinned))).toBe('reached');
  });

  it('refuses local names before resolving, and IP literals through refuses()', async () => {
    let asked = 0;
    const counting: Resolver = async () => {
      asked += 1;
      return ['93.184.216.34'];
    };
    await expect(get('localhost', guardedLookup(deny, counting))).rejects.toThrow(/local host/);
    expect(asked).toBe(0);
    const guard = outboundGuard(deny, counting);
    expect(guard.refuses(`http://127.0.0.1:${port}/v1`)).toMatch(/loopback/);
    expect(guard.refuses('https://api.example.com/v1')).toBeUndefined();
  });
});
