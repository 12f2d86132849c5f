/**
 * Circuit breaker state per deployment, read when /metrics is scraped (nothing on the hot path):
 * 0 closed, 1 half-open, 2 open. A deployment appears once its breaker has seen a failure.
 */
import { Gauge, type Registry } from 'prom-client';
import { BREAKER_STATE_VALUE, type BreakerState } from '../routing/breaker.js';

export function registerRoutingMetrics(registry: Registry, read: () => { deploymentId: string; state: BreakerState }[]): void {
  new Gauge({
    name: 'gatehouse_deployment_breaker_state',
    help: 'Circuit breaker state per deployment at this replica: 0 closed, 1 half-open (probing), 2 open (skipped).',
    labelNames: ['deployment'],
    registers: [registry],
    collect() {
      this.reset();
      for (const b of read()) this.labels(b.deploymentId).set(BREAKER_STATE_VALUE[b.state]);
    },
  });
}
