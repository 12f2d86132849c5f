/**
 * Stage: tenant-labelled request metrics. Registers one shared finisher (no closure per
 * request); the finisher reads the tenant, deployment and usage once the response is over.
 */
import type { TenantMetrics } from '../observability/tenant-metrics.js';
import { addFinisher, type Stage } from './context.js';

export function observeTenant(metrics: TenantMetrics): Stage {
  const finish = metrics.finish;
  return (ctx) => {
    addFinisher(ctx, finish);
  };
}
