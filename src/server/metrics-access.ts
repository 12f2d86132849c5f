/**
 * Who may read GET /metrics. Its series name tenants (the top ones by traffic keep their slug as a
 * label) and show their traffic and spend, and it is served on the port tenants call: so, with a
 * token configured (GATEHOUSE_METRICS_TOKEN), only a scraper presenting it as a bearer token;
 * without one, only clients on this host that came through no proxy (a proxy on this host would
 * otherwise make every public request look local).
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { GatewayError } from '../errors.js';

const digest = (s: string): Buffer => createHash('sha256').update(s).digest();

export type MetricsAccess = (req: IncomingMessage) => GatewayError | undefined;

export function metricsAccess(token: string | undefined): MetricsAccess {
  if (token !== undefined && token !== '') {
    const expected = digest(token);
    return (req) => {
      const presented = /^Bearer\s+(\S+)\s*$/i.exec(req.headers.authorization ?? '')?.[1];
      // Digests of equal length: the comparison's time says nothing about the token.
      if (presented !== undefined && timingSafeEqual(digest(presented), expected)) return undefined;
      return new GatewayError('invalid_api_key', 'GET /metrics needs the metrics token as a bearer token.');
    };
  }
  return (req) => {
    const peer = req.socket.remoteAddress ?? '';
    const local = peer === '::1' || peer.startsWith('127.') || peer.startsWith('::ffff:127.');
    const proxied = req.headers['x-forwarded-for'] !== undefined || req.headers.forwarded !== undefined || req.headers['x-real-ip'] !== undefined;
    if (local && !proxied) return undefined;
    return new GatewayError('forbidden', 'GET /metrics is served to clients on this host only, unless GATEHOUSE_METRICS_TOKEN is set.');
  };
}
