/**
 * The one outbound HTTP call of webhook delivery. Webhook URLs are tenant-set, so the same SSRF
 * guard as tenant deployments applies at connect time (src/routing/ssrf.ts): an IP-literal host
 * is checked here, a name is resolved by the guard's lookup and the socket connects only to a
 * checked address (no DNS rebinding). Redirects are not followed: a redirect could point anywhere.
 */
import { Agent, request, type Dispatcher } from 'undici';
import type { OutboundGuard } from '../../providers/types.js';

export interface DeliveryAttempt {
  ok: boolean;
  /** HTTP status, or null when no response arrived. */
  status: number | null;
  /** Why it failed (no response body content: a receiver's page may echo anything). */
  error: string | null;
}

/** One connection pool per guard (its lookup is part of every connection). */
const agents = new Map<string, Dispatcher>();

function dispatcherFor(guard: OutboundGuard): Dispatcher {
  let a = agents.get(guard.id);
  if (a === undefined) {
    a = new Agent({ connect: { lookup: guard.lookup }, connections: 16 });
    agents.set(guard.id, a);
  }
  return a;
}

export async function deliver(
  url: string,
  body: string,
  headers: Readonly<Record<string, string>>,
  timeoutMs: number,
  guard?: OutboundGuard,
): Promise<DeliveryAttempt> {
  const refused = guard?.refuses(url);
  if (refused !== undefined) return { ok: false, status: null, error: `refused by the outbound policy: ${refused}` };
  try {
    const res = await request(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'user-agent': 'gatehouse-webhooks/1', ...headers },
      body,
      headersTimeout: timeoutMs,
      bodyTimeout: timeoutMs,
      signal: AbortSignal.timeout(timeoutMs),
      ...(guard === undefined ? {} : { dispatcher: dispatcherFor(guard) }),
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
