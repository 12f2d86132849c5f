/** The usage event: tags, end user, tokens and cost from a finished request, and its spool encoding. */
import { describe, expect, it } from 'vitest';
import { buildUsageEvent, decodeEvent, encodeEvent, parseTags } from '../../../src/metering/event.js';
import { meter } from '../../../src/pipeline/meter.js';
import type { RequestContext, RequestOutcome } from '../../../src/pipeline/context.js';
import type { Deployment } from '../../../src/providers/types.js';
import { GatewayError } from '../../../src/errors.js';

const TENANT = '11111111-1111-4111-8111-111111111111';
const KEY = '22222222-2222-4222-8222-222222222222';
const TEAM = '33333333-3333-4333-8333-333333333333';

const deployment = {
  id: 'dep-1',
  model: 'gpt-4o-mini',
  region: 'eu',
  provider: 'openai',
  upstreamModel: 'gpt-4o-mini',
  prices: { inputPerMTok: 150_000, outputPerMTok: 600_000, cachedInputPerMTok: 75_000, perRequest: 10 },
} as unknown as Deployment;

function ctx(over: Partial<RequestContext> = {}, headers: Record<string, string> = {}): RequestContext {
  return {
    requestId: 'req-1',
    startedAt: 1_000_000_000n,
    headers,
    tenant: { id: TENANT },
    principal: { kind: 'api_key', keyId: KEY, tenantId: TENANT, teamId: TEAM, scopes: [], allowedModels: null },
    deployment,
    model: 'gpt-4o-mini',
    operation: 'chat',
    body: { model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hello world, how are you today?' }] },
    ...over,
  } as unknown as RequestContext;
}

const outcome = (o: Partial<RequestOutcome> = {}): RequestOutcome => ({ status: 200, usage: undefined, clientAborted: false, upstreamMs: 5, ...o });
const clock = { nowMs: 1_796_000_000_000, endHr: 1_250_000_000n };

describe('tags', () => {
  it('lower-cases, keeps the valid ones once, at most ten, and counts what it drops', () => {
    expect(parseTags('Team:Search, batch ,bad tag!, batch,,x'.concat(',t'.repeat(12)))).toEqual({
      tags: ['team:search', 'batch', 'x', 't'],
      dropped: 13,
    });
    expect(parseTags(undefined)).toEqual({ tags: [], dropped: 0 });
    expect(parseTags('a'.repeat(65)).tags).toEqual([]);
    expect(parseTags(Array.from({ length: 12 }, (_, i) => `t${i}`).join(',')).tags).toHaveLength(10);
  });
});

describe('buildUsageEvent', () => {
  it('takes reported usage, prices it like admission, and times latency in ms', () => {
    const e = buildUsageEvent(
      ctx({}, { 'x-gatehouse-tags': 'a,b', 'x-gatehouse-user': 'alice' }),
      outcome({ usage: { promptTokens: 1000, completionTokens: 500, totalTokens: 1500, cachedTokens: 200 } }),
      clock,
      'ev-1',
    );
    expect(e).toMatchObject({
      tenantId: TENANT,
      eventId: 'ev-1',
      keyId: KEY,
      teamId: TEAM,
      endUser: 'alice',
      tags: ['a', 'b'],
      inputTokens: 1000,
      outputTokens: 500,
      cachedTokens: 200,
      // 800 × 0.15 + 200 × 0.075 + 500 × 0.6 = 120 + 15 + 300 = 435, plus 10 per request.
      costMicros: 445,
      latencyMs: 250,
      ttftMs: null,
      streamed: false,
      usageEstimated: false,
      occurredAt: clock.nowMs,
      deploymentId: 'dep-1',
      region: 'eu',
    });
  });

  it('counts an upstream reports beyond what a row holds are clamped; fractions floored, junk is zero', () => {
    const e = buildUsageEvent(ctx(), outcome({ usage: { promptTokens: 3e9, completionTokens: 1e300, totalTokens: 0, cachedTokens: -5 } }), clock, '018f0000-0000-7000-8000-000000000001');
    expect(e).toMatchObject({ inputTokens: 2_147_483_647, outputTokens: 2_147_483_647, cachedTokens: 0 });
    expect(decodeEvent(encodeEvent(e!))).toEqual(e); // it still decodes: nothing set aside
    const f = buildUsageEvent(ctx(), outcome({ usage: { promptTokens: 10.7, completionTokens: Number.NaN, totalTokens: 0, cachedTokens: 2 } }), clock, 'ev-odd');
    expect(f).toMatchObject({ inputTokens: 10, outputTokens: 0, cachedTokens: 2 });
  });

  it('a stream cut off without usage is estimated; its time to first token is kept', () => {
    const e = buildUsageEvent(
      ctx({ body: { stream: true, messages: [{ role: 'user', content: 'hi there' }] }, firstByteAt: 1_040_000_000n }),
      outcome({ clientAborted: true, usage: { promptTokens: 0, completionTokens: 7, totalTokens: 7, cachedTokens: 0, estimated: true } }),
      clock,
    );
    expect(e).toMatchObject({ streamed: true, clientAborted: true, usageEstimated: true, outputTokens: 7, ttftMs: 40 });
    expect(e?.inputTokens).toBeGreaterThan(0);
    expect(e?.costMicros).toBeGreaterThan(0);
  });

  it("names the price-book version of the deployment's prices; none without a version or a deployment", () => {
    const usage = { promptTokens: 1000, completionTokens: 500, totalTokens: 1500, cachedTokens: 0 };
    const versioned = { ...deployment, priceVersion: 'pv-1' } as Deployment;
    expect(buildUsageEvent(ctx({ deployment: versioned }), outcome({ usage }), clock)?.priceVersion).toBe('pv-1');
    expect(buildUsageEvent(ctx(), outcome({ usage }), clock)?.priceVersion).toBeNull();
    expect(buildUsageEvent(ctx({ deployment: undefined }), outcome({ status: 404 }), clock)?.priceVersion).toBeNull();
  });

  it('a refusal used nothing and costs nothing, not even the per-request price', () => {
    const e = buildUsageEvent(ctx({ deployment: undefined, model: 'nope' }), outcome({ status: 404, upstreamMs: undefined }), clock);
    expect(e).toMatchObject({ status: 404, inputTokens: 0, outputTokens: 0, costMicros: 0, model: 'nope', usageEstimated: false });
  });

  it('a response-cache hit is metered as a hit that used nothing (as admission settles it)', () => {
    const e = buildUsageEvent(
      ctx({ answered: 'cache' }),
      outcome({ usage: { promptTokens: 1000, completionTokens: 500, totalTokens: 1500, cachedTokens: 0 } }),
      clock,
    );
    expect(e).toMatchObject({ cacheHit: true, inputTokens: 0, outputTokens: 0, costMicros: 0, usageEstimated: false, status: 200 });
  });

  it('no tenant or principal: no event; a JWT principal has no key id', () => {
    expect(buildUsageEvent(ctx({ principal: undefined }), outcome(), clock)).toBeUndefined();
    const jwt = buildUsageEvent(
      ctx({ principal: { kind: 'jwt', keyId: 'jwt:https://idp/#bob', tenantId: TENANT, teamId: 'not-a-uuid', scopes: [], allowedModels: null } }),
      outcome(),
      clock,
    );
    expect(jwt).toMatchObject({ keyId: null, teamId: null });
  });

  it('encodes and decodes losslessly; garbage decodes to undefined', () => {
    const e = buildUsageEvent(ctx({}, { 'x-gatehouse-tags': 'x' }), outcome({ usage: { promptTokens: 3, completionTokens: 4, totalTokens: 7, cachedTokens: 0 } }), clock);
    expect(e).toBeDefined();
    if (e === undefined) return;
    expect(decodeEvent(encodeEvent(e))).toEqual(e);
    expect(decodeEvent(Buffer.from('[2]'))).toBeUndefined();
    expect(decodeEvent(Buffer.from('not json'))).toBeUndefined();
    const bad = JSON.parse(encodeEvent(e).toString()) as unknown[];
    bad[13] = -1;
    expect(decodeEvent(Buffer.from(JSON.stringify(bad)))).toBeUndefined();
  });
});

describe('meter stage', () => {
  it('refuses with 503 metering_unavailable while the spool is full, else sets the completion', () => {
    const record = () => {};
    const c = ctx();
    meter({ accepting: () => true, record })(c);
    expect(c.completion).toBe(record);
    const full = ctx();
    let err: unknown;
    try {
      meter({ accepting: () => false, record })(full);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(GatewayError);
    expect(err).toMatchObject({ code: 'metering_unavailable', status: 503 });
    expect(full.completion).toBeUndefined();
  });
});
