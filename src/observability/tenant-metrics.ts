/**
 * Tenant-labelled request metrics (requests, tokens, cost, latency, time to first byte, errors)
 * and upstream responses per deployment, fed by one request finisher. Label cardinality is
 * bounded by tenant-labels.ts. The hot path does a Map lookup for the tenant's cached handle
 * (bound children of every series) and a few inc()/observe() calls; no label strings are built
 * per request.
 */
import type { Registry } from 'prom-client';
import { costMicros } from '../limits/admission.js';
import { meteredTokens, type MeteredTokens } from '../metering/event.js';
import type { Usage } from '../providers/types.js';
import { localCounter, localHistogram, type CounterSeries, type HistogramSeries } from './local-metrics.js';
import type { RequestContext, RequestOutcome } from '../pipeline/context.js';
import { OTHER, createTenantLabels, tenantLabel, type TenantLabels } from './tenant-labels.js';

export type StatusClass = 'ok' | 'client_error' | 'server_error' | 'aborted';
const CLASSES: readonly StatusClass[] = ['ok', 'client_error', 'server_error', 'aborted'];

export function statusClass(status: number, clientAborted: boolean): StatusClass {
  if (clientAborted) return 'aborted';
  if (status < 400) return 'ok';
  return status < 500 ? 'client_error' : 'server_error';
}

interface Handle {
  label: string;
  requests: Record<StatusClass, CounterSeries>;
  input: CounterSeries;
  output: CounterSeries;
  cached: CounterSeries;
  cost: CounterSeries;
  duration: HistogramSeries;
  ttft: HistogramSeries;
  errors: Map<number, CounterSeries>;
}

export interface TenantMetricsOptions {
  /** How many tenants keep their own label (metrics.tenantLabels.top). */
  top: number;
  /** How often the top set is recomputed, ms. */
  recomputeMs: number;
}

export interface TenantMetrics {
  /** A request finisher (same shape as pipeline finishers). */
  finish(outcome: RequestOutcome, ctx: RequestContext): void;
  /** Recomputes the top set now (the timer calls it; tests call it directly). */
  recompute(): void;
  stop(): void;
  readonly labels: TenantLabels;
}

const NONE: MeteredTokens = { input: 0, output: 0, cached: 0, estimated: false };

/** A cache hit's usage as replayed: the original counts. */
function replayed(u: Usage | undefined): MeteredTokens {
  return u === undefined ? NONE : { input: u.promptTokens, output: u.completionTokens, cached: u.cachedTokens, estimated: false };
}

const LATENCY_BUCKETS = [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120];

export function createTenantMetrics(registry: Registry, options: TenantMetricsOptions): TenantMetrics {
  const labels = createTenantLabels(options.top);
  const requests = localCounter({ name: 'gatehouse_tenant_requests_total', help: 'Model requests by tenant (top N by traffic, the rest as "other") and outcome.', labelNames: ['tenant', 'status_class'], registry });
  const tokens = localCounter({ name: 'gatehouse_tenant_tokens_total', help: 'Tokens by tenant and kind (input, output, cached; cached is part of input), as the usage ledger records them (estimated when the upstream reported no usage).', labelNames: ['tenant', 'kind'], registry });
  const cost = localCounter({ name: 'gatehouse_tenant_cost_micros_total', help: 'List cost in micro-units of the currency, by tenant.', labelNames: ['tenant'], registry });
  const duration = localHistogram({ name: 'gatehouse_tenant_request_duration_seconds', help: 'Request duration (arrival to end of response), by tenant.', labelNames: ['tenant'], buckets: LATENCY_BUCKETS, registry });
  const ttft = localHistogram({ name: 'gatehouse_tenant_time_to_first_token_seconds', help: 'Upstream time to the response head (the first token of a stream), by tenant.', labelNames: ['tenant'], buckets: LATENCY_BUCKETS, registry });
  const errors = localCounter({ name: 'gatehouse_tenant_errors_total', help: 'Error responses by tenant and HTTP status.', labelNames: ['tenant', 'status'], registry });
  const upstream = localCounter({ name: 'gatehouse_upstream_responses_total', help: 'Upstream answers by deployment and class (ok, client_error, server_error, none: no answer).', labelNames: ['deployment', 'class'], registry });

  const handles = new Map<string, Handle>();
  const bind = (label: string): Handle => ({
    label,
    requests: { ok: requests.labels(label, 'ok'), client_error: requests.labels(label, 'client_error'), server_error: requests.labels(label, 'server_error'), aborted: requests.labels(label, 'aborted') },
    input: tokens.labels(label, 'input'),
    output: tokens.labels(label, 'output'),
    cached: tokens.labels(label, 'cached'),
    cost: cost.labels(label),
    duration: duration.labels(label),
    ttft: ttft.labels(label),
    errors: new Map(),
  });
  const other = bind(OTHER);
  /** Handles by label: the set of series to remove when a tenant leaves. */
  const byTenant = new Map<string, Handle>();

  const unbind = (h: Handle): void => {
    for (const c of CLASSES) requests.remove(h.label, c);
    for (const k of ['input', 'output', 'cached']) tokens.remove(h.label, k);
    cost.remove(h.label);
    duration.remove(h.label);
    ttft.remove(h.label);
    for (const status of h.errors.keys()) errors.remove(h.label, String(status));
  };

  const handleOf = (ctx: RequestContext): Handle => {
    const tenant = ctx.tenant;
    if (tenant === undefined) return other;
    const top = labels.count(tenant.id);
    if (!top) return other;
    let h = handles.get(tenant.id);
    if (h === undefined) {
      h = bind(tenantLabel(tenant.slug, tenant.id));
      handles.set(tenant.id, h);
      byTenant.set(tenant.id, h);
    }
    return h;
  };

  const upstreamChildren = new Map<string, CounterSeries>();
  const upstreamOf = (deployment: string, cls: string): CounterSeries => {
    const key = `${deployment}\0${cls}`;
    let c = upstreamChildren.get(key);
    if (c === undefined) {
      c = upstream.labels(deployment, cls);
      upstreamChildren.set(key, c);
    }
    return c;
  };

  const recompute = (): void => {
    const { left } = labels.recompute();
    for (const id of left) {
      const h = byTenant.get(id);
      if (h !== undefined) unbind(h);
      byTenant.delete(id);
      handles.delete(id);
    }
  };
  const timer = setInterval(recompute, options.recomputeMs);
  timer.unref();

  return {
    labels,
    finish(outcome, ctx) {
      // Only model calls: a refused credential has no tenant worth a series.
      if (ctx.tenant === undefined) return;
      const h = handleOf(ctx);
      const cls = statusClass(outcome.status, outcome.clientAborted);
      h.requests[cls].inc();
      if (outcome.status >= 400) {
        let e = h.errors.get(outcome.status);
        if (e === undefined) {
          e = errors.labels(h.label, String(outcome.status));
          h.errors.set(outcome.status, e);
        }
        e.inc();
      }
      // What the ledger records, its estimate when the upstream reported no usage included
      // (meteredTokens); a cache hit counts its replayed usage, all of the prompt cached.
      const u = ctx.answered === 'cache' ? replayed(outcome.usage) : meteredTokens(ctx, outcome);
      if (u.input + u.output > 0) {
        h.input.inc(u.input);
        h.output.inc(u.output);
        if (u.cached > 0) h.cached.inc(u.cached);
        const d = ctx.deployment;
        if (d !== undefined) {
          const micros = costMicros(d.prices, u.input, u.cached, u.output);
          if (micros > 0) h.cost.inc(micros);
        }
      }
      h.duration.observe(Number(process.hrtime.bigint() - ctx.startedAt) / 1e9);
      if (outcome.upstreamMs !== undefined) h.ttft.observe(outcome.upstreamMs / 1000);
      const d = ctx.deployment;
      if (d !== undefined && ctx.upstreamStartedAt !== undefined) {
        const us = outcome.upstreamStatus;
        const ucls = us === undefined ? (outcome.upstreamMs === undefined ? 'none' : 'ok') : us < 400 ? 'ok' : us < 500 ? 'client_error' : 'server_error';
        upstreamOf(d.id, ucls).inc();
      }
    },
    recompute,
    stop: () => clearInterval(timer),
  };
}
