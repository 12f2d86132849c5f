import type { Migration } from './types.js';

/**
 * Billing (DESIGN §5): the price book, plan pricing, issued invoices, and the platform's
 * aggregate read of the usage rollups.
 *
 * - price_book: a platform catalogue like plans (0008): no tenant_id, RLS ENABLE + FORCE, every
 *   gateway role reads it, only the platform scope inserts. Versioned by effective_from: a price
 *   change is a new row, never an edit (no UPDATE or DELETE grant at all), so past usage keeps
 *   its price (events also carry cost_micros and price_version from request time, 0013_usage).
 *   deployment_id NULL is the model's price for any deployment without its own row.
 * - plans.pricing: the plan's pricing document (base fee, request fee, markup, overrides,
 *   features, feature fees, commitment), validated by src/billing/plan-pricing.ts; NULL is list
 *   price with every feature. The platform role reads it (pricing is catalogue metadata).
 * - invoices: tenant-owned, issued once per tenant and period (UNIQUE (tenant_id, period)), never
 *   changed (the gateway role may INSERT and SELECT only). The platform role reads the totals
 *   columns only: not the lines (which models a tenant uses, and how much, is the tenant's).
 * - usage_rollups for the platform: numbers and catalogue dimensions (model, deployment, region,
 *   status) for fleet aggregates; no team or key ids, no raw events, no tags (tags are the
 *   tenant's own words). A platform_read policy like 0001's.
 */
const sql = /* sql */ `
CREATE TABLE price_book (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  model text NOT NULL CHECK (length(model) BETWEEN 1 AND 256),
  deployment_id text CHECK (deployment_id IS NULL OR length(deployment_id) BETWEEN 1 AND 256),
  effective_from timestamptz NOT NULL,
  input_per_mtok_micros bigint NOT NULL CHECK (input_per_mtok_micros >= 0),
  output_per_mtok_micros bigint NOT NULL CHECK (output_per_mtok_micros >= 0),
  cached_per_mtok_micros bigint NOT NULL CHECK (cached_per_mtok_micros >= 0),
  per_request_micros bigint NOT NULL CHECK (per_request_micros >= 0),
  currency text NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
  created_at timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT price_book_version UNIQUE NULLS NOT DISTINCT (model, deployment_id, effective_from)
);
ALTER TABLE price_book ENABLE ROW LEVEL SECURITY;
ALTER TABLE price_book FORCE ROW LEVEL SECURITY;
CREATE POLICY catalogue_read ON price_book FOR SELECT TO gatehouse_app, gatehouse_platform USING (true);
CREATE POLICY platform_insert ON price_book FOR INSERT TO gatehouse_app
  WITH CHECK (gatehouse_current_tenant() = '00000000-0000-0000-0000-000000000000'::uuid);
GRANT SELECT, INSERT ON price_book TO gatehouse_app;
GRANT SELECT ON price_book TO gatehouse_platform;

ALTER TABLE plans ADD COLUMN pricing jsonb
  CHECK (pricing IS NULL OR (jsonb_typeof(pricing) = 'object' AND octet_length(pricing::text) <= 65536));
GRANT SELECT (pricing) ON plans TO gatehouse_platform;
DROP TRIGGER bump_version ON plans;
CREATE TRIGGER bump_version BEFORE UPDATE ON plans FOR EACH ROW
  WHEN ((OLD.name, OLD.description, OLD.weight, OLD.budget_action, OLD.rules, OLD.pricing)
        IS DISTINCT FROM (NEW.name, NEW.description, NEW.weight, NEW.budget_action, NEW.rules, NEW.pricing))
  EXECUTE FUNCTION gatehouse_bump_version();
-- The seeded tiers: free has neither custom domains nor fallbacks; the paid tiers have a base fee.
UPDATE plans SET pricing = '{"currency": "USD", "baseFeeCents": 0, "features": {"caching": false, "fallbacks": false, "custom_domains": false, "log_retention_days": 0}}'::jsonb
  WHERE name = 'free';
UPDATE plans SET pricing = '{"currency": "USD", "baseFeeCents": 4900, "features": {"caching": true, "fallbacks": true, "custom_domains": true, "log_retention_days": 30}}'::jsonb
  WHERE name = 'standard';
UPDATE plans SET pricing = '{"currency": "USD", "baseFeeCents": 0, "features": {"caching": true, "fallbacks": true, "custom_domains": true, "log_retention_days": 365}}'::jsonb
  WHERE name = 'enterprise';

CREATE TABLE invoices (
  tenant_id uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  id uuid NOT NULL DEFAULT gen_random_uuid(),
  period text NOT NULL CHECK (period ~ '^[0-9]{4}-(0[1-9]|1[0-2])$'),
  period_start timestamptz NOT NULL,
  period_end timestamptz NOT NULL CHECK (period_end > period_start),
  currency text NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
  plan_id uuid,
  pricing jsonb NOT NULL,
  lines jsonb NOT NULL CHECK (jsonb_typeof(lines) = 'array'),
  commitment jsonb,
  usage_cents bigint NOT NULL,
  total_cents bigint NOT NULL,
  closing_credit_cents bigint,
  issued_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant_id, id),
  UNIQUE (tenant_id, period)
);
ALTER TABLE invoices ENABLE ROW LEVEL SECURITY;
ALTER TABLE invoices FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON invoices
  USING (tenant_id = gatehouse_current_tenant()) WITH CHECK (tenant_id = gatehouse_current_tenant());
CREATE POLICY platform_read ON invoices FOR SELECT TO gatehouse_platform USING (true);
GRANT SELECT, INSERT ON invoices TO gatehouse_app;
GRANT SELECT (tenant_id, id, period, period_start, period_end, currency, total_cents, issued_at) ON invoices TO gatehouse_platform;

CREATE POLICY platform_read ON usage_rollups FOR SELECT TO gatehouse_platform USING (true);
GRANT SELECT (tenant_id, granularity, bucket_start, model, deployment_id, region, status_class, requests, input_tokens,
  output_tokens, cached_tokens, cost_micros, latency_ms_sum, ttft_ms_sum, ttft_count, cache_hits)
  ON usage_rollups TO gatehouse_platform;
`;

export const migration0015: Migration = { id: 15, name: 'billing', sql };
