/**
 * A tenant's own limit rules (migration 0008): overrides of its plan's rules (same id) and rules
 * of its own. Written inside the tenant's transaction; the snapshot reads every tenant's through
 * the platform role (listSources). Callers validate rules with src/limits/rules-schema.ts (which
 * explains what is wrong); the table's CHECKs refuse any rule the limits layer could not read.
 */
import type { TenantLimitSource } from '../../limits/compose.js';
import type { AnomalyThrottle } from '../../limits/throttle.js';
import type { BudgetAction, LimitRule, LimitScope, LimitWindow, Metric, OwnedRule, RuleOwner } from '../../limits/types.js';
import type { PlatformTx, TenantTx } from '../types.js';
import { anomalyThrottlesRepo } from './anomaly-throttles.js';

export interface StoredLimitRule extends LimitRule {
  /** Who set it (migration 0020): a tenant role cannot change or delete a platform's rule. */
  owner: RuleOwner;
  tenantId: string;
  version: number;
  createdAt: Date;
  updatedAt: Date;
}

export type UpsertLimitRuleResult =
  | { ok: true; rule: StoredLimitRule; created: boolean }
  | { ok: false; reason: 'not_found' | 'version_mismatch' };

export type RemoveLimitRuleResult = { ok: true } | { ok: false; reason: 'not_found' | 'version_mismatch' };

interface RuleRow {
  tenant_id: string;
  id: string;
  scope: LimitScope;
  subject: string | null;
  metric: Metric;
  window: LimitWindow | null;
  limit: string | number;
  burst: string | number | null;
  models: string[] | null;
  owner: RuleOwner;
  version: string | number;
  created_at: Date;
  updated_at: Date;
}

const COLUMNS = 'tenant_id, id, scope, subject, metric, "window", "limit", burst, models, owner, version, created_at, updated_at';

function toRule(r: RuleRow): OwnedRule {
  return {
    id: r.id,
    scope: r.scope,
    subject: r.subject,
    metric: r.metric,
    window: r.window,
    limit: Number(r.limit),
    burst: r.burst === null ? null : Number(r.burst),
    models: r.models,
    owner: r.owner,
  };
}

function toStored(r: RuleRow): StoredLimitRule {
  return { ...toRule(r), owner: r.owner, tenantId: r.tenant_id, version: Number(r.version), createdAt: r.created_at, updatedAt: r.updated_at };
}

function ruleParams(rule: LimitRule, owner: RuleOwner): unknown[] {
  return [rule.id, rule.scope, rule.subject, rule.metric, rule.window, rule.limit, rule.burst, rule.models === null ? null : [...rule.models], owner];
}

export const limitRulesRepo = {
  /** The transaction's tenant's rules, ordered by id. */
  async list(tx: TenantTx): Promise<StoredLimitRule[]> {
    const { rows } = await tx.query<RuleRow>(`SELECT ${COLUMNS} FROM limit_rules ORDER BY id`);
    return rows.map(toStored);
  },

  async get(tx: TenantTx, id: string, opts: { forUpdate?: boolean } = {}): Promise<StoredLimitRule | null> {
    const sql = opts.forUpdate
      ? `SELECT ${COLUMNS} FROM limit_rules WHERE id = $1 FOR UPDATE`
      : `SELECT ${COLUMNS} FROM limit_rules WHERE id = $1`;
    const { rows } = await tx.query<RuleRow>(sql, [id]);
    return rows[0] === undefined ? null : toStored(rows[0]);
  },

  /**
   * Creates or replaces the rule with `rule.id`, written by `owner` (default 'platform': a
   * writer without a tenant role, the configuration file). With `version` (an If-Match), only
   * replaces an existing rule still at that version (`not_found` if there is none).
   */
  async upsert(tx: TenantTx, r: LimitRule, opts: { version?: number; owner?: RuleOwner } = {}): Promise<UpsertLimitRuleResult> {
    const owner = opts.owner ?? 'platform';
    if (opts.version !== undefined) {
      const { rows } = await tx.query<RuleRow>(
        `UPDATE limit_rules SET scope = $2, subject = $3, metric = $4, "window" = $5, "limit" = $6, burst = $7, models = $8::text[], owner = $9
         WHERE id = $1 AND version = $10 RETURNING ${COLUMNS}`,
        [...ruleParams(r, owner), opts.version],
      );
      if (rows[0] !== undefined) return { ok: true, rule: toStored(rows[0]), created: false };
      return (await limitRulesRepo.get(tx, r.id)) === null ? { ok: false, reason: 'not_found' } : { ok: false, reason: 'version_mismatch' };
    }
    // xmax is 0 exactly for a row this statement inserted (not one ON CONFLICT updated).
    const { rows } = await tx.query<RuleRow & { created: boolean }>(
      `INSERT INTO limit_rules (tenant_id, id, scope, subject, metric, "window", "limit", burst, models, owner)
       VALUES ($10, $1, $2, $3, $4, $5, $6, $7, $8::text[], $9)
       ON CONFLICT (tenant_id, id) DO UPDATE SET scope = EXCLUDED.scope, subject = EXCLUDED.subject, metric = EXCLUDED.metric,
         "window" = EXCLUDED."window", "limit" = EXCLUDED."limit", burst = EXCLUDED.burst, models = EXCLUDED.models,
         owner = EXCLUDED.owner
       RETURNING ${COLUMNS}, (xmax = 0) AS created`,
      [...ruleParams(r, owner), tx.tenantId],
    );
    const row = rows[0];
    if (row === undefined) throw new Error('expected the upsert to return a row');
    return { ok: true, rule: toStored(row), created: row.created };
  },

  async remove(tx: TenantTx, id: string, opts: { version?: number } = {}): Promise<RemoveLimitRuleResult> {
    const r = await tx.query('DELETE FROM limit_rules WHERE id = $1 AND ($2::bigint IS NULL OR version = $2::bigint)', [id, opts.version ?? null]);
    if (r.rowCount > 0) return { ok: true };
    return (await limitRulesRepo.get(tx, id)) === null ? { ok: false, reason: 'not_found' } : { ok: false, reason: 'version_mismatch' };
  },

  /**
   * Makes the tenant's rules exactly `rules` (configuration as code, so the platform's): upserts
   * each, deletes the others. Unchanged rules are rewritten with the same values, which neither
   * bumps their version nor announces a change.
   */
  async replaceAll(tx: TenantTx, rules: readonly LimitRule[]): Promise<void> {
    const ids = rules.map((r) => r.id);
    if (new Set(ids).size !== ids.length) throw new RangeError('replaceAll: rule ids must be unique');
    for (const rule of rules) await limitRulesRepo.upsert(tx, rule, { owner: 'platform' });
    await tx.query('DELETE FROM limit_rules WHERE NOT (id = ANY($1::text[]))', [ids]);
  },

  /**
   * Each tenant's plan, budget action, time zone, rules (with their owners), open anomaly
   * throttles and the rotation links of its keys (key-scoped rules follow a key through its
   * rotations): every tenant
   * through the platform role (the snapshot), or the transaction's own tenant. A change to
   * api_keys re-reads its tenant (the snapshot's notification), so rotations arrive here too.
   */
  async listSources(tx: PlatformTx | TenantTx): Promise<TenantLimitSource[]> {
    const tenants = await tx.query<{ id: string; plan_id: string | null; budget_action: BudgetAction | null; time_zone: string }>(
      'SELECT id, plan_id, budget_action, time_zone FROM tenants ORDER BY id',
    );
    const rules = await tx.query<RuleRow>(`SELECT ${COLUMNS} FROM limit_rules ORDER BY tenant_id, id`);
    const byTenant = new Map<string, OwnedRule[]>();
    for (const row of rules.rows) {
      const list = byTenant.get(row.tenant_id);
      if (list) list.push(toRule(row));
      else byTenant.set(row.tenant_id, [toRule(row)]);
    }
    const links = await tx.query<{ tenant_id: string; id: string; rotated_from: string }>(
      'SELECT tenant_id, id, rotated_from FROM api_keys WHERE rotated_from IS NOT NULL',
    );
    const rotations = new Map<string, Map<string, string>>();
    for (const l of links.rows) {
      let m = rotations.get(l.tenant_id);
      if (m === undefined) rotations.set(l.tenant_id, (m = new Map()));
      m.set(l.id, l.rotated_from);
    }
    // Open anomaly throttles travel with the limits: composeLimits adds a rule for each.
    const throttles = new Map<string, AnomalyThrottle[]>();
    for (const t of await anomalyThrottlesRepo.list(tx)) {
      const own = { metric: t.metric, window: t.window, limit: t.limit, alertId: t.alertId };
      const list = throttles.get(t.tenantId);
      if (list) list.push(own);
      else throttles.set(t.tenantId, [own]);
    }
    return tenants.rows.map((t) => {
      const rotatedFrom = rotations.get(t.id);
      const own = throttles.get(t.id);
      return {
        tenantId: t.id,
        planId: t.plan_id,
        budgetAction: t.budget_action,
        timeZone: t.time_zone,
        rules: byTenant.get(t.id) ?? [],
        ...(rotatedFrom !== undefined ? { rotatedFrom } : {}),
        ...(own !== undefined ? { throttles: own } : {}),
      };
    });
  },
};
