/**
 * The client's address. Without trusted proxies it is the connecting peer, full stop. With them,
 * and only when the peer is one of them, the forwarding header names the client: each proxy
 * appends the address it received the request from, so the header is read right to left, past
 * every trusted proxy, and the first address that is not one is the client (RFC 7239 §5.2, the
 * way nginx's real_ip_recursive and Envoy's xff_num_trusted_hops work). Everything left of that
 * is whatever the client chose to send, and is ignored.
 *
 * A malformed entry (not an IP address, "unknown", an obfuscated identifier) stops the walk: the
 * nearest trusted proxy then stands as the client, since nothing beyond it can be believed.
 */
import type { IncomingHttpHeaders } from 'node:http';
import { isIP, type BlockList } from 'node:net';
import { addressAllowed, compileCidrs } from '../tenancy/snapshot.js';

export type ForwardedHeader = 'x-forwarded-for' | 'forwarded';

export interface ClientAddressOptions {
  trustedProxies: readonly string[];
  forwardedHeader: ForwardedHeader;
}

/** A forwarding chain longer than this is not walked further (the header is client-controlled). */
const MAX_HOPS = 32;

/** `[v6]:port`, `v4:port`, quotes and zone ids stripped; undefined when not an IP address. */
export function parseHop(raw: string): string | undefined {
  let v = raw.trim();
  if (v.startsWith('"') && v.endsWith('"') && v.length >= 2) v = v.slice(1, -1);
  if (v.startsWith('[')) {
    const end = v.indexOf(']');
    if (end === -1) return undefined;
    const rest = v.slice(end + 1);
    if (rest !== '' && !/^:[0-9]{1,5}$/.test(rest)) return undefined;
    v = v.slice(1, end);
  } else if (/^[0-9.]+:[0-9]{1,5}$/.test(v)) {
    v = v.slice(0, v.indexOf(':'));
  }
  v = v.replace(/%.*$/, '');
  return isIP(v) === 0 ? undefined : v.toLowerCase();
}

/** X-Forwarded-For: comma-separated addresses, oldest first (duplicate headers joined by Node). */
function xffHops(value: string): string[] {
  return value.split(',');
}

/**
 * RFC 7239: `Forwarded: for=192.0.2.60;proto=http, for="[2001:db8::17]:4711"`. One `for` per
 * element; an element without one stands as malformed, since its hop cannot be named.
 */
function forwardedHops(value: string): string[] {
  const hops: string[] = [];
  // Commas and semicolons inside quoted strings belong to the value.
  for (const element of value.match(/(?:[^,"]|"[^"]*")+/g) ?? []) {
    let hop = '';
    for (const pair of element.match(/(?:[^;"]|"[^"]*")+/g) ?? []) {
      const eq = pair.indexOf('=');
      if (eq !== -1 && pair.slice(0, eq).trim().toLowerCase() === 'for') hop = pair.slice(eq + 1);
    }
    hops.push(hop);
  }
  return hops;
}

function headerValue(headers: IncomingHttpHeaders, name: ForwardedHeader): string | undefined {
  const v = headers[name];
  return Array.isArray(v) ? v.join(',') : v;
}

/** The client address of a request arriving from `peer` with `headers`. */
export function clientAddress(peer: string, headers: IncomingHttpHeaders, trusted: BlockList, header: ForwardedHeader): string {
  if (peer === '' || !addressAllowed(trusted, peer)) return peer;
  const value = headerValue(headers, header);
  if (value === undefined || value === '') return peer;
  const hops = header === 'forwarded' ? forwardedHops(value) : xffHops(value);
  let client = peer;
  for (let i = hops.length - 1, walked = 0; i >= 0 && walked < MAX_HOPS; i--, walked++) {
    const hop = parseHop(hops[i] ?? '');
    if (hop === undefined) break;
    client = hop;
    if (!addressAllowed(trusted, hop)) break;
  }
  return client;
}

/**
 * The request's client address as the server should record it: the socket's peer when no proxy
 * is trusted (nothing is parsed then), else clientAddress().
 */
export function clientAddressResolver(opts: ClientAddressOptions): (peer: string, headers: IncomingHttpHeaders) => string {
  if (opts.trustedProxies.length === 0) return (peer) => peer;
  const trusted = compileCidrs(opts.trustedProxies);
  const header = opts.forwardedHeader;
  return (peer, headers) => clientAddress(peer, headers, trusted, header);
}
