import type { Migration } from './types.js';

/**
 * Stored request logs (opt-in per tenant, src/logs/): one row per logged request, written in
 * batches off the request path.
 *
 * - request_logs: metadata in clear (ids, model, deployment, status, latency, tokens); the request
 *   and response content, when the tenant logs content, in `content`, sealed with the tenant's
 *   data key (src/crypto/envelope.ts; associated data: tenant, 'request_logs', the row id,
 *   'content', key version), so crypto-shredding the tenant makes it unreadable. `bytes` is what
 *   the row counts against the tenant's log_bytes quota. `request_id` is the client's
 *   X-Request-ID when it sent one, so it is not unique: the row id is.
 * - request_log_usage: the bytes each tenant holds, kept in the writer's and the retention job's
 *   transactions (a SUM over the log at every batch would grow with the log). Its row lock
 *   serialises concurrent writers of one tenant (replicas), so the quota cannot be overshot.
 * - limit_rules accept the `log_bytes` storage quota (the CHECKs of 0011 replaced, same shape as
 *   cache_bytes); the seeded plans gain a `log-bytes` rule (free 0, standard 256 MiB,
 *   enterprise 4 GiB) unless a plan already has a rule of that id.
 *
 * Rights: gatehouse_app may insert, read and delete log rows (retention runs as the app with the
 * tenant set), never update them. gatehouse_platform reads nothing of request_logs (no metadata
 * either: it is the tenant's traffic) and only which tenants hold logs (request_log_usage's
 * tenant_id), so the retention job knows whose transactions to open.
 */
const sql = /* sql */ `
ALTER TABLE limit_rules
  DROP CONSTRAINT limit_rules_metric_known,
  DROP CONSTRAINT limit_rules_window_iff_counted,
  DROP CONSTRAINT limit_rules_storage_quota_shape;

ALTER TABLE limit_rules
  ADD CONSTRAINT limit_rules_metric_known CHECK (metric IN
    ('requests', 'tokens', 'input_tokens', 'output_tokens', 'cost', 'compute_units', 'concurrency', 'config_objects', 'cache_bytes', 'log_bytes')),
  ADD CONSTRAINT limit_rules_window_iff_counted CHECK (("window" IS NULL) = (metric IN ('concurrency', 'config_objects', 'cache_bytes', 'log_bytes'))),
  ADD CONSTRAINT limit_rules_storage_quota_shape CHECK (metric NOT IN ('config_objects', 'cache_bytes', 'log_bytes')
    OR (scope = 'tenant' AND subject IS NULL AND "window" IS NULL AND burst IS NULL AND models IS NULL));

ALTER TABLE plans NO FORCE ROW LEVEL SECURITY;
UPDATE plans p SET rules = p.rules || jsonb_build_array(jsonb_build_object(
    'id', 'log-bytes', 'scope', 'tenant', 'subject', NULL, 'metric', 'log_bytes',
    'window', NULL, 'limit', q.quota, 'burst', NULL, 'models', NULL))
FROM (VALUES ('free', 0::bigint), ('standard', 268435456::bigint), ('enterprise', 4294967296::bigint)) AS q (name, quota)
WHERE p.name = q.name
  AND NOT p.rules @> '[{"id": "log-bytes"}]'::jsonb
  AND jsonb_array_length(p.rules) < 100;
ALTER TABLE plans FORCE ROW LEVEL SECURITY;

CREATE TABLE request_logs (
  tenant_id uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  id uuid NOT NULL,
  request_id text NOT NULL CHECK (length(request_id) BETWEEN 1 AND 256),
  -- When the request arrived, in milliseconds: the admin API's page cursor carries it as
  -- JavaScript reads it.
  occurred_at timestamptz NOT NULL,
  key_id uuid,
  team_id uuid,
  end_user text CHECK (end_user IS NULL OR length(end_user) BETWEEN 1 AND 256),
  operation text CHECK (operation IS NULL OR length(operation) <= 64),
  model text NOT NULL CHECK (length(model) <= 256),
  deployment_id text CHECK (deployment_id IS NULL OR length(deployment_id) <= 256),
  status smallint NOT NULL CHECK (status BETWEEN 0 AND 999),
  latency_ms integer NOT NULL CHECK (latency_ms >= 0),
  input_tokens integer CHECK (input_tokens IS NULL OR input_tokens >= 0),
  output_tokens integer CHECK (output_tokens IS NULL OR output_tokens >= 0),
  streamed boolean NOT NULL DEFAULT false,
  client_aborted boolean NOT NULL DEFAULT false,
  cache_hit boolean NOT NULL DEFAULT false,
  content bytea,
  key_version integer CHECK (key_version IS NULL OR key_version > 0),
  content_truncated boolean NOT NULL DEFAULT false,
  bytes integer NOT NULL CHECK (bytes >= 0),
  PRIMARY KEY (tenant_id, id),
  CHECK ((content IS NULL) = (key_version IS NULL))
);
CREATE INDEX request_logs_tenant_time_idx ON request_logs (tenant_id, occurred_at DESC, id DESC);
CREATE INDEX request_logs_tenant_request_idx ON request_logs (tenant_id, request_id);

CREATE TABLE request_log_usage (
  tenant_id uuid PRIMARY KEY REFERENCES tenants (id) ON DELETE CASCADE,
  bytes bigint NOT NULL DEFAULT 0 CHECK (bytes >= 0),
  entries bigint NOT NULL DEFAULT 0 CHECK (entries >= 0)
);

DO $$
DECLARE
  t text;
BEGIN
  FOREACH t IN ARRAY ARRAY['request_logs', 'request_log_usage'] LOOP
    EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);
    EXECUTE format('ALTER TABLE %I FORCE ROW LEVEL SECURITY', t);
    EXECUTE format('CREATE POLICY tenant_isolation ON %I USING (tenant_id = gatehouse_current_tenant()) '
                   'WITH CHECK (tenant_id = gatehouse_current_tenant())', t);
  END LOOP;
END
$$;
CREATE POLICY platform_read ON request_log_usage FOR SELECT TO gatehouse_platform USING (true);

GRANT SELECT, INSERT, DELETE ON request_logs TO gatehouse_app;
GRANT SELECT, INSERT, UPDATE ON request_log_usage TO gatehouse_app;
GRANT SELECT (tenant_id) ON request_log_usage TO gatehouse_platform;
`;

export const migration0018: Migration = { id: 18, name: 'request_logs', sql };
