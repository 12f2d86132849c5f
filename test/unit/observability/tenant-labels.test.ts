import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { createTenantLabels, tenantLabel, topTenants } from '../../../src/observability/tenant-labels.js';
import { createTenantMetrics } from '../../../src/observability/tenant-metrics.js';
import type { RequestContext } from '../../../src/pipeline/context.js';

describe('tenant label folding', () => {
  it('topTenants ranks by score, ties by id, ignores zero', () => {
    const s = new Map([['c', 5], ['a', 5], ['b', 9], ['z', 0]]);
    expect([...topTenants(s, 2)]).toEqual(['b', 'a']);
    expect(topTenants(s, 0).size).toBe(0);
    expect(tenantLabel('other', 'id-1')).toBe('id-1');
  });

  it('fills the set first come, then keeps the busiest; a tenant that goes quiet leaves', () => {
    const l = createTenantLabels(2);
    expect(l.count('a')).toBe(true);
    expect(l.count('b')).toBe(true);
    expect(l.count('c')).toBe(false);
    for (let i = 0; i < 10; i++) l.count('c');
    for (let i = 0; i < 5; i++) l.count('b');
    expect(l.recompute()).toEqual({ left: ['a'], joined: ['c'] });
    expect(l.isTop('c')).toBe(true);
    // b stops; a becomes busy: after decay a overtakes b.
    for (let r = 0; r < 4; r++) {
      for (let i = 0; i < 20; i++) l.count('a');
      for (let i = 0; i < 20; i++) l.count('c');
      l.recompute();
    }
    expect(l.isTop('a')).toBe(true);
    expect(l.isTop('b')).toBe(false);
  });
});

function ctx(id: string, slug: string): RequestContext {
  return { tenant: { id, slug, name: slug, status: 'active', domains: [], allowedModels: '*', regions: [] }, startedAt: process.hrtime.bigint() } as unknown as RequestContext;
}

describe('tenant metrics', () => {
  it('labels top tenants by slug, folds the rest into other, removes series of a tenant that left', async () => {
    const registry = new Registry();
    const m = createTenantMetrics(registry, { top: 1, recomputeMs: 3_600_000 });
    const usage = { promptTokens: 10, completionTokens: 5, totalTokens: 15, cachedTokens: 2 };
    m.finish({ status: 200, usage, clientAborted: false, upstreamMs: 12 }, ctx('t1', 'acme'));
    m.finish({ status: 429, usage: undefined, clientAborted: false, upstreamMs: undefined }, ctx('t2', 'beta'));
    m.finish({ status: 200, usage, clientAborted: true, upstreamMs: 3 }, ctx('t2', 'beta'));
    let text = await registry.metrics();
    expect(text).toContain('gatehouse_tenant_requests_total{tenant="acme",status_class="ok"} 1');
    expect(text).toContain('gatehouse_tenant_requests_total{tenant="other",status_class="client_error"} 1');
    expect(text).toContain('gatehouse_tenant_requests_total{tenant="other",status_class="aborted"} 1');
    expect(text).toContain('gatehouse_tenant_tokens_total{tenant="acme",kind="cached"} 2');
    expect(text).toContain('gatehouse_tenant_errors_total{tenant="other",status="429"} 1');
    expect(text).not.toContain('tenant="beta"');
    // beta is busier: after a recompute acme is folded into other, its series gone.
    m.finish({ status: 200, usage, clientAborted: false, upstreamMs: 1 }, ctx('t2', 'beta'));
    m.recompute();
    m.finish({ status: 200, usage, clientAborted: false, upstreamMs: 1 }, ctx('t2', 'beta'));
    m.finish({ status: 200, usage, clientAborted: false, upstreamMs: 1 }, ctx('t1', 'acme'));
    text = await registry.metrics();
    expect(text).not.toContain('tenant="acme"');
    expect(text).toContain('gatehouse_tenant_requests_total{tenant="beta",status_class="ok"} 1');
    expect(text).toContain('gatehouse_tenant_requests_total{tenant="other",status_class="ok"} 2');
    m.stop();
  });
});
