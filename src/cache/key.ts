/**
 * Which requests are cacheable, and the cache key of one that is.
 *
 * Deterministic (DESIGN §13): a request whose answer may be reused for an identical request.
 * - embeddings: always.
 * - chat and completions: one choice (`n` absent or 1, `best_of` absent or 1) and sampling pinned:
 *   `temperature` is 0, or `top_p` is 0, or a `seed` is set. Absent temperature means the API's
 *   default (1): not deterministic. Tools do not matter: a tool call is returned to the client,
 *   never executed by the gateway, so replaying one has no side effect the first answer lacked.
 *
 * The key is HMAC-SHA256, under the tenant's cache key (seal.ts), of the operation, the
 * deployment's public model and the request body as canonical JSON (object keys sorted, so
 * `{"a":1,"b":2}` and `{"b":2,"a":1}` are one request). Fields that do not change the answer are
 * left out: `user` (end-user id), `metadata` and `store` (OpenAI's stored-completions labels),
 * `service_tier` (speed, not content). `stream` and `stream_options` stay in: a streamed answer
 * is replayed byte for byte (SSE), and include_usage changes those bytes. The body is the one sent
 * upstream, after admission may have set max_tokens: a different bound is a different answer.
 * A keyed hash reveals nothing of the prompt, and two tenants' keys never collide.
 */
import { createHmac } from 'node:crypto';
import type { Operation } from '../providers/types.js';

const IGNORED = new Set(['user', 'metadata', 'store', 'service_tier']);

function isOne(v: unknown): boolean {
  return v === undefined || v === null || v === 1;
}

export function isDeterministic(op: Operation, body: Record<string, unknown>): boolean {
  if (op === 'embeddings') return true;
  if (!isOne(body.n) || !isOne(body.best_of)) return false;
  return body.temperature === 0 || body.top_p === 0 || (typeof body.seed === 'number' && Number.isInteger(body.seed));
}

/** JSON with object keys sorted at every depth; arrays keep their order (it is meaningful). */
export function canonicalJson(value: unknown, skip?: ReadonlySet<string>): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value) ?? 'null';
  if (Array.isArray(value)) return `[${value.map((v) => canonicalJson(v)).join(',')}]`;
  const obj = value as Record<string, unknown>;
  const parts: string[] = [];
  for (const k of Object.keys(obj).sort()) {
    const v = obj[k];
    if (v === undefined || skip?.has(k) === true) continue;
    parts.push(`${JSON.stringify(k)}:${canonicalJson(v)}`);
  }
  return `{${parts.join(',')}}`;
}

/** The normalized request the key is computed over (exported for tests and documentation). */
export function normalizedRequest(op: Operation, model: string, body: Record<string, unknown>): string {
  return `${op}\n${model}\n${canonicalJson(body, IGNORED)}`;
}

/** base64url HMAC-SHA256 of a normalized request under the tenant's key. */
export function cacheKey(hmacKey: Buffer, normalized: string): string {
  return createHmac('sha256', hmacKey).update(normalized, 'utf8').digest('base64url');
}
