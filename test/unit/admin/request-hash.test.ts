/**
 * The request hash an Idempotency-Key record stores: the same request (whatever its key order)
 * hashes the same, a different one differently, and the digest is keyed by the server pepper, so
 * the stored value cannot be used to test guesses of a secret in the body without the pepper.
 */
import { createHash, randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { requestHash } from '../../../src/admin/tx.js';

const pepper = randomBytes(32);
const body = { name: 'openai', apiKey: 'sk-1234' };

describe('idempotency request hash', () => {
  it('ignores key order and tells requests apart', () => {
    const a = requestHash(pepper, 'POST', '/admin/v1/tenants/t/credentials', body);
    expect(requestHash(pepper, 'POST', '/admin/v1/tenants/t/credentials', { apiKey: 'sk-1234', name: 'openai' })).toEqual(a);
    expect(requestHash(pepper, 'POST', '/admin/v1/tenants/t/credentials', { ...body, apiKey: 'sk-1235' })).not.toEqual(a);
    expect(requestHash(pepper, 'POST', '/admin/v1/tenants/u/credentials', body)).not.toEqual(a);
  });

  it('is keyed: another pepper, another digest, and no plain digest of the body matches', () => {
    const a = requestHash(pepper, 'POST', '/p', body);
    expect(requestHash(randomBytes(32), 'POST', '/p', body)).not.toEqual(a);
    const plain = [
      JSON.stringify(body),
      `POST\n/p\n${JSON.stringify({ apiKey: 'sk-1234', name: 'openai' })}`,
      `POST\n/p\n{"apiKey":"sk-1234","name":"openai"}`,
    ].map((s) => createHash('sha256').update(s).digest());
    for (const d of plain) expect(d.equals(a)).toBe(false);
  });
});
