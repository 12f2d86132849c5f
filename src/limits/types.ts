/**
 * Limits as data (DESIGN §4). A tenant's effective rules come from its plan, overlaid by its own
 * overrides; the admission stage turns the rules that apply to one request into charges, and a
 * backend (memory or Redis) checks and reserves every charge of a request in one atomic step.
 * Nothing here knows about HTTP or the database.
 */

/**
 * What a limit counts. `cost` is in micro-units of the currency (1 USD = 1,000,000).
 * `config_objects` is a storage quota, not a request metric: the number of configuration objects
 * a tenant holds (teams, users, service accounts, API keys not revoked or expired, policies,
 * domains, provider credentials, webhooks, limit rules). The admin API checks it when one is
 * created (src/admin/services/storage-quota.ts); admission never charges requests against it.
 * Its rules are tenant-wide: scope 'tenant', no subject, window, burst or models.
 * `cache_bytes` is a storage quota too: the bytes of response-cache entries a tenant may hold
 * (src/cache/), checked when an entry is stored; a full cache stores nothing more until entries
 * expire. Same shape as `config_objects`.
 * `log_bytes` is a storage quota as well: the bytes of stored request logs (src/logs/) a tenant may
 * hold, checked when a batch of entries is written; past it new entries are dropped (and counted),
 * never the request. Retention frees room. Same shape again.
 */
export const METRICS = [
  'requests',
  'tokens',
  'input_tokens',
  'output_tokens',
  'cost',
  'compute_units',
  'concurrency',
  'config_objects',
  'cache_bytes',
  'log_bytes',
] as const;
export type Metric = (typeof METRICS)[number];

/**
 * second/minute/hour are rates: a token bucket holding `burst` units that refills `limit` units
 * per window, continuously. day/month are calendar quotas: a counter that resets at the tenant's
 * local midnight / first of the month. `concurrency` has no window.
 */
export const WINDOWS = ['second', 'minute', 'hour', 'day', 'month'] as const;
export type LimitWindow = (typeof WINDOWS)[number];
export const RATE_WINDOWS: readonly LimitWindow[] = ['second', 'minute', 'hour'];

/** Quotas on what a tenant stores, checked where objects are created, never by admission. */
export const STORAGE_METRICS: ReadonlySet<Metric> = new Set<Metric>(['config_objects', 'cache_bytes', 'log_bytes']);

/** Who a counter belongs to: the tightest applicable rule decides. */
export const LIMIT_SCOPES = ['tenant', 'team', 'key', 'user'] as const;
export type LimitScope = (typeof LIMIT_SCOPES)[number];

export interface LimitRule {
  /** Unique within the tenant ([a-z0-9-], ≤ 63); names the counter, so renaming resets it. */
  id: string;
  scope: LimitScope;
  /**
   * One team/key/end-user id the rule is for; null means every subject of the scope gets its own
   * counter (e.g. "each key: 60 requests per minute"). Always null for scope 'tenant'.
   */
  subject: string | null;
  metric: Metric;
  /** null exactly when metric is 'concurrency' or a storage quota ('config_objects'). */
  window: LimitWindow | null;
  /**
   * Integer ≥ 0. 0 blocks every request that would count against it: all requests for request,
   * token and concurrency rules; for a day/month spend budget, every request that costs anything
   * (a zero budget still allows free models).
   */
  limit: number;
  /** Rate windows only: bucket size; null means `limit`. */
  burst: number | null;
  /**
   * Public model names the rule counts, combined into one counter (a model group); an entry
   * ending in `*` is a prefix. null means every model.
   */
  models: readonly string[] | null;
}

/**
 * Who set a tenant's rule: the platform (a platform admin, `gatehouse apply`, the configuration
 * file), which may set any value, or the tenant (its roles write within the plan only).
 */
export type RuleOwner = 'platform' | 'tenant';

/** A tenant's own rule with its provenance. */
export interface OwnedRule extends LimitRule {
  /** Absent (sources built by hand, tests): enforced as written, like a platform's. */
  owner?: RuleOwner;
}

/** What a tenant does when its remaining budget cannot cover a request's worst case. */
export type BudgetAction = 'reject' | 'clamp';

/** A tenant's limits as the hot path sees them (in the tenancy snapshot). */
export interface TenantLimits {
  /** Plan (tier) name, or null when the tenant has none. */
  plan: string | null;
  /** Fair-scheduling weight from the plan (≥ 1); a tenant's share of a full deployment. */
  weight: number;
  /** Effective rules: the plan's, with the tenant's overrides replacing rules of the same id. */
  rules: readonly LimitRule[];
  /** IANA time zone for calendar windows, e.g. 'Europe/Berlin'. */
  timeZone: string;
  budgetAction: BudgetAction;
  /**
   * Key id → the first key of its rotation chain, for keys made by rotating another (absent when
   * none were): key-scoped rules and counters follow a key through its rotations.
   */
  keyLineage?: ReadonlyMap<string, string>;
  /** False when the tenant's plan leaves out fallbacks to other models (a plan feature); absent: allowed. */
  fallbacks?: false;
}

/**
 * One counter to check and reserve. Keys are namespaced by tenant and carry the Redis hash tag
 * `{<tenantId>}`, so every counter of one request lives in one slot (one atomic script).
 */
export type Charge =
  | {
      kind: 'bucket';
      key: string;
      /** Units added per `periodMs`. */
      limit: number;
      /** Bucket size. */
      burst: number;
      periodMs: number;
      amount: number;
    }
  | {
      kind: 'window';
      /** Includes the window's start (e.g. `...:d:2026-11-23`), so a new window is a new key. */
      key: string;
      limit: number;
      /** Epoch ms when the window ends; the counter may be dropped after it. */
      resetAt: number;
      amount: number;
    }
  | {
      kind: 'concurrency';
      key: string;
      limit: number;
      /** Always 1. */
      amount: number;
    };

/** State of one charge after a reservation attempt (for x-ratelimit-* headers). */
export interface ChargeState {
  /** Units left after this reservation (or, when refused, before it); never negative. */
  remaining: number;
  /** ms until the counter is back to full (bucket) or resets (window); 0 for concurrency. */
  resetMs: number;
}

export type ReserveResult =
  | { ok: true; states: ChargeState[] }
  | {
      ok: false;
      /** Index of the first charge that could not be reserved; nothing was reserved. */
      failed: number;
      states: ChargeState[];
      /** ms after which a retry may succeed (bucket refill, window reset, or a short wait). */
      retryAfterMs: number;
    };

/**
 * Checks and reserves all charges of one request atomically (all or nothing), then settles them
 * with what was actually used. Reservations on windows and concurrency expire after `leaseMs`
 * unless settled, so the reservations of an instance that died are given back.
 */
export interface LimitBackend {
  readonly kind: 'memory' | 'redis';
  reserve(reservationId: string, charges: readonly Charge[], leaseMs: number): ReserveResult | Promise<ReserveResult>;
  /**
   * `used[i]` is the actual amount for `charges[i]` (buckets are refunded or debited by the
   * difference; windows count it; concurrency is released whatever the value). Settling an
   * expired or unknown reservation still counts the usage. Never throws for a lost connection:
   * failures are reported through the returned promise only where the caller can act.
   */
  settle(reservationId: string, charges: readonly Charge[], used: readonly number[]): void | Promise<void>;
  close(): Promise<void>;
}

/** A calendar window counter as it stands: settled usage and what unexpired reservations hold. */
export interface WindowCounterState {
  used: number;
  pending: number;
}

/**
 * Reads window counters without changing them (forecasts: reservations of requests in flight or
 * queued). Keys as `Charge.key`; a key without a counter is absent from the answer; null when the
 * counters cannot be read now (the shared backend is down).
 */
export interface CounterReader {
  peekWindows(keys: readonly string[]): Promise<ReadonlyMap<string, WindowCounterState> | null>;
}

/** Per deployment: what admission does when the shared backend (Redis) cannot be reached. */
export type FailMode = 'open' | 'closed';
