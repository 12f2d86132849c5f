/**
 * Network syntax checks for admin input: host names (custom domains) and CIDR blocks (key IP
 * allow-lists). Written out rather than delegated to a URL parser, which accepts far more than
 * a bare host name (ports, userinfo, IP literals, percent-encoding).
 */
import { isIPv4, isIPv6 } from 'node:net';

const LABEL = /^(?!-)[a-z0-9-]{1,63}(?<!-)$/;

/**
 * A lower-case DNS host name with at least two labels, no trailing dot, no port, and not an IP
 * address (a custom domain names a tenant by Host header; an address never should).
 */
export function hostNameProblem(host: string): string | undefined {
  if (host.length === 0 || host.length > 253) return 'must be 1 to 253 characters';
  if (host !== host.toLowerCase()) return 'must be lower case';
  if (isIPv4(host) || isIPv6(host)) return 'must be a host name, not an IP address';
  const labels = host.split('.');
  if (labels.length < 2) return 'must have at least two labels (e.g. ai.example.com)';
  if (labels.some((l) => !LABEL.test(l))) return 'each label must be 1 to 63 of a-z, 0-9 and "-", not starting or ending with "-"';
  const tld = labels[labels.length - 1] ?? '';
  if (/^[0-9]+$/.test(tld)) return 'the last label must not be numeric';
  return undefined;
}

function ipv4Bytes(text: string): number[] {
  return text.split('.').map((p) => Number(p));
}

/** 16 bytes of an IPv6 address already checked by isIPv6 (zone ids are refused before). */
function ipv6Bytes(text: string): number[] {
  let s = text;
  let tail: number[] = [];
  const lastColon = s.lastIndexOf(':');
  if (s.slice(lastColon + 1).includes('.')) {
    // An embedded IPv4 tail (::ffff:192.0.2.1) stands for the last two groups.
    tail = ipv4Bytes(s.slice(lastColon + 1));
    s = s.slice(0, lastColon + 1);
    if (!s.endsWith('::')) s = s.slice(0, -1);
  }
  const want = tail.length > 0 ? 6 : 8;
  const parts = s.split('::');
  const left = parts[0] ? parts[0].split(':') : [];
  const right = parts.length > 1 && parts[1] ? parts[1].split(':') : [];
  const zeros = parts.length > 1 ? want - left.length - right.length : 0;
  const groups = [...left, ...Array<string>(Math.max(zeros, 0)).fill('0'), ...right].map((g) => Number.parseInt(g, 16));
  const bytes: number[] = [];
  for (const g of groups) bytes.push((g >> 8) & 0xff, g & 0xff);
  return [...bytes, ...tail];
}

/**
 * Problems with a CIDR block `address/prefix`, IPv4 or IPv6. Host bits must be zero: PostgreSQL's
 * cidr type refuses them, and `10.0.0.1/8` is almost always a typo for either a /32 or 10.0.0.0/8,
 * which differ by 16 million addresses.
 */
export function cidrProblem(cidr: string): string | undefined {
  if (cidr.length > 64) return 'is too long';
  const slash = cidr.indexOf('/');
  if (slash === -1) return 'must be address/prefix (e.g. 203.0.113.0/24 or 2001:db8::/32)';
  const address = cidr.slice(0, slash);
  const prefixText = cidr.slice(slash + 1);
  if (!/^[0-9]{1,3}$/.test(prefixText)) return 'has an invalid prefix length';
  const prefix = Number(prefixText);
  let bytes: number[];
  if (isIPv4(address)) {
    if (prefix > 32) return 'has a prefix length over 32';
    bytes = ipv4Bytes(address);
  } else if (isIPv6(address) && !address.includes('%')) {
    if (prefix > 128) return 'has a prefix length over 128';
    bytes = ipv6Bytes(address.toLowerCase());
  } else {
    return 'does not start with an IPv4 or IPv6 address';
  }
  for (let bit = prefix; bit < bytes.length * 8; bit++) {
    const byte = bytes[bit >> 3] ?? 0;
    if ((byte >> (7 - (bit & 7))) & 1) return `has host bits set beyond /${prefix}`;
  }
  return undefined;
}

const BLOCKED_HOSTS = /^(localhost|.*\.localhost|metadata\.google\.internal|metadata|instance-data)$/;

function privateV4(a: number[]): boolean {
  const [x = 0, y = 0] = a;
  return (
    x === 0 || x === 10 || x === 127 || (x === 169 && y === 254) || (x === 172 && y >= 16 && y <= 31) || (x === 192 && y === 168) || (x === 100 && y >= 64 && y <= 127) || x >= 224
  );
}

/**
 * Problems with a URL a tenant asks the gateway to call (webhooks, provider base URLs): http(s)
 * only, no credentials in it, and not a literal private, loopback, link-local or metadata
 * address. The WHATWG parser used here is the one used to connect, and it normalises decimal and
 * hex IPv4 forms (http://2130706433/ is 127.0.0.1) before the check. Names that resolve to such
 * addresses are the delivery path's to refuse (DESIGN §6): this is the early, clear answer.
 */
export function outboundUrlProblem(text: string): string | undefined {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return 'is not a valid absolute URL';
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') return 'must use https (or http)';
  if (url.username !== '' || url.password !== '') return 'must not contain credentials';
  if (url.hash !== '') return 'must not contain a fragment';
  const host = url.hostname.replace(/^\[(.*)\]$/, '$1').toLowerCase();
  if (BLOCKED_HOSTS.test(host)) return 'must not point at a local or metadata host';
  if (isIPv4(host) && privateV4(ipv4Bytes(host))) return 'must not point at a private, loopback or link-local address';
  if (isIPv6(host)) {
    const b = ipv6Bytes(host);
    const mapped = b.slice(0, 10).every((x) => x === 0) && b[10] === 0xff && b[11] === 0xff;
    const first = b[0] ?? 0;
    if (b.every((x, i) => (i === 15 ? x <= 1 : x === 0)) || (first & 0xfe) === 0xfc || (first === 0xfe && ((b[1] ?? 0) & 0xc0) === 0x80) || (mapped && privateV4(b.slice(12)))) {
      return 'must not point at a private, loopback or link-local address';
    }
  }
  return undefined;
}
