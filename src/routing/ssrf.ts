/**
 * Outbound addresses set by tenants (dedicated deployment base URLs, provider credential base
 * URLs, webhook URLs) must never reach the gateway's own network (DESIGN §6, §12 "SSRF"): not
 * loopback, private, link-local (cloud metadata at 169.254.169.254), CGNAT, unspecified or
 * multicast addresses, in IPv4, IPv6 or IPv4-mapped IPv6 form, nor local-only names.
 *
 * Checked twice: when a URL is saved (the admin API's clear 400, naming the rule) and when a
 * connection is made (guardedLookup): the name is resolved, EVERY address checked, and the socket
 * connects to the address that was checked, so a name that resolved public at save and private
 * at connect (DNS rebinding) is refused. Operator-configured deployments (YAML) are trusted and
 * not checked. The operator may open holes with security.outbound (allowPrivate, allowHosts,
 * allowCidrs), e.g. for a self-hosted model server on the private network, or tests' mocks.
 */
import { lookup as dnsLookup } from 'node:dns';
import { BlockList, isIP, isIPv4, type LookupFunction } from 'node:net';
import type { OutboundGuard } from '../providers/types.js';
import { ipv6Bytes } from './ip.js';

/** The rule an address or URL broke; stable words, named in the admin API's 400. */
export type SsrfRule =
  | 'scheme'
  | 'credentials'
  | 'invalid_url'
  | 'local_name'
  | 'loopback'
  | 'private'
  | 'link_local'
  | 'cgnat'
  | 'unspecified'
  | 'multicast'
  | 'reserved'
  | 'unresolvable';

export interface SsrfProblem {
  rule: SsrfRule;
  message: string;
}

/** Operator exceptions (config `security.outbound`). */
export interface OutboundPolicyConfig {
  /** Allow every non-public address class (loopback, private, link-local, ...). */
  allowPrivate: boolean;
  /** Host names (exact, lower case) allowed whatever they resolve to. */
  allowHosts: readonly string[];
  /** Address blocks allowed even though their class is refused. */
  allowCidrs: readonly string[];
}

export interface OutboundPolicy {
  readonly allowPrivate: boolean;
  readonly allowHosts: ReadonlySet<string>;
  readonly allowCidrs: BlockList;
}

/** Resolves a host name to every address (as dns.lookup with all: true). Injected in tests. */
export type Resolver = (host: string) => Promise<readonly string[]>;

export const DEFAULT_OUTBOUND: OutboundPolicyConfig = { allowPrivate: false, allowHosts: [], allowCidrs: [] };

export function compileOutboundPolicy(config: OutboundPolicyConfig = DEFAULT_OUTBOUND): OutboundPolicy {
  const allowCidrs = new BlockList();
  for (const cidr of config.allowCidrs) {
    const [net = '', bits] = cidr.split('/');
    const family = isIPv4(net) ? 'ipv4' : 'ipv6';
    allowCidrs.addSubnet(net, Number(bits ?? (family === 'ipv4' ? 32 : 128)), family);
  }
  return { allowPrivate: config.allowPrivate, allowHosts: new Set(config.allowHosts.map((h) => h.toLowerCase())), allowCidrs };
}

/** Each refused class, as blocks; checked in order, so the first match names the rule. */
const V4_BLOCKS: readonly [string, number, SsrfRule][] = [
  ['0.0.0.0', 8, 'unspecified'],
  ['127.0.0.0', 8, 'loopback'],
  ['10.0.0.0', 8, 'private'],
  ['172.16.0.0', 12, 'private'],
  ['192.168.0.0', 16, 'private'],
  ['169.254.0.0', 16, 'link_local'],
  ['100.64.0.0', 10, 'cgnat'],
  ['192.0.0.0', 24, 'reserved'],
  ['198.18.0.0', 15, 'reserved'],
  ['224.0.0.0', 4, 'multicast'],
  ['240.0.0.0', 4, 'reserved'],
];
const V6_BLOCKS: readonly [string, number, SsrfRule][] = [
  ['::', 128, 'unspecified'],
  ['::1', 128, 'loopback'],
  ['fc00::', 7, 'private'],
  ['fe80::', 10, 'link_local'],
  ['fec0::', 10, 'private'],
  ['ff00::', 8, 'multicast'],
  ['64:ff9b:1::', 48, 'private'],
  ['100::', 64, 'reserved'],
];

const classes: { rule: SsrfRule; list: BlockList }[] = [];
function classOf(address: string, family: 'ipv4' | 'ipv6'): SsrfRule | undefined {
  if (classes.length === 0) {
    for (const [net, bits, rule] of [...V4_BLOCKS, ...V6_BLOCKS]) {
      const list = new BlockList();
      list.addSubnet(net, bits, isIPv4(net) ? 'ipv4' : 'ipv6');
      classes.push({ rule, list });
    }
  }
  for (const c of classes) if (c.list.check(address, family)) return c.rule;
  return undefined;
}

/**
 * The IPv4 address an IPv6 address stands for, when it embeds one that reaches the same host:
 * IPv4-mapped (::ffff:a.b.c.d, also written ::ffff:7f00:1), IPv4-compatible (::a.b.c.d,
 * deprecated but still routed by some stacks) and NAT64 (64:ff9b::/96).
 */
function embeddedV4(address: string): string | undefined {
  const bytes = ipv6Bytes(address);
  if (bytes === undefined) return undefined;
  const zeros10 = bytes.slice(0, 10).every((b) => b === 0);
  const mapped = zeros10 && bytes[10] === 0xff && bytes[11] === 0xff;
  const compatible = zeros10 && bytes[10] === 0 && bytes[11] === 0 && bytes.slice(12).some((b, i) => (i < 3 ? b !== 0 : b > 1));
  const nat64 = bytes[0] === 0 && bytes[1] === 0x64 && bytes[2] === 0xff && bytes[3] === 0x9b && bytes.slice(4, 12).every((b) => b === 0);
  if (!mapped && !compatible && !nat64) return undefined;
  return bytes.slice(12).join('.');
}

const RULE_TEXT: Record<SsrfRule, string> = {
  scheme: 'must use http or https',
  credentials: 'must not contain credentials (user:password@)',
  invalid_url: 'is not a valid absolute URL',
  local_name: 'must not name a local host (localhost, *.localhost, *.internal, metadata)',
  loopback: 'must not point at a loopback address',
  private: 'must not point at a private address (RFC 1918, ULA)',
  link_local: 'must not point at a link-local address (incl. cloud metadata 169.254.169.254)',
  cgnat: 'must not point at a carrier-grade NAT address (100.64.0.0/10)',
  unspecified: 'must not point at an unspecified address (0.0.0.0, ::)',
  multicast: 'must not point at a multicast address',
  reserved: 'must not point at a reserved address',
  unresolvable: 'names a host that does not resolve',
};

export function problem(rule: SsrfRule, detail?: string): SsrfProblem {
  return { rule, message: detail === undefined ? RULE_TEXT[rule] : `${RULE_TEXT[rule]} (${detail})` };
}

/** Why `address` (an IP literal, v4 or v6, no brackets or zone) may not be called; undefined if it may. */
export function addressProblem(address: string, policy: OutboundPolicy): SsrfProblem | undefined {
  const version = isIP(address);
  if (version === 0) return problem('invalid_url', `not an IP address: ${address}`);
  const family = version === 4 ? 'ipv4' : 'ipv6';
  if (policy.allowCidrs.check(address, family)) return undefined;
  const v4 = version === 6 ? embeddedV4(address) : undefined;
  if (v4 !== undefined) {
    // The mapped form is judged as the IPv4 address it reaches.
    if (policy.allowCidrs.check(v4, 'ipv4')) return undefined;
    const rule = classOf(v4, 'ipv4');
    return rule === undefined || policy.allowPrivate ? undefined : problem(rule, `${address} is ${v4}`);
  }
  const rule = classOf(address, family);
  return rule === undefined || policy.allowPrivate ? undefined : problem(rule, address);
}

const LOCAL_NAMES = /^(localhost|.*\.localhost|.*\.internal|.*\.local|metadata|instance-data|localhost\.localdomain)$/;

/** Why a host name may not be called, before resolving it. */
export function hostNameProblem(host: string, policy: OutboundPolicy): SsrfProblem | undefined {
  const h = host.toLowerCase().replace(/\.$/, '');
  if (policy.allowHosts.has(h) || policy.allowPrivate) return undefined;
  return LOCAL_NAMES.test(h) ? problem('local_name', h) : undefined;
}

/** The host of a URL without brackets, lower case. */
function hostOf(url: URL): string {
  return url.hostname.replace(/^\[(.*)\]$/, '$1').toLowerCase();
}

export function parseOutbound(text: string): { url: URL } | { problem: SsrfProblem } {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return { problem: problem('invalid_url') };
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') return { problem: problem('scheme', url.protocol.replace(/:$/, '')) };
  if (url.username !== '' || url.password !== '') return { problem: problem('credentials') };
  return { url };
}

/**
 * Everything that can be said about a URL without DNS: scheme, credentials, local names, and
 * IP literals (the WHATWG parser has already turned decimal and hex IPv4 forms such as
 * http://2130706433/ into dotted ones).
 */
export function urlProblem(text: string, policy: OutboundPolicy): SsrfProblem | undefined {
  const parsed = parseOutbound(text);
  if ('problem' in parsed) return parsed.problem;
  const host = hostOf(parsed.url);
  if (policy.allowHosts.has(host)) return undefined;
  return isIP(host) !== 0 ? addressProblem(host, policy) : hostNameProblem(host, policy);
}

export const systemResolver: Resolver = (host) =>
  new Promise((resolve, reject) => {
    dnsLookup(host, { all: true, verbatim: true }, (err, addresses) => {
      if (err) reject(err);
      else resolve(addresses.map((a) => a.address));
    });
  });

const SAVE_RESOLVE_MS = 2_000;

/**
 * The save-time check: urlProblem, then every address the name resolves to now. A name that does
 * not resolve (yet, or from here) is accepted: the connect-time check is the one that counts, and
 * refusing it would only make split-horizon setups impossible to configure.
 */
export async function checkOutboundUrl(text: string, policy: OutboundPolicy, resolve: Resolver = systemResolver): Promise<SsrfProblem | undefined> {
  const early = urlProblem(text, policy);
  if (early !== undefined) return early;
  const host = hostOf(new URL(text));
  if (isIP(host) !== 0 || policy.allowHosts.has(host) || policy.allowPrivate) return undefined;
  let addresses: readonly string[];
  try {
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error('timeout')), SAVE_RESOLVE_MS);
    });
    addresses = await Promise.race([resolve(host), late]).finally(() => clearTimeout(timer));
  } catch {
    return undefined;
  }
  for (const a of addresses) {
    const p = addressProblem(a, policy);
    if (p !== undefined) return { rule: p.rule, message: `${p.message}; ${host} resolves to it` };
  }
  return undefined;
}

/** Thrown (as the socket's error) when a connection is refused by the outbound rules. */
export class OutboundRefusedError extends Error {
  override name = 'OutboundRefusedError';
  readonly code = 'ERR_OUTBOUND_REFUSED';
  readonly rule: SsrfRule;
  constructor(p: SsrfProblem) {
    super(`outbound connection refused: ${p.message}`);
    this.rule = p.rule;
  }
}

/**
 * A `lookup` for net/tls.connect (undici's `connect` option): resolves the name, refuses the
 * connection unless EVERY address passes (a name that answers with one public and one private
 * address is refused, not raced), and hands back the checked addresses, so the socket connects
 * to exactly what was checked. Node skips `lookup` for IP literals; guardHost covers those.
 */
export function guardedLookup(policy: OutboundPolicy, resolve: Resolver = systemResolver): LookupFunction {
  return (hostname, options, callback) => {
    const host = hostname.toLowerCase();
    const named = hostNameProblem(host, policy);
    const done = callback as (err: NodeJS.ErrnoException | null, address: string | { address: string; family: number }[], family?: number) => void;
    if (named !== undefined) {
      done(new OutboundRefusedError(named), '', 0);
      return;
    }
    resolve(host).then(
      (addresses) => {
        if (addresses.length === 0) return done(new OutboundRefusedError(problem('unresolvable', host)), '', 0);
        if (!policy.allowHosts.has(host)) {
          for (const a of addresses) {
            const p = addressProblem(a, policy);
            if (p !== undefined) return done(new OutboundRefusedError({ rule: p.rule, message: `${p.message}; ${host} resolves to it` }), '', 0);
          }
        }
        const wanted = options.family === 4 || options.family === 6 ? addresses.filter((a) => isIP(a) === options.family) : addresses;
        const list = wanted.length > 0 ? wanted : addresses;
        if (options.all === true) return done(null, list.map((a) => ({ address: a, family: isIP(a) })));
        const first = list[0] as string;
        return done(null, first, isIP(first));
      },
      (err: NodeJS.ErrnoException) => done(err, '', 0),
    );
  };
}

/** The connect-time check of a URL's host when it is an IP literal (no lookup happens then). */
export function literalProblem(baseUrl: string, policy: OutboundPolicy): SsrfProblem | undefined {
  const parsed = parseOutbound(baseUrl);
  if ('problem' in parsed) return parsed.problem;
  const host = hostOf(parsed.url);
  if (isIP(host) === 0 || policy.allowHosts.has(host)) return undefined;
  return addressProblem(host, policy);
}

let guards = 0;

/** The connect-time guard the provider adapters apply to deployments whose base URL a tenant set. */
export function outboundGuard(policy: OutboundPolicy, resolve: Resolver = systemResolver): OutboundGuard {
  guards += 1;
  return {
    id: `guard${guards}`,
    lookup: guardedLookup(policy, resolve),
    refuses: (baseUrl) => literalProblem(baseUrl, policy)?.message,
  };
}
