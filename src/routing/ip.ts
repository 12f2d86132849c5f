/**
 * IP address text to bytes, for checks that look at address bits (CIDR host bits in the admin
 * API, embedded IPv4 forms in the SSRF rules). Callers have already recognised the family
 * (node:net isIPv4 / isIPv6); zone ids (`%eth0`) are not addresses here.
 */

/** The 4 bytes of a dotted IPv4 address. */
export function ipv4Bytes(text: string): number[] {
  return text.split('.').map(Number);
}

/** The 16 bytes of an IPv6 address (an embedded IPv4 tail, ::ffff:192.0.2.1, included); undefined if malformed. */
export function ipv6Bytes(text: string): number[] | undefined {
  let s = text.toLowerCase();
  let tail: number[] = [];
  const lastColon = s.lastIndexOf(':');
  if (s.slice(lastColon + 1).includes('.')) {
    // The IPv4 tail stands for the last two groups.
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
  if (groups.length !== want || groups.some((g) => Number.isNaN(g))) return undefined;
  const bytes: number[] = [];
  for (const g of groups) bytes.push((g >> 8) & 0xff, g & 0xff);
  return [...bytes, ...tail];
}
