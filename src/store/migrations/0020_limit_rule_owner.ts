import type { Migration } from './types.js';

/**
 * Rule provenance (DESIGN §13 "Plan ceiling"):
 *
 * - limit_rules.owner: who set the rule. 'platform' (a platform admin, `gatehouse apply`, the
 *   configuration file) or 'tenant' (a tenant role, which writes only within its plan). A tenant
 *   role can neither change nor delete a platform's rule, and a tenant's override of a plan rule
 *   is clamped to the plan's rule if the plan is later lowered below it (src/limits/compose.ts);
 *   a platform's override stays as written (that is how one tenant is raised above its plan).
 *   The version (ETag) follows the owner too. The platform role reads it: the snapshot composes
 *   every tenant's limits from it.
 * - Existing rules: 'platform' where the rule goes beyond its plan's rule of the same id (a
 *   higher limit or burst, or another measure), since only a platform could write that; 'tenant'
 *   otherwise. A rule that was written within its plan and went beyond it only when the plan was
 *   lowered later becomes 'platform' too, so nothing that is enforced today changes under this
 *   migration; a platform admin may lower it.
 * - api_keys.rotated_from for the platform role: key-scoped rules follow a key through its
 *   rotations (a key is limited as the first key of its rotation chain), and the snapshot reads
 *   the chains of every tenant. A key id, like the ids it already reads.
 *
 * FORCE row-level security binds the owner that runs migrations too: it is lifted on the three
 * tables read here for this transaction only (DDL is transactional: no one sees it lifted).
 */
const sql = /* sql */ `
ALTER TABLE limit_rules
  ADD COLUMN owner text NOT NULL DEFAULT 'tenant' CONSTRAINT limit_rules_owner_known CHECK (owner IN ('tenant', 'platform'));

ALTER TABLE limit_rules NO FORCE ROW LEVEL SECURITY;
ALTER TABLE tenants NO FORCE ROW LEVEL SECURITY;
ALTER TABLE plans NO FORCE ROW LEVEL SECURITY;
UPDATE limit_rules r SET owner = 'platform'
FROM tenants t
JOIN plans p ON p.id = t.plan_id
CROSS JOIN LATERAL jsonb_array_elements(p.rules) AS e (rule)
WHERE t.id = r.tenant_id
  AND e.rule ->> 'id' = r.id
  AND (
    r."limit" > (e.rule ->> 'limit')::numeric
    OR coalesce(r.burst, r."limit") > coalesce((e.rule ->> 'burst')::numeric, (e.rule ->> 'limit')::numeric)
    OR r.scope IS DISTINCT FROM e.rule ->> 'scope'
    OR r.subject IS DISTINCT FROM e.rule ->> 'subject'
    OR r.metric IS DISTINCT FROM e.rule ->> 'metric'
    OR r."window" IS DISTINCT FROM e.rule ->> 'window'
    OR (SELECT array_agg(m ORDER BY m) FROM unnest(r.models) AS m)
       IS DISTINCT FROM (SELECT array_agg(m ORDER BY m) FROM jsonb_array_elements_text(
         CASE jsonb_typeof(e.rule -> 'models') WHEN 'array' THEN e.rule -> 'models' ELSE '[]'::jsonb END) AS m)
  );
ALTER TABLE plans FORCE ROW LEVEL SECURITY;
ALTER TABLE tenants FORCE ROW LEVEL SECURITY;
ALTER TABLE limit_rules FORCE ROW LEVEL SECURITY;

DROP TRIGGER bump_version ON limit_rules;
CREATE TRIGGER bump_version BEFORE UPDATE ON limit_rules FOR EACH ROW
  WHEN ((OLD.scope, OLD.subject, OLD.metric, OLD."window", OLD."limit", OLD.burst, OLD.models, OLD.owner)
        IS DISTINCT FROM (NEW.scope, NEW.subject, NEW.metric, NEW."window", NEW."limit", NEW.burst, NEW.models, NEW.owner))
  EXECUTE FUNCTION gatehouse_bump_version();

GRANT SELECT (owner) ON limit_rules TO gatehouse_platform;
GRANT SELECT (rotated_from) ON api_keys TO gatehouse_platform;
`;

export const migration0020: Migration = { id: 20, name: 'limit_rule_owner', sql };
