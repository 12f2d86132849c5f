/**
 * Network syntax checks for admin input: host names (custom domains) and CIDR blocks (key IP
 * allow-lists). Written out rather than delegated to a URL parser, which accepts far more than
 * a bare host name (ports, userinfo, IP literals, percent-encoding).
 */
import { isIPv4, isIPv6 } from 'node:net';
import { ipv4Bytes, ipv6Bytes } from '../../routing/ip.js';

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
    const v6 = ipv6Bytes(address);
    if (v6 === undefined) return 'does not start with an IPv4 or IPv6 address';
    bytes = v6;
  } else {
    return 'does not start with an IPv4 or IPv6 address';
  }
  for (let bit = prefix; bit < bytes.length * 8; bit++) {
    const byte = bytes[bit >> 3] ?? 0;
    if ((byte >> (7 - (bit & 7))) & 1) return `has host bits set beyond /${prefix}`;
  }
  return undefined;
}

// Where a URL a tenant sets may point is src/routing/ssrf.ts's question (save and connect time).
