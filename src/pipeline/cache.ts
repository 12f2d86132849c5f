/**
 * Stages of the per-tenant response cache (src/cache/, DESIGN §13).
 *
 * `cacheLookup` runs after admission, so a hit has passed identification, authentication,
 * authorization, routing (the tenant may use the model), validation and the request-rate limits.
 * A hit is the answer: it sets `ctx.upstream` to the cached response and `ctx.answered`, and
 * compose runs nothing after it: no scheduler slot, no provider call. Admission settles a hit as
 * one request at zero tokens and zero cost (admit.ts). A miss that may be stored leaves
 * `ctx.cacheFill` for `cacheFill`, which runs after the provider and copies the upstream body as
 * it streams to the client, storing it once complete with a 2xx status.
 *
 * Only tenants that opted in see any of this (`x-gatehouse-cache: hit | miss | bypass` response
 * header); for everyone else the lookup stage is one map lookup (src/cache/tenant-keys.ts).
 */
import { Readable } from 'node:stream';
import { captureBody } from '../cache/capture.js';
import { CACHE_HEADER, parseCacheControl } from '../cache/control.js';
import type { CachedResponse } from '../cache/entry.js';
import { cacheKey, isDeterministic, normalizedRequest } from '../cache/key.js';
import type { ResponseCache } from '../cache/service.js';
import { tightestRule } from '../limits/compose.js';
import type { Usage } from '../providers/types.js';
import type { Tenant } from '../tenancy/types.js';
import type { RequestContext, Stage } from './context.js';

/** The tightest cache_bytes limit of the tenant, if any (a storage quota: tenant-wide). */
export function cacheQuotaOf(tenant: Tenant): number | undefined {
  return tightestRule(tenant.limits?.rules ?? [], 'cache_bytes')?.limit;
}

/** A hit's usage: the original counts, all of the prompt reported as cached. */
function hitUsage(u: Usage | undefined): Usage | undefined {
  return u === undefined ? undefined : { ...u, cachedTokens: u.promptTokens };
}

function serve(ctx: RequestContext, entry: CachedResponse | undefined, now: number): void {
  if (entry === undefined) return;
  const headers = ctx.extraHeaders as Record<string, string>;
  headers[CACHE_HEADER] = 'hit';
  ctx.cacheFill = undefined;
  ctx.answered = 'cache';
  ctx.upstream = {
    status: entry.status,
    headers: { 'content-type': entry.contentType, age: String(Math.max(0, Math.floor((now - entry.storedAt) / 1000))) },
    body: Readable.from([entry.body]),
    usage: Promise.resolve(hitUsage(entry.usage)),
  };
}

export function cacheLookup(cache: ResponseCache, now: () => number = Date.now): Stage {
  return function cacheLookupStage(ctx: RequestContext): void | Promise<void> {
    const { tenant, operation, body, deployment } = ctx;
    if (tenant === undefined || operation === undefined || body === undefined || deployment === undefined) {
      throw new Error('cache ran before route');
    }
    const state = cache.keys.peek(tenant.id, tenant.updatedAtMs);
    const settings = state?.settings;
    if (settings === undefined) return;
    const control = parseCacheControl(ctx.headers['cache-control'], ctx.headers[CACHE_HEADER]);
    const headers = (ctx.extraHeaders ??= {});
    if ((!control.lookup && !control.store) || (!control.forced && !isDeterministic(operation, body))) {
      headers[CACHE_HEADER] = 'bypass';
      cache.count('bypass');
      return;
    }
    headers[CACHE_HEADER] = 'miss';
    const normalized = normalizedRequest(operation, deployment.model, body);
    const ttlMs = settings.ttlSeconds * 1000;
    if (control.store) ctx.cacheFill = { normalized, model: deployment.model, ttlMs, quotaBytes: cacheQuotaOf(tenant) };
    const keys = control.lookup ? state?.keys : undefined;
    if (keys === undefined) {
      cache.count('miss');
      return;
    }
    const maxAgeMs = control.maxAgeS === undefined ? ttlMs : Math.min(ttlMs, control.maxAgeS * 1000);
    const got = cache.lookup(keys, cacheKey(keys.hmacKey, normalized), maxAgeMs);
    if (got instanceof Promise) return got.then((entry) => serve(ctx, entry, now()));
    serve(ctx, got, now());
  };
}

export function cacheFill(cache: ResponseCache, now: () => number = Date.now): Stage {
  return function cacheFillStage(ctx: RequestContext): void {
    const fill = ctx.cacheFill;
    const upstream = ctx.upstream;
    const tenant = ctx.tenant;
    if (fill === undefined || upstream === undefined || tenant === undefined) return;
    if (upstream.status < 200 || upstream.status >= 300 || ctx.deployment?.model !== fill.model) return;
    const contentType = upstream.headers['content-type'] ?? 'application/json';
    const body = captureBody(
      upstream.body,
      cache.maxEntryBytes,
      (bytes) => {
        void upstream.usage.then(
          (usage) =>
            cache.save(tenant.id, fill.normalized, { status: upstream.status, contentType, storedAt: now(), usage, body: bytes }, fill.ttlMs, fill.quotaBytes),
          () => cache.count('incomplete'),
        );
      },
      () => cache.count('too_large'),
    );
    ctx.upstream = { ...upstream, body };
  };
}
