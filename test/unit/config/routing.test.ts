import { describe, expect, it } from 'vitest';
import { routingConfig } from '../../../src/config/routing.js';
import { bodyTimeoutMs } from '../../../src/providers/upstream-call.js';
import { DEFAULT_BREAKER, DEFAULT_MODEL_POLICY } from '../../../src/routing/types.js';
import { fixture } from './helpers.js';

const DEPLOYMENTS = `
demo: { enabled: false }
providers:
  - { name: mock, kind: mock }
deployments:
  - { model: big, provider: mock, routingWeight: 3 }
  - { model: small, provider: mock }
`;

describe('routing configuration', () => {
  it('defaults to weighted routing, 3 attempts, no timeouts beyond the provider, no fallbacks', async () => {
    const config = await (await fixture(DEPLOYMENTS)).load();
    const routing = routingConfig(config.routing);
    expect(routing.defaults).toEqual(DEFAULT_MODEL_POLICY);
    expect(routing.breaker).toEqual(DEFAULT_BREAKER);
    expect(routing.fallbacks.size).toBe(0);
    expect(config.deployments.map((d) => d.routingWeight)).toEqual([3, undefined]);
  });

  it("reads a deployment's streamIdleTimeoutMs, never above its provider's timeoutMs; streams use it as the body timeout", async () => {
    const config = await (
      await fixture(`
demo: { enabled: false }
providers:
  - { name: mock, kind: mock, timeoutMs: 20000 }
deployments:
  - { model: a, provider: mock, streamIdleTimeoutMs: 5000 }
  - { model: b, provider: mock, streamIdleTimeoutMs: 90000 }
  - { model: c, provider: mock }
`)
    ).load();
    expect(config.deployments.map((d) => d.streamIdleTimeoutMs)).toEqual([5000, 20000, undefined]);
    expect(config.deployments.map((d) => [bodyTimeoutMs(d, true), bodyTimeoutMs(d, false)])).toEqual([
      [5000, 20000],
      [20000, 20000],
      [20000, 20000],
    ]);
  });

  it('lays per-model settings over the block defaults and keeps fallback chains in order', async () => {
    const f = await fixture(`${DEPLOYMENTS}
routing:
  strategy: least-busy
  maxAttempts: 2
  attemptTimeoutMs: 1000
  models:
    big: { strategy: lowest-latency, maxAttempts: 4, fallbackOn: [context_window] }
  fallbacks:
    big: [small]
  breaker: { consecutiveFailures: 2 }
`);
    const routing = routingConfig((await f.load()).routing);
    expect(routing.defaults).toMatchObject({ strategy: 'least-busy', attemptTimeoutMs: 1000, retry: { maxAttempts: 2 } });
    expect(routing.models.get('big')).toMatchObject({
      strategy: 'lowest-latency',
      attemptTimeoutMs: 1000,
      fallbackOn: ['context_window'],
      retry: { maxAttempts: 4, baseBackoffMs: 100 },
    });
    expect(routing.fallbacks.get('big')).toEqual(['small']);
    expect(routing.breaker).toEqual({ ...DEFAULT_BREAKER, consecutiveFailures: 2 });
  });

  it('refuses unknown models, self-fallbacks, unknown strategies and reasons, with their paths', async () => {
    const lines = await (
      await fixture(`${DEPLOYMENTS}
routing:
  models:
    nope: { maxAttempts: 2 }
    big: { strategy: fastest, fallbackOn: [everything] }
  fallbacks:
    big: [big, ghost]
`)
    ).fail();
    const text = lines.join('\n');
    expect(text).toMatch(/routing\.models\.big\.strategy/);
    expect(text).toMatch(/routing\.models\.big\.fallbackOn/);
    // Cross-reference problems are reported once the schema holds; here they come with the schema's.
    const again = (
      await (
        await fixture(`${DEPLOYMENTS}
routing:
  models:
    nope: { maxAttempts: 2 }
  fallbacks:
    big: [big, ghost]
`)
      ).fail()
    ).join('\n');
    expect(again).toContain('unknown model "nope"');
    expect(again).toContain('"big" cannot be its own fallback');
    expect(again).toContain('unknown model "ghost"');
  });
});
