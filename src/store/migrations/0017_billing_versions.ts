import type { Migration } from './types.js';

/**
 * Billing, second part (DESIGN §13 "Billing"): price versions on usage, plan history for
 * proration, the platform billing role, and what an issued invoice needs to be recomputed.
 *
 * - usage_rollups.price_version: the price-book version the events' cost came from (the events
 *   carry it since 0013). A rollup dimension, so an invoice line can name its version and still
 *   be recomputed from the rollups alone; usage_rollups_key keeps its name (the ingest statement
 *   names it) and gains the column. The platform role gets no grant on it.
 * - price_book.source: 'config' for the versions the gateway syncs from its configured
 *   deployments at start-up, 'admin' for those added through the admin API. Start-up compares the
 *   configuration with the latest 'config' version only, so a restart never undoes a price an
 *   operator set through the API (the newest version in force wins, whichever its source). The
 *   rows already there came from the sync: they keep 'config'; new rows must say which.
 * - admin_keys: platform_billing is a platform role (reads usage, invoices and chargeback of every
 *   tenant, closes periods; changes nothing else). The two CHECKs naming the platform roles are
 *   found by their text rather than by name (their names were chosen by PostgreSQL) and replaced.
 * - tenant_plan_history: which plan a tenant was on from when (insert-only: no UPDATE or DELETE
 *   grant), written by a trigger on tenants in the transaction that changes the plan, so every
 *   path (admin API, `gatehouse apply`, the CLI) records it. clock_timestamp(), not now(): a
 *   tenant created and moved in one transaction gets two ordered rows. Existing tenants get one
 *   row from their creation (read with FORCE lifted for this transaction, as 0008 did). No foreign
 *   key to plans: a plan that was used may later be deleted; billing prices its time at list.
 * - invoices.segments: the plans of the period with their pricing as applied, so an issued
 *   invoice is recomputed from the rollups and these alone. NULL on invoices issued before.
 */
const sql = /* sql */ `
ALTER TABLE usage_rollups ADD COLUMN price_version text CHECK (price_version IS NULL OR length(price_version) <= 128);
ALTER TABLE usage_rollups DROP CONSTRAINT usage_rollups_key;
ALTER TABLE usage_rollups ADD CONSTRAINT usage_rollups_key UNIQUE NULLS NOT DISTINCT
  (tenant_id, granularity, bucket_start, team_id, key_id, model, deployment_id, region, status_class, price_version);

ALTER TABLE price_book ADD COLUMN source text NOT NULL DEFAULT 'config' CHECK (source IN ('config', 'admin'));
ALTER TABLE price_book ALTER COLUMN source DROP DEFAULT;

DO $$
DECLARE
  c record;
BEGIN
  FOR c IN SELECT conname FROM pg_constraint
           WHERE conrelid = 'admin_keys'::regclass AND contype = 'c' AND pg_get_constraintdef(oid) LIKE '%platform_auditor%'
  LOOP
    EXECUTE format('ALTER TABLE admin_keys DROP CONSTRAINT %I', c.conname);
  END LOOP;
END
$$;
ALTER TABLE admin_keys ADD CONSTRAINT admin_keys_role_check
  CHECK (role IN ('platform_admin', 'platform_auditor', 'platform_billing', 'tenant_admin', 'tenant_developer',
                  'tenant_billing', 'tenant_viewer', 'tenant_auditor'));
ALTER TABLE admin_keys ADD CONSTRAINT admin_keys_platform_scope_check
  CHECK ((tenant_id = '00000000-0000-0000-0000-000000000000'::uuid) = (role IN ('platform_admin', 'platform_auditor', 'platform_billing')));

CREATE TABLE tenant_plan_history (
  tenant_id uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  id uuid NOT NULL DEFAULT gen_random_uuid(),
  plan_id uuid,
  effective_from timestamptz NOT NULL DEFAULT clock_timestamp(),
  PRIMARY KEY (tenant_id, id)
);
CREATE INDEX tenant_plan_history_time_idx ON tenant_plan_history (tenant_id, effective_from);

ALTER TABLE tenants NO FORCE ROW LEVEL SECURITY;
INSERT INTO tenant_plan_history (tenant_id, plan_id, effective_from) SELECT id, plan_id, created_at FROM tenants;
ALTER TABLE tenants FORCE ROW LEVEL SECURITY;

ALTER TABLE tenant_plan_history ENABLE ROW LEVEL SECURITY;
ALTER TABLE tenant_plan_history FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON tenant_plan_history
  USING (tenant_id = gatehouse_current_tenant()) WITH CHECK (tenant_id = gatehouse_current_tenant());
GRANT SELECT, INSERT ON tenant_plan_history TO gatehouse_app;

CREATE FUNCTION gatehouse_record_plan() RETURNS trigger
  LANGUAGE plpgsql SECURITY INVOKER
AS $$
BEGIN
  INSERT INTO tenant_plan_history (tenant_id, plan_id, effective_from) VALUES (NEW.id, NEW.plan_id, clock_timestamp());
  RETURN NULL;
END
$$;
CREATE TRIGGER record_plan_on_insert AFTER INSERT ON tenants FOR EACH ROW EXECUTE FUNCTION gatehouse_record_plan();
CREATE TRIGGER record_plan_on_change AFTER UPDATE OF plan_id ON tenants FOR EACH ROW
  WHEN (OLD.plan_id IS DISTINCT FROM NEW.plan_id) EXECUTE FUNCTION gatehouse_record_plan();

ALTER TABLE invoices ADD COLUMN segments jsonb CHECK (segments IS NULL OR jsonb_typeof(segments) = 'array');
`;

export const migration0017: Migration = { id: 17, name: 'billing_versions', sql };
