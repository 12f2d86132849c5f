/**
 * Stage 1: collect the tenant identities a request claims besides its key — path
 * (/api/v1/tenants/{tenant}/...), the X-Tenant-ID header and the Host (custom domain) — and the
 * bearer credential. Claims are resolved against the registry but judged only after the key is
 * verified (authenticate), so an unauthenticated caller cannot enumerate tenants.
 */
import { GatewayError } from '../errors.js';
import { findTenant, type Registry } from '../tenancy/snapshot.js';
import type { RequestContext, Stage, TenantClaim } from './context.js';

function hostName(host: string | undefined): string | undefined {
  if (!host) return undefined;
  // Strip the port; IPv6 literals ([::1]:8080) never name a custom domain.
  if (host.startsWith('[')) return undefined;
  const colon = host.indexOf(':');
  const name = (colon === -1 ? host : host.slice(0, colon)).toLowerCase();
  // "ai.acme.example." is the same name written absolute (RFC 1034 §3.1); it must claim alike.
  return name.endsWith('.') ? name.slice(0, -1) : name;
}

/** Accepts `Authorization: Bearer`, and the `api-key` / `x-api-key` headers Azure and Anthropic clients send. */
export function extractCredential(ctx: RequestContext): string | undefined {
  const auth = ctx.headers.authorization;
  if (auth !== undefined) {
    const match = /^Bearer\s+(\S+)\s*$/i.exec(auth);
    if (!match?.[1]) {
      throw new GatewayError('invalid_api_key', 'The Authorization header must be "Bearer <api key>".');
    }
    return match[1];
  }
  const alt = ctx.headers['api-key'] ?? ctx.headers['x-api-key'];
  return typeof alt === 'string' && alt.length > 0 ? alt : undefined;
}

export function identify(registry: Registry): Stage {
  return function identifyStage(ctx: RequestContext): void {
    const snapshot = registry.current;
    const claims: TenantClaim[] = [];
    if (ctx.pathTenant !== undefined) {
      claims.push({ source: 'path', value: ctx.pathTenant, tenantId: findTenant(snapshot, ctx.pathTenant)?.id });
    }
    const header = ctx.headers['x-tenant-id'];
    if (header !== undefined) {
      const value = Array.isArray(header) ? header.join(',') : header;
      claims.push({ source: 'header', value, tenantId: findTenant(snapshot, value.trim())?.id });
    }
    const host = hostName(ctx.headers.host);
    const byDomain = host === undefined ? undefined : snapshot.tenantsByDomain.get(host);
    // A Host that is no tenant's domain (localhost, the gateway's own name) claims nothing.
    if (byDomain !== undefined) claims.push({ source: 'host', value: host ?? '', tenantId: byDomain.id });

    ctx.claims = claims;
    ctx.credential = extractCredential(ctx);
  };
}
