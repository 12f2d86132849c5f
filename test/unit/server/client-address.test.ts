import { describe, expect, it } from 'vitest';
import { clientAddressResolver, parseHop } from '../../../src/server/client-address.js';
import { fixture } from '../config/helpers.js';

const xff = clientAddressResolver({ trustedProxies: ['10.0.0.0/8', '2001:db8:ffff::/48'], forwardedHeader: 'x-forwarded-for' });
const fwd = clientAddressResolver({ trustedProxies: ['10.0.0.0/8'], forwardedHeader: 'forwarded' });
const none = clientAddressResolver({ trustedProxies: [], forwardedHeader: 'x-forwarded-for' });

describe('client address: X-Forwarded-For', () => {
  it('ignores the header without trusted proxies, and from a peer that is not one', () => {
    expect(none('192.0.2.1', { 'x-forwarded-for': '203.0.113.9' })).toBe('192.0.2.1');
    expect(xff('192.0.2.1', { 'x-forwarded-for': '203.0.113.9' })).toBe('192.0.2.1');
    expect(xff('::ffff:192.0.2.1', { 'x-forwarded-for': '203.0.113.9' })).toBe('::ffff:192.0.2.1');
  });

  it('through a trusted peer: the rightmost address that is not a trusted proxy', () => {
    expect(xff('10.0.0.1', { 'x-forwarded-for': '203.0.113.9' })).toBe('203.0.113.9');
    expect(xff('::ffff:10.0.0.1', { 'x-forwarded-for': '203.0.113.9' })).toBe('203.0.113.9');
    // What the client wrote itself sits left of the address the first proxy saw: ignored.
    expect(xff('10.0.0.1', { 'x-forwarded-for': '1.1.1.1, 203.0.113.9, 10.0.0.7' })).toBe('203.0.113.9');
    expect(xff('10.0.0.1', { 'x-forwarded-for': '198.51.100.4, 2001:db8:ffff::3' })).toBe('198.51.100.4');
    // Every hop trusted: the leftmost stands.
    expect(xff('10.0.0.1', { 'x-forwarded-for': '10.0.0.9,10.0.0.8' })).toBe('10.0.0.9');
    // Repeated header lines are joined by Node; a joined array is read the same way.
    expect(xff('10.0.0.1', { 'x-forwarded-for': ['1.1.1.1', '203.0.113.9'] as unknown as string })).toBe('203.0.113.9');
  });

  it('accepts ports and brackets, and returns the plain address', () => {
    expect(xff('10.0.0.1', { 'x-forwarded-for': '203.0.113.9:51234' })).toBe('203.0.113.9');
    expect(xff('10.0.0.1', { 'x-forwarded-for': '[2001:DB8::1]:443' })).toBe('2001:db8::1');
    expect(xff('10.0.0.1', { 'x-forwarded-for': '2001:db8::1' })).toBe('2001:db8::1');
  });

  it('stops at a malformed hop: the nearest trusted proxy then stands as the client', () => {
    for (const bad of ['garbage', '', ' , ', 'unknown', '203.0.113.9 extra', '999.1.1.1', '[2001:db8::1', '<script>']) {
      expect(xff('10.0.0.1', { 'x-forwarded-for': bad })).toBe('10.0.0.1');
    }
    expect(xff('10.0.0.1', { 'x-forwarded-for': '203.0.113.9, garbage' })).toBe('10.0.0.1');
    expect(xff('10.0.0.1', { 'x-forwarded-for': 'garbage, 10.0.0.5' })).toBe('10.0.0.5');
    expect(xff('10.0.0.1', {})).toBe('10.0.0.1');
  });

  it('walks a bounded number of hops of a huge header', () => {
    const chain = Array.from({ length: 5000 }, (_, i) => `10.0.${Math.floor(i / 250) % 250}.${i % 250}`).join(', ');
    const start = performance.now();
    expect(xff('10.0.0.1', { 'x-forwarded-for': `203.0.113.9, ${chain}` })).toMatch(/^10\./);
    expect(performance.now() - start).toBeLessThan(200);
  });

  it('ignores the other header', () => {
    expect(xff('10.0.0.1', { forwarded: 'for=203.0.113.9' })).toBe('10.0.0.1');
    expect(fwd('10.0.0.1', { 'x-forwarded-for': '203.0.113.9' })).toBe('10.0.0.1');
  });
});

describe('client address: Forwarded (RFC 7239)', () => {
  it('reads for= of the rightmost untrusted element, quoted IPv6 with a port included', () => {
    expect(fwd('10.0.0.1', { forwarded: 'for=192.0.2.60;proto=http;by=203.0.113.43' })).toBe('192.0.2.60');
    expect(fwd('10.0.0.1', { forwarded: 'for="[2001:db8:cafe::17]:4711"' })).toBe('2001:db8:cafe::17');
    expect(fwd('10.0.0.1', { forwarded: 'for=1.1.1.1, For=198.51.100.7;proto=https, for=10.0.0.3' })).toBe('198.51.100.7');
    expect(fwd('10.0.0.1', { forwarded: 'proto=https;for="192.0.2.1:80";by="x,y"' })).toBe('192.0.2.1');
  });

  it('stops at "unknown", obfuscated identifiers and elements without for=', () => {
    expect(fwd('10.0.0.1', { forwarded: 'for=unknown' })).toBe('10.0.0.1');
    expect(fwd('10.0.0.1', { forwarded: 'for=_hidden' })).toBe('10.0.0.1');
    expect(fwd('10.0.0.1', { forwarded: 'for=203.0.113.9, proto=https' })).toBe('10.0.0.1');
    expect(fwd('10.0.0.1', { forwarded: 'for="unterminated' })).toBe('10.0.0.1');
    expect(fwd('192.0.2.200', { forwarded: 'for=203.0.113.9' })).toBe('192.0.2.200');
  });
});

describe('parseHop', () => {
  it.each([
    ['192.0.2.1', '192.0.2.1'],
    [' "192.0.2.1:80" ', '192.0.2.1'],
    ['[::1]', '::1'],
    ['fe80::1%eth0', 'fe80::1'],
    ['::ffff:192.0.2.1', '::ffff:192.0.2.1'],
    ['[::1]:99999999', undefined],
    ['example.com', undefined],
    ['', undefined],
  ])('%j → %j', (raw, want) => {
    expect(parseHop(raw)).toBe(want);
  });
});

describe('configuration', () => {
  it('accepts CIDR blocks and the header choice, and names a bad block', async () => {
    const ok = await fixture('server:\n  trustedProxies: [10.0.0.0/8, "2001:db8::/32"]\n  forwardedHeader: forwarded\n');
    expect((await ok.load()).server).toMatchObject({ trustedProxies: ['10.0.0.0/8', '2001:db8::/32'], forwardedHeader: 'forwarded' });
    const bad = await fixture('server:\n  trustedProxies: [10.0.0.1/8, nope]\n  forwardedHeader: x-real-ip\n');
    const lines = await bad.fail();
    expect(lines).toHaveLength(3);
    expect(lines[0]).toContain('server.trustedProxies[0]');
    expect(lines[0]).toContain('host bits');
    expect(lines[1]).toContain('server.trustedProxies[1]');
    expect(lines[2]).toContain('server.forwardedHeader');
  });
});
