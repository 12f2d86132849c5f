/**
 * Reads the schema from the catalogue and lists every way it breaks the isolation rules of
 * DESIGN §3 and §12. Runs over whatever tables exist, so a future migration that forgets RLS,
 * FORCE, a policy or tenant_id fails the suite without anyone adding a test for its table.
 */
import type { Queryable } from '../../../src/store/index.js';

/** Tables that are platform-level by design (no tenant_id, no row-level security). */
export const PLATFORM_TABLES = new Set(['meta', 'schema_migrations']);

/**
 * Platform catalogue tables: no tenant_id because no tenant owns a row, yet the gateway role
 * writes them, so they must have row-level security ENABLE + FORCE, may be read by anyone the
 * gateway runs as, and may be written only in the platform scope (the all-zero tenant id). Each
 * entry says why the table is not tenant-owned; a table without tenant_id that is not listed
 * here or in PLATFORM_TABLES still fails the audit.
 */
export const PLATFORM_CATALOGUE_TABLES: ReadonlyMap<string, string> = new Map([
  ['plans', 'tiers are shared by every tenant on them; tenants hold a plan_id (0008_limits)'],
  ['price_book', 'list prices per model and deployment, versioned by effective_from, shared by every tenant (0015_billing)'],
]);

const PLATFORM_SCOPE = /gatehouse_current_tenant\(\) = '00000000-0000-0000-0000-000000000000'::uuid/;

/**
 * Unique indexes on tenant tables that do not lead with tenant_id, each global by nature
 * (see 0001_init.ts): uniqueness that must hold across tenants.
 */
export const GLOBAL_UNIQUE_INDEXES = new Set([
  'tenants_pkey',
  'tenants_slug_key',
  'tenant_domains_domain_key',
  'api_keys_key_hash_key',
]);

interface TableRow {
  relname: string;
  relrowsecurity: boolean;
  relforcerowsecurity: boolean;
  tenant_id_not_null: boolean | null;
  relkind: string;
}

interface PolicyRow {
  tablename: string;
  policyname: string;
  cmd: string;
  roles: string[];
  qual: string | null;
  with_check: string | null;
  permissive: string;
}

interface IndexRow {
  index: string;
  table: string;
  unique: boolean;
  columns: number;
  first_column: string | null;
}

/** What a catalogue table's policies may be: reads for the gateway roles, writes in the platform scope. */
function catalogueProblems(table: string, own: readonly PolicyRow[]): string[] {
  const problems: string[] = [];
  const roles = (p: PolicyRow) => [...p.roles].sort().join(',');
  for (const p of own) {
    if (p.cmd === 'SELECT') {
      if (roles(p) !== 'gatehouse_app,gatehouse_platform' && roles(p) !== 'gatehouse_app' && roles(p) !== 'gatehouse_platform') {
        problems.push(`${table}: unexpected policy ${p.policyname} (${p.cmd} to ${p.roles.join(',')})`);
      }
      continue;
    }
    const gated =
      roles(p) === 'gatehouse_app' &&
      (p.qual === null || PLATFORM_SCOPE.test(p.qual)) &&
      (p.with_check === null || PLATFORM_SCOPE.test(p.with_check)) &&
      (p.qual !== null || p.with_check !== null);
    if (!gated) problems.push(`${table}: write policy ${p.policyname} (${p.cmd} to ${p.roles.join(',')}) is not limited to the platform scope`);
  }
  if (!own.some((p) => p.cmd === 'SELECT')) problems.push(`${table}: no read policy`);
  return problems;
}

export async function auditTenantIsolation(
  tx: Queryable,
  catalogue: ReadonlyMap<string, string> = PLATFORM_CATALOGUE_TABLES,
): Promise<string[]> {
  const problems: string[] = [];
  const tables = (
    await tx.query<TableRow>(
      `SELECT c.relname, c.relrowsecurity, c.relforcerowsecurity, c.relkind,
              (SELECT a.attnotnull FROM pg_attribute a
               WHERE a.attrelid = c.oid AND a.attname = 'tenant_id' AND NOT a.attisdropped) AS tenant_id_not_null
       FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
       WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'p', 'v', 'm')`,
    )
  ).rows;
  const policies = (
    await tx.query<PolicyRow>(
      `SELECT tablename, policyname, cmd, roles::text[] AS roles, qual, with_check, permissive
       FROM pg_policies WHERE schemaname = current_schema()`,
    )
  ).rows;

  for (const t of tables) {
    if (t.relkind === 'v' || t.relkind === 'm') continue; // views: checked below
    if (t.tenant_id_not_null === null) {
      if (catalogue.has(t.relname)) {
        if (!t.relrowsecurity) problems.push(`${t.relname}: row-level security not enabled`);
        if (!t.relforcerowsecurity) problems.push(`${t.relname}: row-level security not forced`);
        problems.push(...catalogueProblems(t.relname, policies.filter((p) => p.tablename === t.relname)));
      } else if (!PLATFORM_TABLES.has(t.relname)) {
        problems.push(`${t.relname}: no tenant_id column and not a declared platform table`);
      }
      continue;
    }
    if (catalogue.has(t.relname)) problems.push(`${t.relname}: declared a platform catalogue table but has tenant_id`);
    if (!t.tenant_id_not_null) problems.push(`${t.relname}: tenant_id is nullable`);
    if (!t.relrowsecurity) problems.push(`${t.relname}: row-level security not enabled`);
    if (!t.relforcerowsecurity) problems.push(`${t.relname}: row-level security not forced`);
    const own = policies.filter((p) => p.tablename === t.relname);
    const isolation = own.filter(
      (p) =>
        p.cmd === 'ALL' &&
        p.roles.length === 1 &&
        p.roles[0] === 'public' &&
        /tenant_id = gatehouse_current_tenant\(\)/.test(p.qual ?? '') &&
        /tenant_id = gatehouse_current_tenant\(\)/.test(p.with_check ?? ''),
    );
    if (isolation.length !== 1) problems.push(`${t.relname}: no tenant policy with USING and WITH CHECK on gatehouse_current_tenant()`);
    for (const p of own) {
      if (isolation.includes(p)) continue;
      // A restrictive policy is AND-ed with the others: it can only take rows away.
      if (p.permissive === 'RESTRICTIVE') continue;
      // Permissive policies are OR-ed: any other policy widens access, so only the platform's
      // read-only one is allowed.
      if (!(p.cmd === 'SELECT' && p.roles.length === 1 && p.roles[0] === 'gatehouse_platform')) {
        problems.push(`${t.relname}: unexpected policy ${p.policyname} (${p.cmd} to ${p.roles.join(',')})`);
      }
    }
  }

  const views = tables.filter((t) => t.relkind === 'v');
  if (views.length > 0) {
    const { rows } = await tx.query<{ relname: string }>(
      `SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
       WHERE n.nspname = current_schema() AND c.relkind = 'v'
         AND NOT coalesce(c.reloptions @> ARRAY['security_invoker=true'], false)`,
    );
    for (const r of rows) problems.push(`${r.relname}: view is not security_invoker`);
  }

  const indexes = (
    await tx.query<IndexRow>(
      `SELECT ic.relname AS index, tc.relname AS table, i.indisunique AS unique, i.indnatts::int AS columns,
              (SELECT a.attname FROM pg_attribute a WHERE a.attrelid = i.indrelid AND a.attnum = i.indkey[0]) AS first_column
       FROM pg_index i
       JOIN pg_class ic ON ic.oid = i.indexrelid
       JOIN pg_class tc ON tc.oid = i.indrelid
       JOIN pg_namespace n ON n.oid = tc.relnamespace
       WHERE n.nspname = current_schema()`,
    )
  ).rows;
  const tenantTables = new Set(tables.filter((t) => t.tenant_id_not_null !== null).map((t) => t.relname));
  for (const ix of indexes) {
    if (!tenantTables.has(ix.table) || ix.first_column === 'tenant_id') continue;
    if (ix.unique && !GLOBAL_UNIQUE_INDEXES.has(ix.index)) problems.push(`${ix.index}: unique index on ${ix.table} does not lead with tenant_id`);
    if (!ix.unique && ix.columns > 1) problems.push(`${ix.index}: composite index on ${ix.table} does not lead with tenant_id`);
  }

  const definers = await tx.query<{ proname: string }>(
    `SELECT p.proname FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
     WHERE n.nspname = current_schema() AND p.prosecdef`,
  );
  for (const r of definers.rows) problems.push(`${r.proname}: SECURITY DEFINER function in an exposed schema`);

  return problems;
}
