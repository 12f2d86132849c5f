/**
 * The one outbound HTTP call of webhook delivery. Kept in one function so the SSRF check of
 * outbound URLs (src/routing/ssrf.ts) is one line to add here; redirects are not followed (a
 * redirect could point anywhere, and the check would have to be repeated per hop).
 */
import { request } from 'undici';

export interface DeliveryAttempt {
  ok: boolean;
  /** HTTP status, or null when no response arrived. */
  status: number | null;
  /** Why it failed (no response body content: a receiver's page may echo anything). */
  error: string | null;
}

export async function deliver(url: string, body: string, headers: Readonly<Record<string, string>>, timeoutMs: number): Promise<DeliveryAttempt> {
  try {
    const res = await request(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'user-agent': 'gatehouse-webhooks/1', ...headers },
      body,
      headersTimeout: timeoutMs,
      bodyTimeout: timeoutMs,
      signal: AbortSignal.timeout(timeoutMs),
    });
    // Drain (and bound) the body so the connection can be reused; its content is not kept.
    await res.body.dump({ limit: 64 * 1024 });
    const ok = res.statusCode >= 200 && res.statusCode < 300;
    return { ok, status: res.statusCode, error: ok ? null : `HTTP ${res.statusCode}` };
  } catch (err) {
    const e = err as { code?: unknown; name?: unknown; message?: unknown };
    const code = typeof e.code === 'string' ? e.code : typeof e.name === 'string' ? e.name : 'error';
    return { ok: false, status: null, error: `${code}: ${typeof e.message === 'string' ? e.message.slice(0, 200) : 'request failed'}` };
  }
}
