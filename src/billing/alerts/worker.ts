/**
 * The webhook delivery worker: drains the durable outbox (alert_deliveries). Every replica may
 * run one; rows are claimed with SKIP LOCKED and a lease, the HTTP call happens outside any
 * transaction, and the outcome is written only while the claim still holds. A delivery is
 * retried with backoff (backoff.ts) until it succeeds or runs out of attempts; both ends are
 * audited in the tenant's log.
 */
import { appendAudit } from '../../audit/index.js';
import type { Logger } from '../../observability/logger.js';
import type { OutboundGuard } from '../../providers/types.js';
import { alertsRepo, webhooksRepo, type ClaimedDelivery, type DeliveryOutcome, type FieldSealer, type Store } from '../../store/index.js';
import { retryDelayMs, type BackoffPolicy } from './backoff.js';
import { deliver, type DeliveryAttempt } from './deliver.js';
import { periodicRounds, type PeriodicRounds } from '../../periodic.js';
import { inParallel } from '../../parallel.js';
import { ALERTS_ACTOR, eventBody } from './raise.js';
import { EVENT_ID_HEADER, signPayload, SIGNATURE_HEADER } from './signature.js';

export interface DeliveryWorkerOptions {
  store: Pick<Store, 'withTenant' | 'platform'>;
  sealer: FieldSealer;
  backoff: BackoffPolicy;
  /** How often to look for due deliveries, ms. */
  intervalMs: number;
  /** Per HTTP attempt, ms. */
  timeoutMs: number;
  /** Deliveries claimed per tenant per round. */
  batchSize?: number;
  /** Tenants whose deliveries are attempted at the same time (default 8). */
  tenantsAtOnce?: number;
  logger?: Logger;
  /** The SSRF guard for tenant-set URLs (src/routing/ssrf.ts); none only in tests. */
  guard?: OutboundGuard;
  /** Tests: the HTTP call. */
  send?: typeof deliver;
  random?: () => number;
}

/** runOnce(): one round over every tenant with due deliveries; resolves with the attempts made. */
export type DeliveryWorker = PeriodicRounds;

function outcomeOf(attempt: DeliveryAttempt, attempts: number, opts: DeliveryWorkerOptions): DeliveryOutcome {
  if (attempt.ok) return { kind: 'delivered', status: attempt.status ?? 200 };
  const error = attempt.error ?? 'failed';
  const inMs = retryDelayMs(opts.backoff, attempts, opts.random);
  return inMs === null ? { kind: 'failed', status: attempt.status, error } : { kind: 'retry', status: attempt.status, error, inMs };
}

export function createDeliveryWorker(opts: DeliveryWorkerOptions): DeliveryWorker {
  const send = opts.send ?? deliver;
  const batchSize = opts.batchSize ?? 20;
  const lanes = opts.tenantsAtOnce ?? 8;
  // A lease outlives the attempt, so a slow receiver is never delivered to twice concurrently.
  const leaseMs = opts.timeoutMs * 2 + 10_000;

  async function attemptOne(tenantId: string, d: ClaimedDelivery, secret: string): Promise<void> {
    const body = eventBody(d.alert);
    const headers = { [SIGNATURE_HEADER]: signPayload(secret, body, Math.floor(Date.now() / 1000)), [EVENT_ID_HEADER]: d.alert.id };
    const attempt = await send(d.url, body, headers, opts.timeoutMs, opts.guard);
    const outcome = outcomeOf(attempt, d.attempts, opts);
    await opts.store.withTenant(tenantId, async (tx) => {
      if (!(await alertsRepo.complete(tx, d, outcome))) return; // the claim was lost: its new holder reports
      if (outcome.kind === 'retry') return;
      await appendAudit(tx, {
        actor: ALERTS_ACTOR,
        action: outcome.kind === 'delivered' ? 'alert.delivered' : 'alert.delivery_failed',
        target: { kind: 'alert', id: d.alert.id },
        outcome: outcome.kind === 'delivered' ? 'success' : 'failure',
        after: { webhook_id: d.webhookId, attempts: d.attempts, status: outcome.status, ...(outcome.kind === 'failed' ? { error: outcome.error } : {}) },
      });
    });
    if (outcome.kind !== 'delivered') opts.logger?.warn({ tenantId, alertId: d.alert.id, webhookId: d.webhookId, attempts: d.attempts, error: outcome.error }, 'webhook delivery failed');
  }

  async function tenantRound(tenantId: string): Promise<number> {
    const claimed = await opts.store.withTenant(tenantId, async (tx) => {
      const rows = await alertsRepo.claimDue(tx, { limit: batchSize, leaseMs });
      const secrets = new Map<string, string | null>();
      for (const d of rows) {
        if (!secrets.has(d.webhookId)) secrets.set(d.webhookId, await webhooksRepo.readSecret(tx, opts.sealer, d.webhookId));
      }
      return rows.map((d) => ({ d, secret: secrets.get(d.webhookId) ?? null }));
    });
    await Promise.all(
      claimed.map(async ({ d, secret }) => {
        if (secret === null) return; // webhook deleted meanwhile: its deliveries went with it
        try {
          await attemptOne(tenantId, d, secret);
        } catch (err) {
          // The lease expires and the delivery is retried: nothing is lost.
          opts.logger?.error({ err, tenantId, deliveryId: d.id }, 'webhook delivery bookkeeping failed');
        }
      }),
    );
    return claimed.length;
  }

  // Tenants in lanes, not one after another: a receiver that stalls until the timeout holds up
  // its own lane only, not every other tenant's alerts behind it.
  async function round(stopped: () => boolean): Promise<number> {
    const tenants = await opts.store.platform((tx) => alertsRepo.dueTenants(tx, 1000));
    let n = 0;
    await inParallel(tenants, lanes, async (t) => {
      if (stopped()) return;
      try {
        // Not `n += await ...`: that reads `n` before the await and loses the other lanes' counts.
        const sent = await tenantRound(t);
        n += sent;
      } catch (err) {
        opts.logger?.error({ err, tenantId: t }, 'webhook delivery round failed');
      }
    });
    return n;
  }

  return periodicRounds(round, {
    intervalMs: opts.intervalMs,
    onError: (err) => opts.logger?.error({ err }, 'webhook delivery round failed'),
  });
}
