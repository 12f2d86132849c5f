import type { Migration } from './types.js';

/**
 * The rest of issue 6 (alerts, anomalies, forecasts, retention):
 *
 * - Alerts end. `resolved_at`/`resolved_by` record when and by whom (an admin, the job when an
 *   anomaly's pattern is back to normal or a budget window has reset). The gateway role may set
 *   only these two columns (a column grant): what was raised stays as it was raised.
 * - Retention by the gateway role, never of work still to do: DELETE on alerts and deliveries,
 *   narrowed by RESTRICTIVE policies (AND-ed with tenant_isolation) to resolved alerts and to
 *   deliveries that are no longer pending. A restrictive policy can only take rows away, so the
 *   isolation audit accepts it beside the tenant policy. The job also refuses to delete an alert
 *   with a pending delivery (the foreign key's cascade would otherwise take it along, and
 *   referential actions do not pass through row-level security).
 * - `anomaly_throttles`: one row per (tenant, metric) while an anomaly with the `throttle` action
 *   is open. It is snapshot data: the data plane reads it from the in-memory snapshot (a token
 *   bucket rule added to the tenant's limits), every replica hears a change through the same
 *   NOTIFY triggers as limit_rules, and the platform role reads it (metadata: a rate, no content)
 *   for full reloads. Deleting the alert (retention) takes its throttle along.
 * - schema_migrations: gatehouse_platform may read it, so a gateway that does not own the schema
 *   (production with separate migration credentials) can check at start that the database is at
 *   the version it was built for, instead of migrating.
 */
const sql = /* sql */ `
ALTER TABLE alerts
  ADD COLUMN resolved_at timestamptz,
  ADD COLUMN resolved_by text CHECK (resolved_by IS NULL OR length(resolved_by) BETWEEN 1 AND 256),
  ADD CONSTRAINT alerts_resolved_by_with_time CHECK ((resolved_at IS NULL) = (resolved_by IS NULL));
CREATE INDEX alerts_open_idx ON alerts (tenant_id, kind) WHERE resolved_at IS NULL;
CREATE INDEX alerts_resolved_idx ON alerts (tenant_id, resolved_at) WHERE resolved_at IS NOT NULL;
CREATE INDEX alert_deliveries_finished_idx ON alert_deliveries (tenant_id, updated_at) WHERE state <> 'pending';

GRANT UPDATE (resolved_at, resolved_by) ON alerts TO gatehouse_app;
GRANT DELETE ON alerts, alert_deliveries TO gatehouse_app;
CREATE POLICY retention_resolved_only ON alerts AS RESTRICTIVE FOR DELETE USING (resolved_at IS NOT NULL);
CREATE POLICY retention_finished_only ON alert_deliveries AS RESTRICTIVE FOR DELETE USING (state <> 'pending');

CREATE TABLE anomaly_throttles (
  tenant_id uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  metric text NOT NULL CHECK (metric IN ('requests', 'cost')),
  alert_id uuid NOT NULL,
  "window" text NOT NULL CHECK ("window" IN ('minute', 'hour')),
  "limit" bigint NOT NULL CHECK ("limit" BETWEEN 0 AND 1000000000000000),
  created_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant_id, metric),
  FOREIGN KEY (tenant_id, alert_id) REFERENCES alerts (tenant_id, id) ON DELETE CASCADE
);
CREATE INDEX anomaly_throttles_alert_idx ON anomaly_throttles (tenant_id, alert_id);
ALTER TABLE anomaly_throttles ENABLE ROW LEVEL SECURITY;
ALTER TABLE anomaly_throttles FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON anomaly_throttles USING (tenant_id = gatehouse_current_tenant())
  WITH CHECK (tenant_id = gatehouse_current_tenant());
CREATE POLICY platform_read ON anomaly_throttles FOR SELECT TO gatehouse_platform USING (true);
GRANT SELECT, INSERT, UPDATE, DELETE ON anomaly_throttles TO gatehouse_app;
GRANT SELECT ON anomaly_throttles TO gatehouse_platform;
CREATE TRIGGER gatehouse_notify_insert AFTER INSERT ON anomaly_throttles
  REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION gatehouse_notify_config();
CREATE TRIGGER gatehouse_notify_update AFTER UPDATE ON anomaly_throttles
  REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION gatehouse_notify_config();
CREATE TRIGGER gatehouse_notify_delete AFTER DELETE ON anomaly_throttles
  REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION gatehouse_notify_config();
CREATE TRIGGER gatehouse_notify_truncate AFTER TRUNCATE ON anomaly_throttles
  FOR EACH STATEMENT EXECUTE FUNCTION gatehouse_notify_config();

GRANT SELECT ON schema_migrations TO gatehouse_platform;
`;

export const migration0019: Migration = { id: 19, name: 'alert_lifecycle', sql };
