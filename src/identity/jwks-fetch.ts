/**
 * The JWKS fetch of an identity provider a tenant registered: its URL is a tenant-set address,
 * so the connection goes through the same connect-time guard as tenant deployments and webhooks
 * (src/routing/ssrf.ts): an IP-literal host is checked here, a name is resolved by the guard's
 * lookup, every address checked, and the socket connects only to a checked one (no DNS
 * rebinding, no name that turned private after the save-time check).
 *
 * Handed to jose as its `customFetch`: jose still owns the request (GET, its headers, `redirect:
 * 'manual'`, so a redirect is a non-200 and refused) and its limits (the timeoutDuration signal,
 * which aborts the connection and the body alike); only the dispatcher differs from jose's own
 * fetch.
 */
import type { FetchImplementation } from 'jose';
import { Agent, fetch, type Dispatcher } from 'undici';
import type { OutboundGuard } from '../providers/types.js';

/** One small pool per guard (its lookup is part of every connection); JWKS fetches are rare. */
const agents = new Map<string, Dispatcher>();

function dispatcherFor(guard: OutboundGuard): Dispatcher {
  let a = agents.get(guard.id);
  if (a === undefined) {
    a = new Agent({ connect: { lookup: guard.lookup }, connections: 4 });
    agents.set(guard.id, a);
  }
  return a;
}

/** Thrown for an IP-literal host the rules refuse (names are refused by the lookup, alike). */
class JwksRefusedError extends Error {
  override name = 'OutboundRefusedError';
  readonly code = 'ERR_OUTBOUND_REFUSED';
}

export function guardedJwksFetch(guard: OutboundGuard): FetchImplementation {
  return async (url, options) => {
    const refused = guard.refuses(url);
    if (refused !== undefined) throw new JwksRefusedError(`outbound connection refused: ${refused}`);
    const res = await fetch(url, {
      method: options.method,
      headers: Object.fromEntries(options.headers.entries()),
      redirect: options.redirect,
      signal: options.signal,
      dispatcher: dispatcherFor(guard),
    });
    // The package's Response, not the global one's class: jose reads only `status` and `json()`.
    return res as unknown as Response;
  };
}
