/**
 * Redaction of everything an audit entry stores (DESIGN §12 "Secrets": nothing secret in audit
 * entries, proven by planted canaries). Two nets, because either alone misses things:
 * - by name: the value of any field named like a secret (key, token, password, ...) is replaced,
 *   however it looks;
 * - by value: anything shaped like a credential (a gateway key, a provider key, a bearer token,
 *   a JWT, a private key, a password in a URL) is masked wherever it appears, under any name.
 * It also makes the value storable and hashable: plain JSON, no NUL or lone surrogates (jsonb
 * and text refuse them), bounded in depth and size.
 */
import { storableText } from '../text.js';
import type { JsonValue } from './types.js';

export const REDACTED = '[REDACTED]';

const MAX_DEPTH = 12;
const MAX_STRING = 2048;
const MAX_ITEMS = 200;
/** Serialised size above which before/after are replaced by a stub. */
export const MAX_JSON_BYTES = 32 * 1024;

// Gateway keys: `ghk_` + 8-character public prefix + secret (src/crypto/keys.ts); keys declared in
// configuration may be shaped otherwise. The first 12 characters are the public prefix that is
// stored and listed anyway (keyPrefix), so they stay: they tell an auditor which key it was.
const GATEWAY_KEY = /ghk_[A-Za-z0-9_-]{9,}/g;
// Value patterns, masked in place. sk- must start a token, so words like "risk-assessment" stay.
const VALUE_PATTERNS: readonly [RegExp, string][] = [
  [/(?<![A-Za-z0-9])sk-[A-Za-z0-9_-]{8,}/g, `sk-${REDACTED}`],
  [/\b(Bearer|Basic)\s+[A-Za-z0-9._~+/=-]{8,}/gi, `$1 ${REDACTED}`],
  [/eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*/g, REDACTED],
  [/-----BEGIN [A-Z ]*PRIVATE KEY-----[\s\S]*?(?:-----END [A-Z ]*PRIVATE KEY-----|$)/g, REDACTED],
  [/(?<![A-Z0-9])(?:AKIA|ASIA)[A-Z0-9]{16}/g, REDACTED],
  [/AIza[0-9A-Za-z_-]{35}/g, REDACTED],
  [/gh[pousr]_[A-Za-z0-9]{36,}/g, REDACTED],
  [/xox[abprs]-[A-Za-z0-9-]{10,}/g, REDACTED],
  // scheme://user:password@host
  [/(\/\/[^\s:@/]+:)[^\s@/]+@/g, `$1${REDACTED}@`],
];

// Names are compared lower-cased with separators removed (api_key, apiKey, API-KEY: "apikey").
// "token" but not "tokens": token counts (maxTokens, tokensPerMinute) are limits, not secrets.
const SECRET_NAME = /(secret|passw(?:or)?d|passphrase|credential|authorization|cookie|token(?!s)|key|signature|pepper)(.*)$/;
// What may follow the secret word for the field to be about the secret rather than be it:
// keyId, key_prefix, secretName, tokenExpiresAt, ...
const SAFE_REMAINDER = /^(?:id|ids|prefix|prefixes|name|names|kind|type|version|ref|count|(?:created|updated|expires|revoked|rotated|lastused)at)$/;

export function isSecretName(name: string): boolean {
  const m = SECRET_NAME.exec(name.toLowerCase().replace(/[^a-z0-9]/g, ''));
  return m !== null && !SAFE_REMAINDER.test(m[2] ?? '');
}

/** Masks credential-shaped substrings; also makes the string storable. */
export function redactText(s: string): string {
  let out = storableText(s).replace(GATEWAY_KEY, (k) => `${k.slice(0, 12)}${REDACTED}`);
  for (const [pattern, replacement] of VALUE_PATTERNS) out = out.replace(pattern, replacement);
  // Truncated after masking, so a cut can never leave half a secret unmasked.
  // storableText again: the cut may split a surrogate pair.
  return out.length > MAX_STRING ? `${storableText(out.slice(0, MAX_STRING))}…[truncated]` : out;
}

function hasToJson(v: object): v is { toJSON(): unknown } {
  return typeof (v as { toJSON?: unknown }).toJSON === 'function';
}

function walk(value: unknown, depth: number): JsonValue | undefined {
  if (value === null) return null;
  switch (typeof value) {
    case 'string':
      return redactText(value);
    case 'number':
      return Number.isFinite(value) ? value : null;
    case 'boolean':
      return value;
    case 'bigint':
      return value.toString();
    case 'undefined':
    case 'function':
    case 'symbol':
      return undefined; // dropped, as JSON.stringify drops them
    default:
      break;
  }
  const obj = value as object;
  // Binary is where key material lives (hashes, wrapped keys): never stored, only its size.
  if (obj instanceof Uint8Array) return `[binary ${obj.byteLength} bytes]`;
  if (obj instanceof Date) return Number.isNaN(obj.getTime()) ? null : obj.toISOString();
  if (depth >= MAX_DEPTH) return '[truncated]';
  if (Array.isArray(obj)) {
    const items = obj.slice(0, MAX_ITEMS).map((v) => walk(v, depth + 1) ?? null);
    if (obj.length > MAX_ITEMS) items.push(`[${obj.length - MAX_ITEMS} more]`);
    return items;
  }
  if (hasToJson(obj)) return walk(obj.toJSON(), depth + 1);
  const out: { [key: string]: JsonValue } = {};
  let n = 0;
  for (const [rawKey, v] of Object.entries(obj)) {
    if (n++ >= MAX_ITEMS) {
      out['[truncated]'] = `${Object.keys(obj).length - MAX_ITEMS} more fields`;
      break;
    }
    const key = redactText(rawKey);
    // By name: any value but a number or boolean (a count or a flag is never the secret).
    if (isSecretName(rawKey) && v !== null && v !== undefined && typeof v !== 'number' && typeof v !== 'boolean') {
      out[key] = REDACTED;
      continue;
    }
    const w = walk(v, depth + 1);
    if (w !== undefined) out[key] = w;
  }
  return out;
}

/**
 * The stored form of a before/after value: plain JSON, redacted, bounded. undefined and null
 * both become null (absent).
 */
export function redactValue(value: unknown): JsonValue {
  const w = walk(value, 0) ?? null;
  if (w === null) return null;
  const bytes = Buffer.byteLength(JSON.stringify(w), 'utf8');
  return bytes > MAX_JSON_BYTES ? { truncated: true, bytes } : w;
}
