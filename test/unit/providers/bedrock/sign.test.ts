/** SigV4: what the adapter signs, the mock (same maintained signer, known test secret) verifies; tampering fails. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { request } from 'undici';
import { createSigner, signedHeaders, signTarget } from '../../../../src/providers/bedrock/sign.js';
import { MOCK_AWS, startMockBedrock, type MockBedrock } from '../../../../src/providers/mock/bedrock/index.js';

let mock: MockBedrock;
beforeAll(async () => {
  mock = await startMockBedrock();
});
afterAll(async () => {
  await mock?.close();
});

const path = `/model/${encodeURIComponent('anthropic.claude-3-haiku-20240307-v1:0')}/converse`;
const body = JSON.stringify({ messages: [{ role: 'user', content: [{ text: 'Hello' }] }] });

function toRecord(flat: string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (let i = 0; i < flat.length; i += 2) out[flat[i] as string] = flat[i + 1] as string;
  return out;
}

async function post(headers: Record<string, string>, sentBody = body): Promise<{ status: number; type: string | undefined; json: unknown }> {
  const res = await request(`${mock.url}${path}`, { method: 'POST', headers, body: sentBody });
  const type = res.headers['x-amzn-errortype'];
  return { status: res.statusCode, type: typeof type === 'string' ? type.split(':')[0] : undefined, json: await res.body.json() };
}

describe('SigV4 signing', () => {
  it('produces an AWS4-HMAC-SHA256 authorization for service bedrock that the mock verifies', async () => {
    const headers = toRecord(await signedHeaders(createSigner(MOCK_AWS), signTarget(mock.url), path, body, 'application/json'));
    expect(headers.authorization).toMatch(
      /^AWS4-HMAC-SHA256 Credential=AKIDMOCKBEDROCK0TEST\/\d{8}\/us-east-1\/bedrock\/aws4_request, SignedHeaders=[^,]*host[^,]*, Signature=[0-9a-f]{64}$/,
    );
    expect(headers['x-amz-date']).toMatch(/^\d{8}T\d{6}Z$/);
    // Event-stream frames are decoded as they come: the body is asked for uncompressed.
    expect(headers['accept-encoding']).toBe('identity');
    const res = await post(headers);
    expect(res.status).toBe(200);
    expect(res.json).toMatchObject({ stopReason: 'end_turn' });
  });

  it('is deterministic for a fixed date and covers the session token', async () => {
    const date = new Date('2026-01-02T03:04:05Z');
    const signer = createSigner({ ...MOCK_AWS, sessionToken: 'session-token-1' });
    const a = toRecord(await signedHeaders(signer, signTarget(mock.url), path, body, 'application/json', date));
    const b = toRecord(await signedHeaders(signer, signTarget(mock.url), path, body, 'application/json', date));
    expect(a.authorization).toBe(b.authorization);
    expect(a['x-amz-security-token']).toBe('session-token-1');
    expect(a.authorization).toContain('x-amz-security-token');
  });

  it('is rejected (403 InvalidSignatureException) when the body, signature or secret is wrong', async () => {
    const good = toRecord(await signedHeaders(createSigner(MOCK_AWS), signTarget(mock.url), path, body, 'application/json'));
    const tamperedBody = await post(good, body.replace('Hello', 'Howdy'));
    expect(tamperedBody).toMatchObject({ status: 403, type: 'InvalidSignatureException' });

    const sig = good.authorization as string;
    const flipped = sig.slice(0, -1) + (sig.endsWith('0') ? '1' : '0');
    expect(await post({ ...good, authorization: flipped })).toMatchObject({ status: 403, type: 'InvalidSignatureException' });

    const wrongSecret = toRecord(
      await signedHeaders(createSigner({ ...MOCK_AWS, secretAccessKey: 'not-the-secret' }), signTarget(mock.url), path, body, 'application/json'),
    );
    expect(await post(wrongSecret)).toMatchObject({ status: 403, type: 'InvalidSignatureException' });

    const wrongKey = toRecord(
      await signedHeaders(createSigner({ ...MOCK_AWS, accessKeyId: 'AKIDSOMEONEELSE00000' }), signTarget(mock.url), path, body, 'application/json'),
    );
    expect(await post(wrongKey)).toMatchObject({ status: 403, type: 'UnrecognizedClientException' });

    const { authorization: _drop, ...unsigned } = good;
    expect((await post(unsigned)).status).toBe(403);
  });
});
