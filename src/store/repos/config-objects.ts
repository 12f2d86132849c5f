/**
 * What counts against a tenant's `config_objects` storage quota (src/limits/types.ts), counted in
 * one statement inside the tenant transaction: row-level security confines every subquery to the
 * transaction's tenant, so no other tenant's rows are ever read.
 *
 * Counted: teams, users, service accounts, API keys that still work (neither revoked nor expired:
 * a revoked or expired key is history, kept for the audit trail), policies, domains, provider
 * credentials, webhooks, limit rules, dedicated deployments and model aliases. Not counted: memberships (a user's roles, bounded by the
 * role list), admin keys (credentials of the people and accounts already counted), JWT issuers
 * and the tenant's own row.
 */
import type { TenantTx } from '../types.js';

/** The tables counted, each with the rows that count: one place to add a kind of object. */
const COUNTED = [
  'SELECT count(*) FROM teams',
  'SELECT count(*) FROM users',
  'SELECT count(*) FROM service_accounts',
  'SELECT count(*) FROM api_keys WHERE revoked_at IS NULL AND (expires_at IS NULL OR expires_at > now())',
  'SELECT count(*) FROM policies',
  'SELECT count(*) FROM tenant_domains',
  'SELECT count(*) FROM provider_credentials',
  'SELECT count(*) FROM webhooks',
  'SELECT count(*) FROM limit_rules',
  'SELECT count(*) FROM tenant_deployments',
  'SELECT count(*) FROM tenant_model_aliases',
] as const;

const COUNT_SQL = `SELECT (${COUNTED.map((q) => `(${q})`).join(' + ')})::text AS n`;

/**
 * Transaction-scoped advisory lock keyed on the tenant: the first number namespaces these locks
 * (the migrator's lock is a one-number key, a separate key space). A row lock on the tenant would
 * also serialise, but it conflicts with the key-share locks every foreign key to tenants takes,
 * which could deadlock against a concurrent update; an advisory lock conflicts only with itself.
 * A hash collision between two tenants only serialises their creates, never miscounts.
 */
const LOCK_SQL = "SELECT pg_advisory_xact_lock(1701209457, hashtext('config_objects:' || $1::text))";

export const configObjectsRepo = {
  /** Serialises this tenant's object creations until the transaction ends. */
  async lock(tx: TenantTx): Promise<void> {
    await tx.query(LOCK_SQL, [tx.tenantId]);
  },

  /** How many configuration objects the transaction's tenant holds now. */
  async count(tx: TenantTx): Promise<number> {
    const { rows } = await tx.query<{ n: string }>(COUNT_SQL);
    return Number(rows[0]?.n ?? 0);
  },
};
