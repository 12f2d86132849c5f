/**
 * Response-cache metrics: one counter by outcome, evictions, and the bytes held in this process.
 * No tenant labels (as for scheduling): per-tenant series come with metering.
 */
import { Counter, Gauge, type Registry } from 'prom-client';
import type { CacheEvent } from '../cache/service.js';

export function registerCacheMetrics(registry: Registry, bytes: () => number | undefined): (event: CacheEvent, evicted?: number) => void {
  const events = new Counter({
    name: 'gatehouse_cache_events_total',
    help: 'Response cache outcomes: hit, miss, bypass (not cacheable or opted out), stored, quota (tenant cache_bytes full), full, too_large, incomplete, error.',
    labelNames: ['outcome'],
    registers: [registry],
  });
  const evictions = new Counter({
    name: 'gatehouse_cache_evictions_total',
    help: "Response cache entries evicted to make room for the same tenant's new entries.",
    registers: [registry],
  });
  new Gauge({
    name: 'gatehouse_cache_bytes',
    help: 'Bytes of response cache entries held in this process (the in-memory store).',
    registers: [registry],
    collect() {
      this.set(bytes() ?? 0);
    },
  });
  return (event, evicted) => {
    events.inc({ outcome: event });
    if (evicted !== undefined && evicted > 0) evictions.inc(evicted);
  };
}
