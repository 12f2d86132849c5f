/**
 * Admission as data: which of a tenant's rules apply to one request, the charge each one makes
 * (reserved up front at the worst case), and what each settles at once the usage is known.
 * The backend makes the check-and-reserve atomic; this module only computes.
 */
import type { Prices } from '../providers/types.js';
import { STORAGE_METRICS, type Charge, type LimitRule, type LimitScope, type LimitWindow, type Metric, type TenantLimits } from './types.js';
import { calendarWindow, rateWindowMs } from './windows.js';

/** Who and what one request is, as far as limits care. */
export interface Subjects {
  tenantId: string;
  teamId: string | null;
  keyId: string;
  /** End user from the request (`user` field or header); rules for users skip requests without one. */
  userId: string | undefined;
  /** Public model name the client asked for. */
  model: string;
}

/** Worst-case usage of one request, reserved before it is forwarded. */
export interface Estimate {
  inputTokens: number;
  /** Bound on output tokens (max_tokens × n, or the default bound). */
  outputTokens: number;
  costMicros: number;
  computeUnits: number;
}

export interface Actual {
  /** 0 when the request was refused before it reached admission's counters (never happens today). */
  requests: 0 | 1;
  inputTokens: number;
  outputTokens: number;
  costMicros: number;
  computeUnits: number;
}

/** One applicable rule and the counter it charges. */
export interface Planned {
  rule: LimitRule;
  charge: Charge;
}

/** Metrics whose amount depends on token counts; a request with none of them is never tokenized. */
export const TOKEN_METRICS: ReadonlySet<Metric> = new Set(['tokens', 'input_tokens', 'output_tokens', 'cost', 'compute_units']);

function subjectOf(scope: LimitScope, s: Subjects): string | null | undefined {
  switch (scope) {
    case 'tenant':
      return null;
    case 'team':
      return s.teamId ?? undefined;
    case 'key':
      return s.keyId;
    case 'user':
      return s.userId;
  }
}

function modelMatches(models: readonly string[] | null, model: string): boolean {
  if (models === null) return true;
  for (const m of models) {
    if (m.endsWith('*') ? model.startsWith(m.slice(0, -1)) : m === model) return true;
  }
  return false;
}

/**
 * The rules of this tenant that apply to this request, with the subject each counts for. A key
 * made by rotating another counts as the first key of its rotation chain (`keyLineage`): the
 * rules written for any key of the chain apply to all of them, on one counter.
 */
export function applicableRules(limits: TenantLimits, s: Subjects): { rule: LimitRule; subject: string }[] {
  const out: { rule: LimitRule; subject: string }[] = [];
  const lineage = limits.keyLineage;
  for (const rule of limits.rules) {
    // Storage quotas count what a tenant holds, checked by the admin API: a request never charges them.
    if (STORAGE_METRICS.has(rule.metric)) continue;
    let subject = subjectOf(rule.scope, s);
    if (subject === undefined) continue; // e.g. a team rule and a key without a team
    if (lineage !== undefined && rule.scope === 'key' && subject !== null) {
      subject = lineage.get(subject) ?? subject;
      if (rule.subject !== null && (lineage.get(rule.subject) ?? rule.subject) !== subject) continue;
    } else if (rule.subject !== null && rule.subject !== subject) continue;
    if (!modelMatches(rule.models, s.model)) continue;
    out.push({ rule, subject: subject ?? '-' });
  }
  return out;
}

export function needsTokens(rules: readonly { rule: LimitRule }[]): boolean {
  for (const { rule } of rules) if (TOKEN_METRICS.has(rule.metric)) return true;
  return false;
}

function amountOf(metric: Metric, a: Estimate | Actual): number {
  switch (metric) {
    case 'requests':
    case 'concurrency':
      return 'requests' in a ? a.requests : 1;
    case 'tokens':
      return a.inputTokens + a.outputTokens;
    case 'input_tokens':
      return a.inputTokens;
    case 'output_tokens':
      return a.outputTokens;
    case 'cost':
      return a.costMicros;
    case 'compute_units':
      return a.computeUnits;
    case 'config_objects':
    case 'cache_bytes':
    case 'log_bytes':
      return 0; // never reached: applicableRules leaves storage quotas out
  }
}

/** Current calendar window per zone: recomputed only when it has ended (no allocation per request). */
const dayCache = new Map<string, { id: string; resetAt: number }>();
const monthCache = new Map<string, { id: string; resetAt: number }>();

function currentWindow(nowMs: number, timeZone: string, window: 'day' | 'month'): { id: string; resetAt: number } {
  const cache = window === 'day' ? dayCache : monthCache;
  const cached = cache.get(timeZone);
  // Longest day (DST) 25 h; longest month 31 days + 1 h: a clock set back lands outside and recomputes.
  if (cached !== undefined && nowMs < cached.resetAt && nowMs >= cached.resetAt - (window === 'day' ? 90_000_000 : 2_682_000_000)) {
    return cached;
  }
  const w = calendarWindow(nowMs, timeZone, window);
  if (cache.size > 10_000) cache.clear();
  cache.set(timeZone, w);
  return w;
}

/** The prefix of every counter of one rule: `gh:{<tenant>}:<rule id>`. */
export function counterBase(tenantId: string, ruleId: string): string {
  return `gh:{${tenantId}}:${ruleId}`;
}

/** A day/month counter's key: the window's id names the period, so a new period is a new key. */
export function windowKey(base: string, periodId: string, subject: string | null): string {
  return `${base}:${periodId}:${subject ?? '-'}`;
}

/** `gh:{tenant}:rule` per rule of a tenant's limits, built once per snapshot object. */
const basesByLimits = new WeakMap<TenantLimits, Map<LimitRule, string>>();

function baseOf(limits: TenantLimits, rule: LimitRule, tenantId: string): string {
  let bases = basesByLimits.get(limits);
  if (bases === undefined) {
    bases = new Map();
    basesByLimits.set(limits, bases);
  }
  let base = bases.get(rule);
  if (base === undefined) {
    base = counterBase(tenantId, rule.id);
    bases.set(rule, base);
  }
  return base;
}

/**
 * The key of a day/month rule's counter, as chargeFor below builds it (through its cached base):
 * for readers of the counters outside admission (forecasts). `subject` is '-' for tenant rules.
 */
export function calendarCounterKey(tenantId: string, ruleId: string, windowId: string, subject: string): string {
  return `gh:{${tenantId}}:${ruleId}:${windowId}:${subject}`;
}

/**
 * Counter keys carry the Redis hash tag {tenantId}: every counter of one request lives in one
 * slot, so one script can check and reserve them all. Rule ids are slugs (no ':'), window ids
 * contain none either, so the subject (which may) comes last and keys cannot collide.
 */
function chargeFor(limits: TenantLimits, rule: LimitRule, subject: string, s: Subjects, amount: number, nowMs: number): Charge {
  const base = baseOf(limits, rule, s.tenantId);
  const timeZone = limits.timeZone;
  const window: LimitWindow | null = rule.window;
  if (rule.metric === 'concurrency' || window === null) {
    return { kind: 'concurrency', key: `${base}:c:${subject}`, limit: rule.limit, amount: 1 };
  }
  if (window === 'day' || window === 'month') {
    const w = currentWindow(nowMs, timeZone, window);
    return { kind: 'window', key: windowKey(base, w.id, subject), limit: rule.limit, resetAt: w.resetAt, amount };
  }
  return {
    kind: 'bucket',
    key: `${base}:b:${subject}`,
    limit: rule.limit,
    burst: rule.burst ?? rule.limit,
    periodMs: rateWindowMs(window),
    amount,
  };
}

export function planCharges(
  limits: TenantLimits,
  rules: readonly { rule: LimitRule; subject: string }[],
  s: Subjects,
  estimate: Estimate,
  nowMs: number,
): Planned[] {
  return rules.map(({ rule, subject }) => ({
    rule,
    charge: chargeFor(limits, rule, subject, s, amountOf(rule.metric, estimate), nowMs),
  }));
}

/** What each planned charge settles at. */
export function settledAmounts(planned: readonly Planned[], actual: Actual): number[] {
  return planned.map(({ rule }) => amountOf(rule.metric, actual));
}

/** Cost in micro-units of the currency; rounded up so many small requests never undercount. */
export function costMicros(prices: Prices, inputTokens: number, cachedTokens: number, outputTokens: number): number {
  const uncached = Math.max(0, inputTokens - cachedTokens);
  const perToken = uncached * prices.inputPerMTok + cachedTokens * prices.cachedInputPerMTok + outputTokens * prices.outputPerMTok;
  return Math.ceil(perToken / 1_000_000) + prices.perRequest;
}

/** Compute units: the model's weight times the tokens it processes (cheap models count less). */
export function computeUnits(weight: number, inputTokens: number, outputTokens: number): number {
  return Math.ceil(weight * (inputTokens + outputTokens));
}

/**
 * The largest output bound the failing charge could still admit (clamping a budget instead of
 * refusing), or 0 when not even one output token fits. `remaining` is the counter's room before
 * this request.
 */
export function outputThatFits(
  metric: Metric,
  remaining: number,
  estimate: Estimate,
  prices: Prices,
  weight: number,
): number {
  switch (metric) {
    case 'tokens':
      return Math.max(0, remaining - estimate.inputTokens);
    case 'output_tokens':
      return Math.max(0, remaining);
    case 'cost': {
      if (prices.outputPerMTok <= 0) return 0;
      const inputCost = costMicros(prices, estimate.inputTokens, 0, 0);
      return Math.max(0, Math.floor(((remaining - inputCost) * 1_000_000) / prices.outputPerMTok));
    }
    case 'compute_units':
      return weight > 0 ? Math.max(0, Math.floor(remaining / weight - estimate.inputTokens)) : 0;
    default:
      return 0;
  }
}

const METRIC_LABEL: Record<Metric, string> = {
  requests: 'requests',
  tokens: 'tokens',
  input_tokens: 'input tokens',
  output_tokens: 'output tokens',
  cost: 'spend',
  compute_units: 'compute units',
  concurrency: 'concurrent requests',
  config_objects: 'configuration objects',
  cache_bytes: 'response cache bytes',
  log_bytes: 'request log bytes',
};

const SCOPE_LABEL: Record<LimitScope, string> = {
  tenant: 'this tenant',
  team: 'this team',
  key: 'this API key',
  user: 'this end user',
};

/** e.g. "requests per minute for this API key (rule 'rpm')"; names only the caller's own limit. */
export function describeRule(rule: LimitRule): string {
  const per = rule.window === null ? '' : ` per ${rule.window}`;
  const models = rule.models === null ? '' : ` on ${rule.models.join(', ')}`;
  return `${METRIC_LABEL[rule.metric]}${per}${models} for ${SCOPE_LABEL[rule.scope]} (rule '${rule.id}')`;
}

/** Money in micro-units as a decimal currency amount ("12.345678"). */
export function formatMicros(micros: number): string {
  const sign = micros < 0 ? '-' : '';
  const abs = Math.abs(Math.trunc(micros));
  return `${sign}${Math.floor(abs / 1_000_000)}.${String(abs % 1_000_000).padStart(6, '0')}`;
}

/** OpenAI's reset format: "20ms", "1.5s", "6m0s", "1h2m3s". */
export function formatDuration(ms: number): string {
  const t = Math.max(0, Math.ceil(ms));
  if (t < 1000) return `${t}ms`;
  if (t < 60_000) return `${Number((t / 1000).toFixed(3))}s`;
  const totalSeconds = Math.ceil(t / 1000);
  const h = Math.floor(totalSeconds / 3600);
  const m = Math.floor((totalSeconds % 3600) / 60);
  const sec = totalSeconds % 60;
  return h > 0 ? `${h}h${m}m${sec}s` : `${m}m${sec}s`;
}
