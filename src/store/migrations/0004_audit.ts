import type { Migration } from './types.js';

/**
 * The per-tenant, hash-chained audit log (DESIGN §3.4, §12 "Audit"; hashing in src/audit/).
 *
 * audit_entries: append-only for the gateway. gatehouse_app gets INSERT and SELECT, never
 * UPDATE, DELETE or TRUNCATE, so a compromised gateway can add entries but cannot change or
 * remove history. (The owner still can: that is what the hash chain and the checkpoint detect.)
 *
 * audit_checkpoints: one row per tenant holding the chain head (seq, hash). It lives outside
 * audit_entries so that deleting the newest entries (a cut tail, which leaves a chain that is
 * internally consistent) is detected: the head no longer matches the last entry. Who may write
 * it, and why a mutable row guarded by a trigger rather than an insert-only history:
 * - gatehouse_app must advance it in the same transaction as each append, so it gets INSERT
 *   and UPDATE of (seq, hash, at) only: no DELETE, and tenant_id is not updatable.
 * - The trigger below lets an insert create only the genesis head (seq 0, zero hash) and lets an
 *   update only move seq forward. The app role can therefore neither rewind the head to hide a
 *   cut tail nor plant a head of its choosing in a fresh row. Moving it forward to a wrong hash
 *   only makes the chain fail verification, which is loud, not hidden.
 * - The row doubles as the per-tenant append lock (SELECT ... FOR UPDATE), which keeps seq
 *   gapless and the chain unforked under concurrent appends. An insert-only history would need
 *   a second lock (advisory) and one extra row per entry for the same guarantee.
 * - The trigger function is SECURITY INVOKER and owned by the migration owner: the app role can
 *   neither replace nor disable it.
 *
 * Both tables: tenant_id NOT NULL, RLS ENABLE + FORCE, the tenant_isolation policy with USING and
 * WITH CHECK (as 0001). No foreign key to tenants, on purpose: ON DELETE CASCADE would let the
 * app role (which may delete its tenant row) erase the trail through it, and without a cascade
 * the trail would block purging a tenant. The trail outlives its tenant; removing it is a
 * retention decision taken by the owner. It also lets the reserved platform scope
 * (00000000-0000-0000-0000-000000000000, see the admin migration) keep a chain of its own.
 *
 * gatehouse_platform gets nothing here: audit content names users, targets and addresses, and the
 * fleet views need none of it (DESIGN §3: no grant on content, secrets or logs).
 */
const sql = /* sql */ `
CREATE TABLE audit_entries (
  tenant_id uuid NOT NULL,
  seq bigint NOT NULL CHECK (seq >= 1),
  id uuid NOT NULL,
  at timestamptz NOT NULL,
  actor_kind text NOT NULL CHECK (actor_kind ~ '^[a-z][a-z0-9_]{0,31}$'),
  actor_id text CHECK (length(actor_id) BETWEEN 1 AND 256),
  action text NOT NULL CHECK (length(action) <= 128 AND action ~ '^[a-z][a-z0-9_]*(\\.[a-z][a-z0-9_]*)+$'),
  target_kind text CHECK (target_kind ~ '^[a-z][a-z0-9_]{0,31}$'),
  target_id text CHECK (length(target_id) BETWEEN 1 AND 256),
  outcome text NOT NULL CHECK (outcome IN ('success', 'failure', 'denied')),
  source_ip inet,
  request_id text CHECK (length(request_id) BETWEEN 1 AND 128),
  -- Redacted by the writer (src/audit/redact.ts) before hashing; never secrets.
  before jsonb,
  after jsonb,
  prev_hash bytea NOT NULL CHECK (length(prev_hash) = 32),
  hash bytea NOT NULL CHECK (length(hash) = 32),
  -- Envelope and canonical-serialisation version: verification hashes each row by its own rules.
  version smallint NOT NULL CHECK (version >= 1),
  PRIMARY KEY (tenant_id, seq),
  UNIQUE (tenant_id, id),
  CHECK (target_id IS NULL OR target_kind IS NOT NULL)
);
CREATE INDEX audit_entries_tenant_at_idx ON audit_entries (tenant_id, at);
CREATE INDEX audit_entries_tenant_action_idx ON audit_entries (tenant_id, action, seq);

CREATE TABLE audit_checkpoints (
  tenant_id uuid NOT NULL PRIMARY KEY,
  seq bigint NOT NULL CHECK (seq >= 0),
  hash bytea NOT NULL CHECK (length(hash) = 32),
  at timestamptz NOT NULL DEFAULT now()
);

CREATE FUNCTION audit_checkpoint_forward_only() RETURNS trigger
  LANGUAGE plpgsql SECURITY INVOKER
  AS $$
BEGIN
  IF TG_OP = 'INSERT' THEN
    IF NEW.seq <> 0 OR NEW.hash <> '\\x0000000000000000000000000000000000000000000000000000000000000000'::bytea THEN
      RAISE EXCEPTION 'an audit checkpoint starts at the genesis head (seq 0, zero hash)'
        USING ERRCODE = 'check_violation';
    END IF;
  ELSIF NEW.tenant_id IS DISTINCT FROM OLD.tenant_id OR NEW.seq <= OLD.seq THEN
    RAISE EXCEPTION 'an audit checkpoint only moves forward (seq % to %)', OLD.seq, NEW.seq
      USING ERRCODE = 'check_violation';
  END IF;
  RETURN NEW;
END
$$;

CREATE TRIGGER audit_checkpoint_forward_only BEFORE INSERT OR UPDATE ON audit_checkpoints
  FOR EACH ROW EXECUTE FUNCTION audit_checkpoint_forward_only();

DO $$
DECLARE
  t text;
BEGIN
  FOREACH t IN ARRAY ARRAY['audit_entries', 'audit_checkpoints'] LOOP
    EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);
    EXECUTE format('ALTER TABLE %I FORCE ROW LEVEL SECURITY', t);
    EXECUTE format('CREATE POLICY tenant_isolation ON %I USING (tenant_id = gatehouse_current_tenant()) '
                   'WITH CHECK (tenant_id = gatehouse_current_tenant())', t);
  END LOOP;
END
$$;

GRANT SELECT, INSERT ON audit_entries TO gatehouse_app;
GRANT SELECT, INSERT ON audit_checkpoints TO gatehouse_app;
GRANT UPDATE (seq, hash, at) ON audit_checkpoints TO gatehouse_app;
`;

export const migration0004: Migration = { id: 4, name: 'audit', sql };
