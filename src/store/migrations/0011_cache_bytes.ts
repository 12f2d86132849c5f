import type { Migration } from './types.js';

/**
 * The `cache_bytes` storage quota (src/limits/types.ts): the bytes of response-cache entries a
 * tenant may hold (src/cache/), checked when an entry is stored, never charged by admission.
 *
 * - limit_rules: the named CHECKs of 0009 are replaced to accept 'cache_bytes' beside
 *   'config_objects', with the same "tenant-wide, nothing but a limit" shape.
 * - The seeded plans gain a `cache-bytes` rule (free 0: no response cache; standard 64 MiB;
 *   enterprise 1 GiB), unless a plan already has a rule of that id (an operator's own wins). As in
 *   0009, the owner lifts FORCE row-level security on plans for this transaction only.
 */
const sql = /* sql */ `
ALTER TABLE limit_rules
  DROP CONSTRAINT limit_rules_metric_known,
  DROP CONSTRAINT limit_rules_window_iff_counted,
  DROP CONSTRAINT limit_rules_storage_quota_shape;

ALTER TABLE limit_rules
  ADD CONSTRAINT limit_rules_metric_known CHECK (metric IN
    ('requests', 'tokens', 'input_tokens', 'output_tokens', 'cost', 'compute_units', 'concurrency', 'config_objects', 'cache_bytes')),
  ADD CONSTRAINT limit_rules_window_iff_counted CHECK (("window" IS NULL) = (metric IN ('concurrency', 'config_objects', 'cache_bytes'))),
  ADD CONSTRAINT limit_rules_storage_quota_shape CHECK (metric NOT IN ('config_objects', 'cache_bytes')
    OR (scope = 'tenant' AND subject IS NULL AND "window" IS NULL AND burst IS NULL AND models IS NULL));

ALTER TABLE plans NO FORCE ROW LEVEL SECURITY;
UPDATE plans p SET rules = p.rules || jsonb_build_array(jsonb_build_object(
    'id', 'cache-bytes', 'scope', 'tenant', 'subject', NULL, 'metric', 'cache_bytes',
    'window', NULL, 'limit', q.quota, 'burst', NULL, 'models', NULL))
FROM (VALUES ('free', 0::bigint), ('standard', 67108864::bigint), ('enterprise', 1073741824::bigint)) AS q (name, quota)
WHERE p.name = q.name
  AND NOT p.rules @> '[{"id": "cache-bytes"}]'::jsonb
  AND jsonb_array_length(p.rules) < 100;
ALTER TABLE plans FORCE ROW LEVEL SECURITY;
`;

export const migration0011: Migration = { id: 11, name: 'cache_bytes', sql };
