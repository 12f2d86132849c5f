/**
 * Per-deployment scheduling gauges, read when /metrics is scraped (nothing on the hot path).
 * No tenant labels: per-tenant series come with metering, and a tenant's queue is its own.
 */
import { Gauge, type Registry } from 'prom-client';

export interface DeploymentLoad {
  deploymentId: string;
  configuredCapacity: number;
  /** Effective (adaptive) capacity. */
  capacity: number;
  inFlight: number;
  queued: number;
}

export function registerSchedulingMetrics(registry: Registry, read: () => DeploymentLoad[]): void {
  const gauge = (name: string, help: string, pick: (d: DeploymentLoad) => number) =>
    new Gauge({
      name,
      help,
      labelNames: ['deployment'],
      registers: [registry],
      collect() {
        this.reset();
        for (const d of read()) this.labels(d.deploymentId).set(pick(d));
      },
    });
  gauge('gatehouse_deployment_capacity', 'Configured concurrency capacity per deployment.', (d) => d.configuredCapacity);
  gauge(
    'gatehouse_deployment_capacity_effective',
    'Concurrency the scheduler allows per deployment now (lowered on upstream 429/503 or slowdowns).',
    (d) => d.capacity,
  );
  gauge('gatehouse_deployment_in_flight', 'Upstream requests in flight per deployment.', (d) => d.inFlight);
  gauge('gatehouse_deployment_queued', 'Requests waiting for a slot per deployment.', (d) => d.queued);
}
