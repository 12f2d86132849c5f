/** What a client whose request never became one is told (the server's clientError handler). */
import { describe, expect, it } from 'vitest';
import { onClientError } from '../../../src/server/http.js';

function socket() {
  const sent: string[] = [];
  let destroyed = false;
  return {
    writable: true,
    end: (chunk?: unknown) => void sent.push(String(chunk)),
    destroy: () => void (destroyed = true),
    sent,
    destroyed: () => destroyed,
  } as const;
}

const statusOf = (raw: string | undefined) => raw?.split('\r\n')[0];
const bodyOf = (raw: string | undefined) => JSON.parse(raw?.slice(raw.indexOf('\r\n\r\n') + 4) ?? 'null') as { error: { code: string } };

describe('clientError', () => {
  it('a request that did not arrive in time is a 408 in the envelope, not a 400', () => {
    const s = socket();
    onClientError(Object.assign(new Error('timeout'), { code: 'ERR_HTTP_REQUEST_TIMEOUT' }), s as never);
    expect(statusOf(s.sent[0])).toBe('HTTP/1.1 408 Request Timeout');
    expect(bodyOf(s.sent[0]).error.code).toBe('request_timeout');
  });

  it('oversized headers are a 431, anything else malformed a 400; a reset is just closed', () => {
    const big = socket();
    onClientError(Object.assign(new Error('big'), { code: 'HPE_HEADER_OVERFLOW' }), big as never);
    expect(statusOf(big.sent[0])).toBe('HTTP/1.1 431 Request Header Fields Too Large');
    const bad = socket();
    onClientError(Object.assign(new Error('bad'), { code: 'HPE_INVALID_METHOD' }), bad as never);
    expect(statusOf(bad.sent[0])).toBe('HTTP/1.1 400 Bad Request');
    const reset = socket();
    onClientError(Object.assign(new Error('reset'), { code: 'ECONNRESET' }), reset as never);
    expect(reset.sent).toEqual([]);
    expect(reset.destroyed()).toBe(true);
  });
});
