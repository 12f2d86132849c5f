import type { Migration } from './types.js';

/**
 * Usage metering (DESIGN §5): one raw event per request, and hourly/daily rollups kept current in
 * the same transaction as the raw insert (src/store/repos/usage.ts).
 *
 * - usage_events: partitioned BY RANGE (occurred_at), one partition per UTC month
 *   (usage_events_YYYY_MM) plus usage_events_default, so an insert never fails for want of a
 *   partition (an event stamped by a badly skewed clock, or a month the maintenance job has not
 *   reached yet). gatehouse_usage_ensure_partition() makes a month's partition, first moving any
 *   rows of that range out of the default partition (ATTACH would refuse otherwise);
 *   gatehouse_usage_drop_partitions() drops whole months older than the platform's longest
 *   retention. Both run as the owner (DDL), from the maintenance job (src/metering/maintenance.ts).
 * - The idempotency key is (tenant_id, event_id, occurred_at): event_id is made by the gateway per
 *   request (the client's X-Request-ID may repeat, so it is only a column), and occurred_at is fixed
 *   when the event is made, so a re-shipped event lands in the same partition and conflicts.
 * - No foreign key to tenants (or teams, keys): events may arrive after their tenant, team or key
 *   was deleted (a spool replayed after an outage); a failing FK would wedge the shipper on that
 *   batch forever. Usage is a ledger of what happened, not a reference to live rows.
 * - Rights: gatehouse_app may INSERT and SELECT raw events, never UPDATE or DELETE them; per-tenant
 *   retention deletes as the owner with the tenant set (FORCE row-level security applies to the
 *   owner too). Rollups are upserted, so the app also has UPDATE on them, never DELETE.
 *   gatehouse_platform gets nothing here: fleet views of usage are aggregates and will read
 *   rollups through a grant added with them.
 * - Row-level security ENABLE + FORCE + tenant_isolation on the parent AND on every partition:
 *   queries through the parent use the parent's policy, but a partition is a table of its own
 *   that someone could name directly.
 * - usage_rollups: day buckets start at midnight in the tenant's time zone (tenants.time_zone at
 *   ingest), hour buckets on the UTC hour. UNIQUE NULLS NOT DISTINCT: team, key, deployment and
 *   region are often NULL, and NULL must be one group, not one row per event.
 */
const sql = /* sql */ `
CREATE TABLE usage_events (
  tenant_id uuid NOT NULL,
  event_id uuid NOT NULL,
  request_id text NOT NULL CHECK (length(request_id) BETWEEN 1 AND 256),
  occurred_at timestamptz NOT NULL,
  team_id uuid,
  key_id uuid,
  end_user text CHECK (end_user IS NULL OR length(end_user) BETWEEN 1 AND 256),
  tags text[] NOT NULL DEFAULT '{}' CHECK (cardinality(tags) <= 10),
  model text NOT NULL CHECK (length(model) <= 256),
  deployment_id text CHECK (deployment_id IS NULL OR length(deployment_id) <= 256),
  provider text CHECK (provider IS NULL OR length(provider) <= 64),
  region text CHECK (region IS NULL OR length(region) <= 64),
  input_tokens bigint NOT NULL DEFAULT 0 CHECK (input_tokens >= 0),
  output_tokens bigint NOT NULL DEFAULT 0 CHECK (output_tokens >= 0),
  cached_tokens bigint NOT NULL DEFAULT 0 CHECK (cached_tokens >= 0),
  cost_micros bigint NOT NULL DEFAULT 0 CHECK (cost_micros >= 0),
  price_version text CHECK (price_version IS NULL OR length(price_version) <= 128),
  latency_ms integer NOT NULL CHECK (latency_ms >= 0),
  ttft_ms integer CHECK (ttft_ms IS NULL OR ttft_ms >= 0),
  status smallint NOT NULL CHECK (status BETWEEN 0 AND 999),
  streamed boolean NOT NULL DEFAULT false,
  client_aborted boolean NOT NULL DEFAULT false,
  usage_estimated boolean NOT NULL DEFAULT false,
  cache_hit boolean NOT NULL DEFAULT false,
  UNIQUE (tenant_id, event_id, occurred_at)
) PARTITION BY RANGE (occurred_at);
CREATE INDEX usage_events_tenant_time_idx ON usage_events (tenant_id, occurred_at);

CREATE TABLE usage_events_default PARTITION OF usage_events DEFAULT;

ALTER TABLE usage_events ENABLE ROW LEVEL SECURITY;
ALTER TABLE usage_events FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON usage_events
  USING (tenant_id = gatehouse_current_tenant()) WITH CHECK (tenant_id = gatehouse_current_tenant());
ALTER TABLE usage_events_default ENABLE ROW LEVEL SECURITY;
ALTER TABLE usage_events_default FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON usage_events_default
  USING (tenant_id = gatehouse_current_tenant()) WITH CHECK (tenant_id = gatehouse_current_tenant());
GRANT SELECT, INSERT ON usage_events TO gatehouse_app;

-- The partition of the UTC month containing p_month; false if it already existed. Owner only
-- (DDL). SECURITY INVOKER like every function here (DESIGN §12).
CREATE FUNCTION gatehouse_usage_ensure_partition(p_month date) RETURNS boolean
  LANGUAGE plpgsql SECURITY INVOKER
AS $$
DECLARE
  m timestamp := date_trunc('month', p_month::timestamp);
  lo timestamptz := m AT TIME ZONE 'UTC';
  hi timestamptz := (m + interval '1 month') AT TIME ZONE 'UTC';
  part text := 'usage_events_' || to_char(m, 'YYYY_MM');
BEGIN
  IF to_regclass(part) IS NOT NULL THEN
    RETURN false;
  END IF;
  EXECUTE format('CREATE TABLE %I (LIKE usage_events INCLUDING DEFAULTS INCLUDING CONSTRAINTS)', part);
  -- Rows of this month that went to the default partition move first, or ATTACH fails. FORCE
  -- binds the owner too; it is lifted for this transaction only (DDL is transactional).
  ALTER TABLE usage_events_default NO FORCE ROW LEVEL SECURITY;
  EXECUTE format('WITH moved AS (DELETE FROM usage_events_default WHERE occurred_at >= $1 AND occurred_at < $2 RETURNING *)
                  INSERT INTO %I SELECT * FROM moved', part) USING lo, hi;
  ALTER TABLE usage_events_default FORCE ROW LEVEL SECURITY;
  EXECUTE format('ALTER TABLE usage_events ATTACH PARTITION %I FOR VALUES FROM (%L) TO (%L)', part, lo, hi);
  EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', part);
  EXECUTE format('ALTER TABLE %I FORCE ROW LEVEL SECURITY', part);
  EXECUTE format('CREATE POLICY tenant_isolation ON %I USING (tenant_id = gatehouse_current_tenant()) '
                 'WITH CHECK (tenant_id = gatehouse_current_tenant())', part);
  RETURN true;
END
$$;

-- Drops the monthly partitions that end at or before p_before; returns how many. The default
-- partition is never dropped.
CREATE FUNCTION gatehouse_usage_drop_partitions(p_before timestamptz) RETURNS integer
  LANGUAGE plpgsql SECURITY INVOKER
AS $$
DECLARE
  r record;
  n integer := 0;
BEGIN
  FOR r IN
    SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
    WHERE i.inhparent = 'usage_events'::regclass AND c.relname ~ '^usage_events_[0-9]{4}_[0-9]{2}$'
  LOOP
    IF ((to_date(substr(r.relname, 14), 'YYYY_MM')::timestamp + interval '1 month') AT TIME ZONE 'UTC') <= p_before THEN
      EXECUTE format('DROP TABLE %I', r.relname);
      n := n + 1;
    END IF;
  END LOOP;
  RETURN n;
END
$$;

-- This month and the next two exist from the start; the maintenance job keeps ahead after that.
SELECT gatehouse_usage_ensure_partition(((now() AT TIME ZONE 'UTC')::date + make_interval(months => k))::date)
FROM generate_series(0, 2) AS k;

CREATE TABLE usage_rollups (
  tenant_id uuid NOT NULL,
  granularity text NOT NULL CHECK (granularity IN ('hour', 'day')),
  bucket_start timestamptz NOT NULL,
  team_id uuid,
  key_id uuid,
  model text NOT NULL,
  deployment_id text,
  region text,
  status_class text NOT NULL CHECK (status_class IN ('ok', 'client_error', 'server_error', 'aborted')),
  requests bigint NOT NULL DEFAULT 0,
  input_tokens bigint NOT NULL DEFAULT 0,
  output_tokens bigint NOT NULL DEFAULT 0,
  cached_tokens bigint NOT NULL DEFAULT 0,
  cost_micros bigint NOT NULL DEFAULT 0,
  latency_ms_sum bigint NOT NULL DEFAULT 0,
  ttft_ms_sum bigint NOT NULL DEFAULT 0,
  ttft_count bigint NOT NULL DEFAULT 0,
  cache_hits bigint NOT NULL DEFAULT 0,
  CONSTRAINT usage_rollups_key UNIQUE NULLS NOT DISTINCT
    (tenant_id, granularity, bucket_start, team_id, key_id, model, deployment_id, region, status_class)
);

CREATE TABLE usage_tag_rollups (
  tenant_id uuid NOT NULL,
  granularity text NOT NULL CHECK (granularity IN ('hour', 'day')),
  bucket_start timestamptz NOT NULL,
  tag text NOT NULL,
  model text NOT NULL,
  requests bigint NOT NULL DEFAULT 0,
  input_tokens bigint NOT NULL DEFAULT 0,
  output_tokens bigint NOT NULL DEFAULT 0,
  cached_tokens bigint NOT NULL DEFAULT 0,
  cost_micros bigint NOT NULL DEFAULT 0,
  CONSTRAINT usage_tag_rollups_key UNIQUE (tenant_id, granularity, bucket_start, tag, model)
);

DO $$
DECLARE
  t text;
BEGIN
  FOREACH t IN ARRAY ARRAY['usage_rollups', 'usage_tag_rollups'] LOOP
    EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);
    EXECUTE format('ALTER TABLE %I FORCE ROW LEVEL SECURITY', t);
    EXECUTE format('CREATE POLICY tenant_isolation ON %I USING (tenant_id = gatehouse_current_tenant()) '
                   'WITH CHECK (tenant_id = gatehouse_current_tenant())', t);
    EXECUTE format('GRANT SELECT, INSERT, UPDATE ON %I TO gatehouse_app', t);
  END LOOP;
END
$$;
`;

export const migration0010: Migration = { id: 10, name: 'usage', sql };
