/**
 * Raising an alert: recorded once per alert key, queued to the tenant's subscribed webhooks and
 * audited, all in the caller's tenant transaction (so a raised alert is never without its outbox
 * rows, and a crossing evaluated by several replicas at once is raised by exactly one).
 */
import { appendAudit, type AuditActor } from '../../audit/index.js';
import { alertsRepo, type AlertKind, type AlertRecord, type TenantTx } from '../../store/index.js';

export const ALERTS_ACTOR: AuditActor = { kind: 'system', id: 'alerts' };

export async function raiseAlert(
  tx: TenantTx,
  kind: AlertKind,
  alertKey: string,
  payload: Record<string, unknown>,
  actor: AuditActor = ALERTS_ACTOR,
): Promise<AlertRecord | null> {
  // A test event goes to every enabled webhook: it is how a tenant checks its receiver. It has
  // nothing to wait for, so it is raised resolved (retention may take it once delivered).
  const test = kind === 'webhook.test';
  const raised = await alertsRepo.raise(tx, { kind, alertKey, payload, allWebhooks: test, ...(test ? { resolvedBy: 'system:ended' } : {}) });
  if (raised === null) return null;
  await appendAudit(tx, {
    actor,
    action: 'alert.raised',
    target: { kind: 'alert', id: raised.alert.id },
    outcome: 'success',
    after: { kind, key: alertKey, webhooks: raised.deliveries },
  });
  return raised.alert;
}

/** The JSON body a webhook receives; the same bytes on every attempt of a delivery. */
export function eventBody(alert: AlertRecord): string {
  return JSON.stringify({
    id: alert.id,
    type: alert.kind,
    created_at: alert.createdAt.toISOString(),
    tenant_id: alert.tenantId,
    data: alert.payload,
  });
}
