/** Host-name and CIDR syntax checks used by the admin API's validation. */
import { describe, expect, it } from 'vitest';
import { cidrProblem, hostNameProblem } from '../../../src/admin/schemas/net.js';

describe('cidrProblem', () => {
  it.each(['10.0.0.0/8', '10.0.0.1/32', '0.0.0.0/0', '2001:db8::/32', '::/0', '::1/128', '::ffff:192.0.2.0/120', '1::/16', '1:2::/32', '2001:db8:0:0:0:0:0:0/128'])(
    'accepts %s',
    (cidr) => expect(cidrProblem(cidr)).toBeUndefined(),
  );

  it.each([
    ['10.0.0.1/8', /host bits/],
    ['2001:db8::1/32', /host bits/],
    ['::ffff:192.0.2.1/120', /host bits/],
    ['1.2.3.4', /address\/prefix/],
    ['1.2.3.4/33', /over 32/],
    ['::/129', /over 128/],
    ['garbage/8', /IPv4 or IPv6/],
    ['fe80::/64%eth0', /prefix/],
    ['fe80::1%eth0/64', /IPv4 or IPv6/],
    ['10.0.0.0/-1', /prefix/],
    ['10.0.0.0/', /prefix/],
    ['010.0.0.0/8', /IPv4 or IPv6/],
  ])('refuses %s', (cidr, why) => expect(cidrProblem(cidr)).toMatch(why));
});

describe('hostNameProblem', () => {
  it.each(['ai.acme.test', 'xn--bcher-kva.example', 'a-b.c-d.example'])('accepts %s', (h) => expect(hostNameProblem(h)).toBeUndefined());

  it.each([
    ['localhost', /two labels/],
    ['1.2.3.4', /IP address/],
    ['-a.com', /label/],
    ['a-.com', /label/],
    ['A.com', /lower case/],
    ['a..com', /label/],
    ['a.123', /numeric/],
    ['ai.acme.test.', /label/],
    ['ai.acme.test:8080', /label/],
    ['x'.repeat(64) + '.com', /label/],
    ['', /1 to 253/],
  ])('refuses %j', (h, why) => expect(hostNameProblem(h)).toMatch(why));
});
