import type { Migration } from './types.js';

/**
 * Alerts and their webhook deliveries (issue 6, "Alerts, anomalies, forecasts").
 *
 * - `alerts`: one row per raised alert. `alert_key` names the occurrence (e.g. a budget rule, the
 *   start of its window and the threshold crossed); the unique (tenant_id, alert_key) makes raising
 *   idempotent, so several replicas evaluating the same crossing raise it once.
 * - `alert_deliveries`: the durable outbox, one row per (alert, webhook), written in the alert's
 *   own transaction. Workers claim due rows with FOR UPDATE SKIP LOCKED and a lease
 *   (`lease_until` + `claim_id`), call the webhook outside any transaction, then record the result
 *   only if they still hold the claim. A crash between claim and result leaves the lease to expire
 *   and the row is retried: delivery is at least once, and `x-gatehouse-event-id` (the alert id)
 *   lets a receiver drop the rare duplicate.
 *
 * The platform role sees only when deliveries are due (to find tenants with work), never payloads
 * or outcomes.
 */
const sql = /* sql */ `
CREATE TABLE alerts (
  tenant_id uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  id uuid NOT NULL,
  kind text NOT NULL CHECK (kind IN ('budget.threshold', 'budget.forecast', 'usage.anomaly', 'webhook.test')),
  alert_key text NOT NULL CHECK (length(alert_key) BETWEEN 1 AND 512),
  payload jsonb NOT NULL,
  -- Milliseconds: the admin API's page cursor carries this time as JavaScript reads it.
  created_at timestamptz NOT NULL DEFAULT date_trunc('milliseconds', now()),
  PRIMARY KEY (tenant_id, id),
  UNIQUE (tenant_id, alert_key)
);
CREATE INDEX alerts_tenant_created_idx ON alerts (tenant_id, created_at DESC, id);

CREATE TABLE alert_deliveries (
  tenant_id uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  id uuid NOT NULL,
  alert_id uuid NOT NULL,
  webhook_id uuid NOT NULL,
  state text NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'delivered', 'failed')),
  attempts integer NOT NULL DEFAULT 0 CHECK (attempts >= 0),
  next_attempt_at timestamptz NOT NULL DEFAULT now(),
  lease_until timestamptz,
  claim_id uuid,
  last_status integer,
  last_error text CHECK (last_error IS NULL OR length(last_error) <= 1024),
  delivered_at timestamptz,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant_id, id),
  UNIQUE (tenant_id, alert_id, webhook_id),
  FOREIGN KEY (tenant_id, alert_id) REFERENCES alerts (tenant_id, id) ON DELETE CASCADE,
  FOREIGN KEY (tenant_id, webhook_id) REFERENCES webhooks (tenant_id, id) ON DELETE CASCADE
);
CREATE INDEX alert_deliveries_due_idx ON alert_deliveries (tenant_id, next_attempt_at) WHERE state = 'pending';
CREATE INDEX alert_deliveries_webhook_idx ON alert_deliveries (tenant_id, webhook_id);

DO $$
DECLARE
  t text;
BEGIN
  FOREACH t IN ARRAY ARRAY['alerts', 'alert_deliveries'] LOOP
    EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);
    EXECUTE format('ALTER TABLE %I FORCE ROW LEVEL SECURITY', t);
    EXECUTE format('CREATE POLICY tenant_isolation ON %I USING (tenant_id = gatehouse_current_tenant()) '
                   'WITH CHECK (tenant_id = gatehouse_current_tenant())', t);
  END LOOP;
END
$$;
CREATE POLICY platform_read ON alert_deliveries FOR SELECT TO gatehouse_platform USING (true);

-- Alerts are an append-only record for the tenant role (no UPDATE of what was raised).
GRANT SELECT, INSERT ON alerts TO gatehouse_app;
GRANT SELECT, INSERT, UPDATE ON alert_deliveries TO gatehouse_app;
GRANT SELECT (tenant_id, state, next_attempt_at) ON alert_deliveries TO gatehouse_platform;
`;

export const migration0014: Migration = { id: 14, name: 'alerts', sql };
