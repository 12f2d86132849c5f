import type { Migration } from './types.js';

/**
 * The `config_objects` storage quota (src/limits/types.ts): how many configuration objects a
 * tenant may hold, checked by the admin API when one is created (src/admin/services/
 * storage-quota.ts), never charged by requests.
 *
 * - limit_rules: the metric CHECK of 0008 gains 'config_objects'; "no window" now means
 *   concurrency or a storage quota; and a storage quota is tenant-wide with nothing but a limit
 *   (the shape src/limits/rules-schema.ts enforces, with reasons). 0008 left its CHECKs unnamed,
 *   so the two it replaces are found by their definition; the new ones carry names.
 * - The seeded plans gain a `config-objects` rule (free 200, standard 10,000, enterprise
 *   1,000,000), unless a plan already has a rule of that id (an operator's own wins). Plans are
 *   FORCE row-level security with policies for the gateway roles only, so the owner that runs
 *   migrations lifts FORCE for this transaction (DDL is transactional: no one sees it lifted).
 */
const sql = /* sql */ `
DO $$
DECLARE
  c record;
BEGIN
  FOR c IN
    SELECT conname FROM pg_constraint
    WHERE conrelid = 'limit_rules'::regclass AND contype = 'c'
      AND pg_get_constraintdef(oid) LIKE '%metric%' AND pg_get_constraintdef(oid) LIKE '%concurrency%'
  LOOP
    EXECUTE format('ALTER TABLE limit_rules DROP CONSTRAINT %I', c.conname);
  END LOOP;
END
$$;

ALTER TABLE limit_rules
  ADD CONSTRAINT limit_rules_metric_known CHECK (metric IN
    ('requests', 'tokens', 'input_tokens', 'output_tokens', 'cost', 'compute_units', 'concurrency', 'config_objects')),
  ADD CONSTRAINT limit_rules_window_iff_counted CHECK (("window" IS NULL) = (metric IN ('concurrency', 'config_objects'))),
  ADD CONSTRAINT limit_rules_storage_quota_shape CHECK (metric <> 'config_objects'
    OR (scope = 'tenant' AND subject IS NULL AND "window" IS NULL AND burst IS NULL AND models IS NULL));

ALTER TABLE plans NO FORCE ROW LEVEL SECURITY;
UPDATE plans p SET rules = p.rules || jsonb_build_array(jsonb_build_object(
    'id', 'config-objects', 'scope', 'tenant', 'subject', NULL, 'metric', 'config_objects',
    'window', NULL, 'limit', q.quota, 'burst', NULL, 'models', NULL))
FROM (VALUES ('free', 200), ('standard', 10000), ('enterprise', 1000000)) AS q (name, quota)
WHERE p.name = q.name
  AND NOT p.rules @> '[{"id": "config-objects"}]'::jsonb
  AND jsonb_array_length(p.rules) < 100;
ALTER TABLE plans FORCE ROW LEVEL SECURITY;
`;

export const migration0009: Migration = { id: 9, name: 'config_objects', sql };
