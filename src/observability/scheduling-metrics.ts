/**
 * Per-deployment scheduling gauges, read when /metrics is scraped (nothing on the hot path).
 * No tenant labels: per-tenant series come with metering, and a tenant's queue is its own.
 * With Redis, also the replica membership that splits each capacity (limits/replicas.ts).
 */
import { Gauge, type Registry } from 'prom-client';
import type { MembershipStats } from '../limits/replicas.js';

export interface DeploymentLoad {
  deploymentId: string;
  configuredCapacity: number;
  /** This replica's slice of the configured capacity. */
  slice: number;
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
    'gatehouse_deployment_capacity_slice',
    "This replica's slice of the configured capacity (split across the live replicas; all of it with one).",
    (d) => d.slice,
  );
  gauge(
    'gatehouse_deployment_capacity_effective',
    'Concurrency the scheduler allows per deployment now (lowered on upstream 429/503 or slowdowns).',
    (d) => d.capacity,
  );
  gauge('gatehouse_deployment_in_flight', 'Upstream requests in flight per deployment.', (d) => d.inFlight);
  gauge('gatehouse_deployment_queued', 'Requests waiting for a slot per deployment.', (d) => d.queued);
}

/** Membership gauges; registered only with Redis (a lone gateway has nothing to split). */
export function registerReplicaMetrics(registry: Registry, read: () => MembershipStats): void {
  const gauge = (name: string, help: string, pick: (s: MembershipStats) => number) =>
    new Gauge({
      name,
      help,
      registers: [registry],
      collect() {
        this.set(pick(read()));
      },
    });
  gauge('gatehouse_replicas', 'Live gateway replicas that deployment capacities are split across, as this replica last read them.', (s) => s.replicas);
  gauge('gatehouse_replicas_membership_up', '1 while the replica membership (Redis) answers, 0 while the last known split stays in force.', (s) =>
    s.up ? 1 : 0,
  );
  gauge('gatehouse_replicas_membership_failures', 'Replica heartbeats that failed (Redis unreachable).', (s) => s.failures);
}
