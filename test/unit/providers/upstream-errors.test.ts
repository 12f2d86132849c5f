import { describe, expect, it } from 'vitest';
import { rateLimited, retryAfterOf, serverError, UpstreamHttpError } from '../../../src/providers/upstream-errors.js';
import { retryable } from '../../../src/routing/classify.js';

const NOW = Date.parse('2026-01-01T00:00:00Z');

describe('upstream Retry-After', () => {
  it('reads retry-after-ms first (precise), then delta-seconds, then an HTTP date', () => {
    expect(retryAfterOf({ 'retry-after': '2', 'retry-after-ms': '1500' }, NOW)).toEqual({ ms: 1500, header: '2' });
    expect(retryAfterOf({ 'retry-after-ms': '1500' }, NOW)).toEqual({ ms: 1500, header: '2' });
    expect(retryAfterOf({ 'retry-after': '3' }, NOW)).toEqual({ ms: 3000, header: '3' });
    expect(retryAfterOf({ 'retry-after': 'Thu, 01 Jan 2026 00:00:05 GMT' }, NOW)).toEqual({ ms: 5000, header: '5' });
    expect(retryAfterOf({ 'retry-after': 'soon' }, NOW)).toBeUndefined();
    expect(retryAfterOf({ 'retry-after-ms': '-5' }, NOW)).toBeUndefined();
    expect(retryAfterOf({}, NOW)).toBeUndefined();
  });

  it('a 5xx keeps the upstream Retry-After for routing (ms on the cause) and for the client (header)', () => {
    const err = serverError(503, '{"error":{"message":"busy"}}', '', { 'retry-after': '2' });
    expect(err.status).toBe(502);
    expect(err.headers['retry-after']).toBe('2');
    expect((err.cause as UpstreamHttpError).retryAfterMs).toBe(2000);
    expect(retryable(err)).toEqual({ status: 503, retryAfterMs: 2000, breaker: true });
  });

  it('a 5xx without the header, or a non-5xx mapped to 502, carries none', () => {
    const plain = serverError(503, '{}', '', {});
    expect(plain.headers['retry-after']).toBeUndefined();
    expect(retryable(plain)?.retryAfterMs).toBeUndefined();
    const credential = serverError(401, '{}', '', { 'retry-after': '9' });
    expect(credential.headers['retry-after']).toBeUndefined();
    expect((credential.cause as UpstreamHttpError).retryAfterMs).toBeUndefined();
  });

  it('a 429 without a usable hint still waits a second, as the header the client gets says', () => {
    const err = rateLimited({});
    expect(err.headers['retry-after']).toBe('1');
    expect(retryable(err)).toEqual({ status: 429, retryAfterMs: 1000, breaker: false });
  });
});
