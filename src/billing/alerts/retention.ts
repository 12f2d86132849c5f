/**
 * Alert housekeeping, per tenant in its own transaction (the gateway role may delete only what
 * migration 0019's restrictive policies allow): alerts that end by themselves are resolved (a
 * budget threshold once its window has reset; a test event is raised resolved), then resolved
 * alerts and finished webhook deliveries older than the tenant's retention are deleted. An
 * alert with a delivery still pending is kept until the outbox is done with it.
 */
import { alertsRepo, type TenantTx } from '../../store/index.js';

const DAY = 86_400_000;
/** Rows of each kind deleted per tenant and round; a backlog drains over several rounds. */
export const PURGE_BATCH = 5_000;

export interface Housekeeping {
  resolved: number;
  alertsDeleted: number;
  deliveriesDeleted: number;
}

export async function alertHousekeeping(tx: TenantTx, nowMs: number, retentionDays: number): Promise<Housekeeping> {
  const resolved = await alertsRepo.resolveEnded(tx, new Date(nowMs), 'system:ended');
  const purged = await alertsRepo.purge(tx, new Date(nowMs - retentionDays * DAY), PURGE_BATCH);
  return { resolved, alertsDeleted: purged.alerts, deliveriesDeleted: purged.deliveries };
}
