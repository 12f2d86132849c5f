import type { IncomingMessage } from 'node:http';
import { describe, expect, it } from 'vitest';
import { metricsAccess } from '../../../src/server/metrics-access.js';

const req = (peer: string, headers: Record<string, string> = {}) => ({ socket: { remoteAddress: peer }, headers }) as unknown as IncomingMessage;

describe('GET /metrics access', () => {
  it('without a token: clients on this host only, and none that came through a proxy', () => {
    const open = metricsAccess(undefined);
    for (const peer of ['127.0.0.1', '::1', '::ffff:127.0.0.1']) expect(open(req(peer))).toBeUndefined();
    for (const peer of ['10.0.0.5', '::ffff:192.168.1.2', '2001:db8::1', '']) expect(open(req(peer))?.status).toBe(403);
    expect(open(req('127.0.0.1', { 'x-forwarded-for': '203.0.113.9' }))?.status).toBe(403);
    expect(open(req('127.0.0.1', { forwarded: 'for=203.0.113.9' }))?.status).toBe(403);
  });

  it('with a token: that bearer token, from anywhere; nothing else, not even locally', () => {
    const guarded = metricsAccess('s3cret-scrape-token');
    expect(guarded(req('10.0.0.5', { authorization: 'Bearer s3cret-scrape-token' }))).toBeUndefined();
    expect(guarded(req('127.0.0.1'))?.status).toBe(401);
    expect(guarded(req('127.0.0.1', { authorization: 'Bearer s3cret-scrape-tokeN' }))?.status).toBe(401);
    expect(guarded(req('127.0.0.1', { authorization: 's3cret-scrape-token' }))?.status).toBe(401);
  });
});
