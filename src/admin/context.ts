/** What admin routes and services are handed: dependencies in, nothing stashed on requests. */
import type { Logger } from 'pino';
import type { AuditHeadSigner } from '../crypto/audit-head-key.js';
import type { ForecastInputs } from '../billing/alerts/job.js';
import type { AdminPrincipal } from '../identity/admin-principal.js';
import { PLATFORM_SCOPE_ID } from '../identity/roles.js';
import type { OutboundPolicy, Resolver } from '../routing/ssrf.js';
import type { FieldSealer, Store } from '../store/index.js';

export interface AdminEnv {
  store: Store;
  /** Keys the hashes of API keys and admin keys (src/crypto/keys.ts). */
  pepper: Buffer;
  /** Seals provider credentials and webhook secrets with the tenant's data key (src/crypto/envelope.ts). */
  sealer: FieldSealer;
  /** Signs audit heads handed to tenants, so they can keep their own copy (GET .../audit/head). */
  auditHeadSigner: AuditHeadSigner;
  /** Rules for addresses tenants set (src/routing/ssrf.ts): checked when they are saved. */
  outbound: OutboundPolicy;
  /** Host name resolution for that check; the system resolver when absent. */
  resolve?: Resolver;
  logger: Logger;
  now(): Date;
  /**
   * Called after a committed change in `tenantId` and awaited before the response, so this
   * gateway's data plane already serves the change when the caller hears of it (other replicas
   * follow through LISTEN/NOTIFY). One line in app.ts decides what it does.
   */
  onChange(tenantId: string): Promise<void>;
  /**
   * Called after a committed change to the plan catalogue and awaited before the response: a
   * plan names no tenant, yet every tenant on it must be served its new limits (other replicas
   * hear the catalogue's own notification).
   */
  onPlansChange(): Promise<void>;
  /** Called after a price-book version was added, awaited: this gateway re-reads the book (src/billing/price-follower.ts). */
  onPricesChange(): Promise<void>;
  /** DNS TXT lookup for proofs of domain ownership (node:dns by default; tests point it at their own server). */
  resolveTxt(name: string): Promise<string[][]>;
  /** The gateway's default retention of resolved alerts (alerts.retentionDays), shown in the alert settings. */
  alertRetentionDays?: number;
  /** What budget forecasts read besides the store: the limit counters (reservations) and compute-unit weights. */
  forecastInputs?: ForecastInputs;
}

/** Who is acting, from where: every service call and audit entry carries it. */
export interface Actor {
  principal: AdminPrincipal;
  requestId: string | null;
  sourceIp: string | null;
}

/** The tenant a tenant-scoped route acts in, resolved and checked against the principal. */
export interface TenantScope {
  id: string;
  slug: string;
  deleting: boolean;
}

/** After a committed plan change; like notifyChange, a failure is logged, never answered. */
export async function notifyPlansChange(env: AdminEnv): Promise<void> {
  try {
    await env.onPlansChange();
  } catch (err) {
    env.logger.error({ err }, 'admin: reloading the plan catalogue failed; it catches up on the next change');
  }
}

/** After a price-book change; like notifyChange, a failure is logged, never answered. */
export async function notifyPricesChange(env: AdminEnv): Promise<void> {
  try {
    await env.onPricesChange();
  } catch (err) {
    env.logger.error({ err }, 'admin: re-reading the price book failed; the periodic refresh catches up');
  }
}

/** Runs a committed-change notification without letting its failure undo the response. */
export async function notifyChange(env: AdminEnv, tenantId: string): Promise<void> {
  // The platform scope holds no data-plane configuration (only platform admin keys).
  if (tenantId === PLATFORM_SCOPE_ID) return;
  try {
    await env.onChange(tenantId);
  } catch (err) {
    env.logger.error({ err }, 'admin: reloading the configuration snapshot failed; it catches up on the next change');
  }
}
