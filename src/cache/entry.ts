/**
 * The plaintext of one cache entry, before sealing: a small JSON header (status, content type,
 * when it was stored, the usage the provider reported) and the response body bytes as they went
 * to the client (JSON, or the SSE stream of a streamed request).
 *   header length (uint32 BE) | header JSON | body
 */
import type { Usage } from '../providers/types.js';

export interface CachedResponse {
  status: number;
  contentType: string;
  /** Epoch ms when the answer was stored. */
  storedAt: number;
  usage: Usage | undefined;
  body: Buffer;
}

interface Header {
  s: number;
  t: string;
  at: number;
  u?: [number, number, number] | undefined;
}

export function encodeEntry(e: CachedResponse): Buffer {
  const h: Header = { s: e.status, t: e.contentType, at: e.storedAt };
  if (e.usage !== undefined) h.u = [e.usage.promptTokens, e.usage.completionTokens, e.usage.cachedTokens];
  const json = Buffer.from(JSON.stringify(h), 'utf8');
  const len = Buffer.alloc(4);
  len.writeUInt32BE(json.length);
  return Buffer.concat([len, json, e.body]);
}

const isCount = (v: unknown): v is number => typeof v === 'number' && Number.isInteger(v) && v >= 0;

/** undefined for bytes that are not an entry (they authenticated, so this means a format change). */
export function decodeEntry(bytes: Buffer): CachedResponse | undefined {
  if (bytes.length < 4) return undefined;
  const len = bytes.readUInt32BE(0);
  if (4 + len > bytes.length) return undefined;
  let h: Partial<Header>;
  try {
    h = JSON.parse(bytes.subarray(4, 4 + len).toString('utf8')) as Partial<Header>;
  } catch {
    return undefined;
  }
  if (!isCount(h.s) || typeof h.t !== 'string' || !isCount(h.at)) return undefined;
  let usage: Usage | undefined;
  const u = h.u;
  if (Array.isArray(u) && u.length === 3 && u.every(isCount)) {
    usage = { promptTokens: u[0], completionTokens: u[1], totalTokens: u[0] + u[1], cachedTokens: u[2] };
  }
  return { status: h.s, contentType: h.t, storedAt: h.at, usage, body: bytes.subarray(4 + len) };
}
