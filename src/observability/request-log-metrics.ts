/**
 * Request-log metrics: entries by outcome (written, or why they were not) and the queue's depth.
 * No tenant labels, as for the response cache.
 */
import { Counter, Gauge, type Registry } from 'prom-client';
import type { LogOutcome, LogWriterStats } from '../logs/writer.js';

export function registerRequestLogMetrics(registry: Registry, stats: () => LogWriterStats): (outcome: LogOutcome, n: number) => void {
  const entries = new Counter({
    name: 'gatehouse_request_logs_total',
    help: 'Request log entries: written, or dropped because the queue was full (queue_full), the tenant log_bytes quota had no room (quota), the database refused what the entry holds (refused) or the write failed (error); opted_out: requests whose client sent x-gatehouse-log: off.',
    labelNames: ['outcome'],
    registers: [registry],
  });
  new Gauge({
    name: 'gatehouse_request_log_queue',
    help: 'Request log entries waiting for the background writer.',
    registers: [registry],
    collect() {
      this.set(stats().queued);
    },
  });
  return (outcome, n) => entries.inc({ outcome }, n);
}
