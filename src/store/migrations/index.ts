/**
 * The schema, as an explicit ordered list (DESIGN §11.10): no directory scanning, so the code
 * that ships is exactly the schema it expects. Append only. Ids increase; a gap is a number
 * reserved for a change not merged yet (src/store/migrate.ts).
 */
import { migration0001 } from './0001_init.js';
import { migration0002 } from './0002_config_notify.js';
import { migration0003 } from './0003_admin.js';
import { migration0004 } from './0004_audit.js';
import { migration0005 } from './0005_jwt_issuers.js';
import { migration0006 } from './0006_tenant_encryption.js';
import { migration0007 } from './0007_key_cidrs.js';
import { migration0008 } from './0008_limits.js';
import { migration0009 } from './0009_config_objects.js';
import { migration0010 } from './0010_domain_verification.js';
import { migration0011 } from './0011_cache_bytes.js';
import { migration0012 } from './0012_tenant_deployments.js';
import { migration0013 } from './0013_usage.js';
import { migration0014 } from './0014_alerts.js';
import { migration0015 } from './0015_billing.js';
import { migration0016 } from './0016_tenant_purge.js';
import { migration0017 } from './0017_billing_versions.js';
import { migration0018 } from './0018_request_logs.js';
import { migration0019 } from './0019_alert_lifecycle.js';
import { migration0020 } from './0020_limit_rule_owner.js';
import { migration0021 } from './0021_usage_events_one_index.js';
import { migration0022 } from './0022_jwt_issuer_owner.js';
import type { Migration } from './types.js';

export type { Migration } from './types.js';

export const MIGRATIONS: readonly Migration[] = [
  migration0001,
  migration0002,
  migration0003,
  migration0004,
  migration0005,
  migration0006,
  migration0007,
  migration0008,
  migration0009,
  migration0010,
  migration0011,
  migration0012,
  migration0013,
  migration0014,
  migration0015,
  migration0016,
  migration0017,
  migration0018,
  migration0019,
  migration0020,
  migration0021,
  migration0022,
];
