/** Local counters and histograms expose exactly what prom-client's own would for the same calls. */
import { Counter, Histogram, Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { localCounter, localHistogram } from '../../../src/observability/local-metrics.js';

const BUCKETS = [0.05, 0.1, 0.25, 0.5, 1, 2.5];

function pair() {
  const theirs = new Registry();
  const ours = new Registry();
  const spec = { name: 'x_duration_seconds', help: 'Duration.', labelNames: ['tenant', 'kind'] as const };
  const cspec = { name: 'x_requests_total', help: 'Requests.', labelNames: ['tenant', 'kind'] as const };
  return {
    theirs,
    ours,
    hist: { theirs: new Histogram({ ...spec, labelNames: [...spec.labelNames], buckets: BUCKETS, registers: [theirs] }), ours: localHistogram({ ...spec, buckets: BUCKETS, registry: ours }) },
    counter: { theirs: new Counter({ ...cspec, labelNames: [...cspec.labelNames], registers: [theirs] }), ours: localCounter({ ...cspec, registry: ours }) },
  };
}

describe('local metrics', () => {
  it('render the same exposition text as prom-client for the same observations, scrape after scrape', async () => {
    const p = pair();
    // Values on bucket bounds, between them, above the last, zero.
    const values = [0, 0.05, 0.0500001, 0.1, 0.3, 1, 2.5, 2.6, 100, 0.099];
    const labels: [string, string][] = [['a', 'x'], ['b', 'y'], ['a', 'y']];
    for (let round = 0; round < 3; round++) {
      values.forEach((v, i) => {
        const [t, k] = labels[(i + round) % labels.length] as [string, string];
        p.hist.theirs.labels(t, k).observe(v);
        p.hist.ours.labels(t, k).observe(v);
        p.counter.theirs.labels(t, k).inc(i + 1);
        p.counter.ours.labels(t, k).inc(i + 1);
      });
      const ours = await p.ours.metrics();
      expect(ours).toBe(await p.theirs.metrics());
      expect(ours).toContain('x_requests_total{tenant="a",kind="x"}');
      expect(await p.ours.getMetricsAsJSON()).toEqual(await p.theirs.getMetricsAsJSON());
    }
  });

  it('forget a removed series, and start it from zero if it comes back', async () => {
    const p = pair();
    for (const side of ['theirs', 'ours'] as const) {
      p.hist[side].labels('gone', 'x').observe(0.2);
      p.counter[side].labels('gone', 'x').inc(5);
      p.counter[side].labels('kept', 'x').inc(1);
    }
    await p.ours.metrics();
    p.hist.theirs.remove('gone', 'x');
    p.hist.ours.remove('gone', 'x');
    p.counter.theirs.remove('gone', 'x');
    p.counter.ours.remove('gone', 'x');
    const afterRemove = await p.ours.metrics();
    expect(afterRemove).not.toContain('gone');
    expect(afterRemove).toBe(await p.theirs.metrics());
    p.counter.theirs.labels('gone', 'x').inc(2);
    p.counter.ours.labels('gone', 'x').inc(2);
    const back = await p.ours.metrics();
    expect(back).toContain('x_requests_total{tenant="gone",kind="x"} 2');
    expect(back).toBe(await p.theirs.metrics());
  });

  it('a histogram without labels is exposed (zeros) before its first observation, as prom-client does', async () => {
    const theirs = new Registry();
    const ours = new Registry();
    new Histogram({ name: 'y_seconds', help: 'Y.', buckets: BUCKETS, registers: [theirs] });
    const mine = localHistogram({ name: 'y_seconds', help: 'Y.', buckets: BUCKETS, registry: ours }).labels();
    expect(await ours.metrics()).toBe(await theirs.metrics());
    mine.observe(0.07);
    expect(await ours.metrics()).toContain('y_seconds_bucket{le="0.1"} 1');
  });
});
