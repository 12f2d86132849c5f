import { describe, expect, it } from 'vitest';
import { generateApiKey } from '../../../src/crypto/keys.js';
import { isSecretName, REDACTED, redactText, redactValue } from '../../../src/audit/index.js';

describe('isSecretName', () => {
  it.each([
    'password', 'PASSWORD', 'passwd', 'api_key', 'apiKey', 'x-api-key', 'key', 'keys', 'secret', 'client_secret',
    'accessToken', 'refresh-token', 'Authorization', 'proxy-authorization', 'cookie', 'Set-Cookie', 'privateKey',
    'credential', 'credentials', 'signingKey', 'key_hash', 'webhookSignature', 'pepper', 'tokenLimit',
  ])('%s is secret', (name) => expect(isSecretName(name)).toBe(true));

  it.each(['keyId', 'key_id', 'apiKeyId', 'key_prefix', 'keyPrefix', 'secretName', 'maxTokens', 'tokens', 'tokensPerMinute',
    'tokenExpiresAt', 'name', 'scopes', 'monkeyName', 'credentialRef', 'keyRotatedAt'])('%s is not', (name) =>
    expect(isSecretName(name)).toBe(false),
  );
});

describe('redactText', () => {
  it('keeps only the public prefix of a gateway key', () => {
    const { key, prefix } = generateApiKey();
    const out = redactText(`used ${key}.`);
    expect(out).toBe(`used ${prefix}${REDACTED}.`);
    expect(out).not.toContain(key.slice(12));
  });

  it.each([
    ['sk-proj-abcdefgh12345678', `sk-${REDACTED}`],
    ['key=sk-ant-api03-abcdefghijkl', `key=sk-${REDACTED}`],
    ['Authorization: Bearer abc.def-ghi_12345', `Authorization: Bearer ${REDACTED}`],
    ['basic dXNlcjpwYXNzd29yZA==', `basic ${REDACTED}`],
    ['eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.sig-nat_ure', REDACTED],
    ['-----BEGIN RSA PRIVATE KEY-----\nMIIE\n-----END RSA PRIVATE KEY-----', REDACTED],
    ['AKIAABCDEFGHIJKLMNOP', REDACTED],
    ['postgres://app:s3cr3t@db:5432/x', `postgres://app:${REDACTED}@db:5432/x`],
    ['ghp_0123456789abcdefghijklmnopqrstuvwxyz', REDACTED],
  ])('masks %s', (input, expected) => expect(redactText(input)).toBe(expected));

  it('leaves ordinary text alone', () => {
    for (const s of ['risk-assessment team', 'task-management-system', 'ghk_short', 'Bearer', 'hello world', '192.0.2.1']) {
      expect(redactText(s)).toBe(s);
    }
  });

  it('makes text storable: no NUL, no lone surrogates; bounded after masking', () => {
    expect(redactText('a\u0000b\uD800c\uDC00d\uD83D\uDE00')).toBe('a\uFFFDb\uFFFDc\uFFFDd\uD83D\uDE00');
    const long = `${'x'.repeat(3000)} sk-abcdefghijklmnop`;
    expect(redactText(long).length).toBeLessThan(2100);
    expect(redactText(`${'y'.repeat(2040)}sk-abcdefghijklmnop`)).not.toContain('sk-abcdefgh');
  });
});

describe('redactValue', () => {
  it('replaces values under secret names, keeps counts and flags, recurses', () => {
    expect(
      redactValue({
        name: 'prod',
        apiKey: 'anything at all',
        maxTokens: 4096,
        keyEnabled: true,
        provider: { credentials: { user: 'u', pass: 'p' }, secretRef: 'ENV_NAME', token: null },
        list: [{ password: 'x' }, 'sk-abcdefgh12345678'],
      }),
    ).toEqual({
      name: 'prod',
      apiKey: REDACTED,
      maxTokens: 4096,
      keyEnabled: true,
      provider: { credentials: REDACTED, secretRef: 'ENV_NAME', token: null },
      list: [{ password: REDACTED }, `sk-${REDACTED}`],
    });
  });

  it('turns anything into plain JSON', () => {
    const at = new Date('2026-01-01T00:00:00.000Z');
    expect(
      redactValue({ at, big: 12n, nan: Number.NaN, fn: () => 1, undef: undefined, bin: Buffer.alloc(32), nested: { toJSON: () => 'j' } }),
    ).toEqual({ at: '2026-01-01T00:00:00.000Z', big: '12', nan: null, bin: '[binary 32 bytes]', nested: 'j' });
    expect(redactValue(undefined)).toBeNull();
    expect(redactValue(null)).toBeNull();
    expect(redactValue('plain')).toBe('plain');
  });

  it('masks secrets used as field names', () => {
    const { key, prefix } = generateApiKey();
    expect(redactValue({ [key]: 1 })).toEqual({ [`${prefix}${REDACTED}`]: 1 });
  });

  it('bounds depth, width and size (cycles end at the depth limit)', () => {
    const cyclic: Record<string, unknown> = { a: 1 };
    cyclic.self = cyclic;
    expect(JSON.stringify(redactValue(cyclic))).toContain('[truncated]');
    const wide = Object.fromEntries(Array.from({ length: 300 }, (_, i) => [`f${i}`, i]));
    expect(Object.keys(redactValue(wide) as object)).toHaveLength(201);
    expect(redactValue({ blob: Array.from({ length: 150 }, () => 'z'.repeat(1000)) })).toMatchObject({ truncated: true });
  });
});
