/**
 * Stage: admission (DESIGN §4). Reserves the request's worst case on every applicable limit in
 * one atomic backend call, refuses with 429 naming the limit when one is exhausted, writes the
 * x-ratelimit-* headers, and settles the reservation with the real usage once the response is
 * over. Runs after route (prices and compute weight are the dearest of the deployments that may
 * serve, src/pipeline/serving.ts, so a retry or fallback cannot overshoot a budget); the settle
 * prices the usage at the deployment that actually served.
 */
import { randomBytes } from 'node:crypto';
import { GatewayError, type ErrorCode } from '../errors.js';
import { storableText } from '../text.js';
import {
  applicableRules,
  computeUnits,
  costMicros,
  describeRule,
  formatDuration,
  formatMicros,
  needsTokens,
  outputThatFits,
  planCharges,
  settledAmounts,
  type Actual,
  type Estimate,
  type Planned,
  type Subjects,
} from '../limits/admission.js';
import { promptTokens } from '../limits/tokens.js';
import { isThrottleRule } from '../limits/throttle.js';
import type { Via } from '../limits/failover.js';
import type { LimitService, ServiceReserveResult } from '../limits/service.js';
import type { ChargeState, FailMode, ReserveResult, TenantLimits } from '../limits/types.js';
import type { Deployment, Operation, Prices } from '../providers/types.js';
import { addFinisher, type RequestContext, type RequestOutcome, type Stage } from './context.js';

export interface AdmitDeps {
  limits: LimitService;
  /** How long an unsettled reservation lives: longer than any request may take. */
  leaseMs: number;
  /** Output bound reserved when the client sets no max_tokens. */
  defaultMaxOutputTokens: number;
  /** Compute-unit weight of a deployment's model. */
  weightOf(deployment: Deployment): number;
  /** What to do when the shared backend is unreachable. */
  failModeOf(deployment: Deployment): FailMode;
  /** Told of every refusal (metrics). */
  onRefusal?: (code: ErrorCode) => void;
  /**
   * When a tenant's day/month rule is forecast to run out (ISO time), from the alert job's
   * in-memory cache (src/billing/alerts/forecast.ts): a Map lookup, never a database call.
   */
  budgetExhaustsAt?: (tenantId: string, ruleId: string) => string | undefined;
  /**
   * Every deployment a retry or fallback may move the request to, the routed one included
   * (src/pipeline/serving.ts); absent: the routed one alone.
   */
  servable?: (ctx: RequestContext) => readonly Deployment[];
  now?: () => number;
}

const MAX_USER_ID = 256;
/** Fewer output tokens than this is no answer: a clamped request below it is refused instead. */
const MIN_CLAMPED_OUTPUT = 16;

function endUser(ctx: RequestContext): string | undefined {
  const fromBody = ctx.body?.user;
  const header = ctx.headers['x-gatehouse-user'];
  const user = typeof fromBody === 'string' && fromBody !== '' ? fromBody : typeof header === 'string' && header !== '' ? header : undefined;
  if (user !== undefined && user.length > MAX_USER_ID) {
    throw new GatewayError('invalid_request', `The end-user id must be at most ${MAX_USER_ID} characters.`, { param: 'user' });
  }
  // As the ledger stores it (src/metering/event.ts): counters reseeded from the ledger must find it.
  return user === undefined ? undefined : storableText(user);
}

function positiveInt(v: unknown): number | undefined {
  return typeof v === 'number' && Number.isInteger(v) && v > 0 ? v : undefined;
}

/** Output bound and how many choices the upstream will generate. */
function outputBound(op: Operation, body: Record<string, unknown>, fallback: number): { perChoice: number; choices: number; explicit: boolean } {
  if (op === 'embeddings') return { perChoice: 0, choices: 1, explicit: true };
  const requested = positiveInt(body.max_completion_tokens) ?? positiveInt(body.max_tokens);
  const perPrompt = Math.max(positiveInt(body.n) ?? 1, op === 'completions' ? (positiveInt(body.best_of) ?? 1) : 1);
  return { perChoice: requested ?? fallback, choices: perPrompt * (op === 'completions' ? promptCount(body.prompt) : 1), explicit: requested !== undefined };
}

/** Legacy completions take a batch of prompts (texts or token arrays) and answer each one. */
function promptCount(prompt: unknown): number {
  if (!Array.isArray(prompt) || prompt.length === 0) return 1;
  const first: unknown = prompt[0];
  return typeof first === 'string' || Array.isArray(first) ? prompt.length : 1;
}

/** The OpenAI o-series and gpt-5 refuse max_tokens; everything else understands it. */
function outputField(model: string): 'max_completion_tokens' | 'max_tokens' {
  return /^(o\d|gpt-5)/.test(model) ? 'max_completion_tokens' : 'max_tokens';
}

/** Writes the bound into the field the client used (both at once is refused by OpenAI), else the model's. */
function setOutputBound(body: Record<string, unknown>, model: string, tokens: number): void {
  if (body.max_completion_tokens !== undefined) body.max_completion_tokens = tokens;
  else if (body.max_tokens !== undefined) body.max_tokens = tokens;
  else body[outputField(model)] = tokens;
}

/** What a reservation is priced at: the prices and compute weight of the request's worst case. */
interface Pricing {
  prices: Prices;
  weight: number;
}

/**
 * Each price and the weight at their highest among the deployments that may serve: whichever
 * of them serves, and whatever its mix of input and output, its cost and compute units are at
 * most the reservation's. The usage is settled at the one that served.
 */
function worstPricing(d: Deployment, weight: number, servable: readonly Deployment[], weightOf: (d: Deployment) => number): Pricing {
  let prices = d.prices;
  let worst = weight;
  for (const x of servable) {
    if (x === d) continue;
    const p = x.prices;
    if (p.inputPerMTok > prices.inputPerMTok || p.cachedInputPerMTok > prices.cachedInputPerMTok || p.outputPerMTok > prices.outputPerMTok || p.perRequest > prices.perRequest) {
      prices = {
        ...prices,
        inputPerMTok: Math.max(prices.inputPerMTok, p.inputPerMTok),
        cachedInputPerMTok: Math.max(prices.cachedInputPerMTok, p.cachedInputPerMTok),
        outputPerMTok: Math.max(prices.outputPerMTok, p.outputPerMTok),
        perRequest: Math.max(prices.perRequest, p.perRequest),
      };
    }
    worst = Math.max(worst, weightOf(x));
  }
  return { prices, weight: worst };
}

/** Whether a rule counts something a deployment's prices or weight decide. */
function pricedRules(rules: ReturnType<typeof applicableRules>): boolean {
  for (const { rule } of rules) if (rule.metric === 'cost' || rule.metric === 'compute_units') return true;
  return false;
}

function estimateFor(inputTokens: number, outputTokens: number, pricing: Pricing): Estimate {
  return {
    inputTokens,
    outputTokens,
    costMicros: costMicros(pricing.prices, inputTokens, 0, outputTokens),
    computeUnits: computeUnits(pricing.weight, inputTokens, outputTokens),
  };
}

function pickTightest(planned: readonly Planned[], states: readonly ChargeState[], metrics: ReadonlySet<string>): number {
  let best = -1;
  for (let i = 0; i < planned.length; i++) {
    if (!metrics.has((planned[i] as Planned).rule.metric)) continue;
    if (best === -1 || (states[i] as ChargeState).remaining < (states[best] as ChargeState).remaining) best = i;
  }
  return best;
}

/**
 * A response-cache hit (src/pipeline/cache.ts) settles as one request that used nothing: no
 * upstream tokens were generated or paid for, so token, cost and compute-unit limits give back
 * their whole reservation. Request-rate and concurrency limits count it like any request.
 */
const CACHE_HIT: Actual = { requests: 1, inputTokens: 0, outputTokens: 0, costMicros: 0, computeUnits: 0 };

const REQUEST_METRICS = new Set(['requests']);
const TOKEN_HEADER_METRICS = new Set(['tokens', 'input_tokens', 'output_tokens']);
const COST_METRICS = new Set(['cost']);

/** OpenAI-style headers for the tightest request and token limits, and the budget left. */
function rateHeaders(planned: readonly Planned[], states: readonly ChargeState[]): Record<string, string> {
  const headers: Record<string, string> = {};
  const r = pickTightest(planned, states, REQUEST_METRICS);
  if (r !== -1) {
    const s = states[r] as ChargeState;
    headers['x-ratelimit-limit-requests'] = String((planned[r] as Planned).rule.limit);
    headers['x-ratelimit-remaining-requests'] = String(Math.floor(s.remaining));
    headers['x-ratelimit-reset-requests'] = formatDuration(s.resetMs);
  }
  const t = pickTightest(planned, states, TOKEN_HEADER_METRICS);
  if (t !== -1) {
    const s = states[t] as ChargeState;
    headers['x-ratelimit-limit-tokens'] = String((planned[t] as Planned).rule.limit);
    headers['x-ratelimit-remaining-tokens'] = String(Math.floor(s.remaining));
    headers['x-ratelimit-reset-tokens'] = formatDuration(s.resetMs);
  }
  const c = pickTightest(planned, states, COST_METRICS);
  if (c !== -1) headers['x-gatehouse-budget-remaining'] = formatMicros((states[c] as ChargeState).remaining);
  return headers;
}

/** The earliest forecast exhaustion among the request's day/month budgets, if any is forecast. */
function addExhaustion(headers: Record<string, string>, planned: readonly Planned[], tenantId: string, exhaustsAt: AdmitDeps['budgetExhaustsAt']): Record<string, string> {
  if (exhaustsAt === undefined) return headers;
  let earliest: string | undefined;
  for (const p of planned) {
    if (p.rule.window !== 'day' && p.rule.window !== 'month') continue;
    const at = exhaustsAt(tenantId, p.rule.id);
    // Same ISO format throughout: string order is time order.
    if (at !== undefined && (earliest === undefined || at < earliest)) earliest = at;
  }
  if (earliest !== undefined) headers['x-gatehouse-budget-exhausts-at'] = earliest;
  return headers;
}

function refusal(planned: readonly Planned[], result: Extract<ReserveResult, { ok: false }>): GatewayError {
  const failed = planned[result.failed] as Planned;
  const rule = failed.rule;
  const retryAfterS = Math.max(1, Math.ceil(result.retryAfterMs / 1000));
  const headers = { ...rateHeaders(planned, result.states), 'retry-after': String(retryAfterS) };
  if (isThrottleRule(rule)) {
    // Names neither the alert nor the rate: a developer's key learns what happened and that it ends.
    const what = rule.metric === 'cost' ? 'spend' : 'traffic';
    return new GatewayError(
      'anomaly_throttled',
      `Throttled: this tenant's ${what} is far above its usual pattern, so requests are admitted at a reduced rate ` +
        `until it is back to normal or an administrator resolves the anomaly alert. Retry after ${retryAfterS} s.`,
      { headers },
    );
  }
  let code: ErrorCode = 'rate_limit_exceeded';
  let what = 'Rate limit reached';
  if (rule.metric === 'cost') {
    code = 'budget_exceeded';
    what = 'Budget exhausted';
  } else if (rule.window === 'day' || rule.window === 'month') {
    code = 'quota_exceeded';
    what = 'Quota exhausted';
  } else if (rule.metric === 'concurrency') {
    what = 'Concurrency limit reached';
  }
  const limit = rule.metric === 'cost' ? formatMicros(rule.limit) : String(rule.limit);
  return new GatewayError(code, `${what}: ${describeRule(rule)}, limit ${limit}. Retry after ${retryAfterS} s.`, { headers });
}

/** A process-unique reservation id: client request ids are not unique, and this costs no entropy per call. */
function reservationIds(): () => string {
  const prefix = randomBytes(6).toString('base64url');
  let seq = 0;
  return () => `${prefix}.${(seq++).toString(36)}`;
}

interface Admission {
  planned: Planned[];
  estimate: Estimate;
  /** The backend that holds the reservation (Redis or the local fallback). */
  via?: Via | undefined;
}

export function admit(deps: AdmitDeps): Stage {
  const now = deps.now ?? Date.now;
  const nextId = reservationIds();
  const refuse = (planned: readonly Planned[], result: Extract<ReserveResult, { ok: false }>): GatewayError => {
    const err = refusal(planned, result);
    deps.onRefusal?.(err.code);
    return err;
  };

  /** `capChoices`: a stream reserved output for this many choices (0: no cap). */
  function settleLater(ctx: RequestContext, id: string, admission: Admission, d: Deployment, weight: number, capChoices: number): void {
    // A stream is held to the output reserved for it (src/pipeline/output-cap.ts): a provider
    // that ignores max_tokens must not take a budget past what was reserved.
    if (capChoices > 0 && admission.estimate.outputTokens > 0) {
      ctx.outputCap = { outputTokens: admission.estimate.outputTokens, choices: capChoices };
    }
    addFinisher(ctx, (outcome: RequestOutcome, c: RequestContext) => {
      // Priced at the deployment that served: a retry or fallback (src/routing/) may have moved
      // the request to another deployment or model after this reservation was made for `d`.
      const served = c.deployment ?? d;
      const actual =
        c.answered === 'cache' ? CACHE_HIT : actualUsage(outcome, admission.estimate, served, served === d ? weight : deps.weightOf(served));
      deps.limits.settle(id, admission.planned.map((p) => p.charge), settledAmounts(admission.planned, actual), admission.via);
    });
  }

  async function reserveWithClamp(
    ctx: RequestContext,
    id: string,
    limits: TenantLimits,
    rules: ReturnType<typeof applicableRules>,
    subjects: Subjects,
    first: Admission,
    d: Deployment,
    pricing: Pricing,
    bound: { perChoice: number; choices: number; explicit: boolean },
  ): Promise<Admission> {
    let admission = first;
    let clamped: number | undefined;
    const failMode = deps.failModeOf(d);
    // At most a few attempts: each clamp makes the failing counter fit; a race may move another.
    for (let attempt = 0; ; attempt++) {
      const charges = admission.planned.map((p) => p.charge);
      const pending = deps.limits.reserve(id, charges, deps.leaseMs, failMode);
      const result = pending instanceof Promise ? await pending : pending;
      if (result.ok) {
        admission.via = result.via;
        ctx.extraHeaders = addExhaustion(rateHeaders(admission.planned, result.states), admission.planned, subjects.tenantId, deps.budgetExhaustsAt);
        if (clamped !== undefined) ctx.extraHeaders['x-gatehouse-max-tokens-clamped'] = String(clamped);
        return admission;
      }
      const failed = admission.planned[result.failed] as Planned;
      const clampable =
        limits.budgetAction === 'clamp' && attempt < 3 && failed.charge.kind !== 'concurrency' && ctx.operation !== 'embeddings' && !isThrottleRule(failed.rule);
      if (!clampable) throw refuse(admission.planned, result);
      const room = (result.states[result.failed] as ChargeState).remaining;
      const fits = Math.floor(outputThatFits(failed.rule.metric, room, admission.estimate, pricing.prices, pricing.weight) / bound.choices);
      if (fits < MIN_CLAMPED_OUTPUT || fits >= bound.perChoice) throw refuse(admission.planned, result);
      bound.perChoice = fits;
      setOutputBound(ctx.body as Record<string, unknown>, d.upstreamModel, fits);
      const estimate = estimateFor(admission.estimate.inputTokens, fits * bound.choices, pricing);
      admission = { estimate, planned: planCharges(limits, rules, subjects, estimate, now()) };
      clamped = fits;
    }
  }

  return function admitStage(ctx: RequestContext): void | Promise<void> {
    const limits = ctx.tenant?.limits;
    if (limits === undefined || limits.rules.length === 0) return;
    const { principal, deployment: d, operation, body, model } = ctx;
    if (principal === undefined || d === undefined || operation === undefined || body === undefined || model === undefined) {
      throw new Error('admit ran before authenticate/route');
    }
    const subjects: Subjects = {
      tenantId: principal.tenantId,
      teamId: principal.teamId,
      keyId: principal.keyId,
      userId: endUser(ctx),
      model,
    };
    const rules = applicableRules(limits, subjects);
    if (rules.length === 0) return;

    const weight = deps.weightOf(d);
    const bound = outputBound(operation, body, deps.defaultMaxOutputTokens);
    const tokens = needsTokens(rules);
    const inputTokens = tokens ? promptTokens(operation, body, d.upstreamModel) : 0;
    const pricing = deps.servable === undefined || !pricedRules(rules) ? { prices: d.prices, weight } : worstPricing(d, weight, deps.servable(ctx), deps.weightOf);
    const estimate = estimateFor(inputTokens, bound.perChoice * bound.choices, pricing);
    // A token or spend quota must never be overshot: the upstream is told the bound that was
    // reserved, so it cannot generate past it even when the client set none.
    if (tokens && !bound.explicit) setOutputBound(body, d.upstreamModel, bound.perChoice);

    const admission: Admission = { estimate, planned: planCharges(limits, rules, subjects, estimate, now()) };
    const capChoices = tokens && body.stream === true ? bound.choices : 0;
    const id = nextId();
    const charges = admission.planned.map((p) => p.charge);
    // The common case stays synchronous (memory backend, request admitted): no promise, no await.
    if (limits.budgetAction !== 'clamp') {
      const pending = deps.limits.reserve(id, charges, deps.leaseMs, deps.failModeOf(d));
      const accept = (result: ServiceReserveResult): void => {
        if (!result.ok) throw refuse(admission.planned, result);
        admission.via = result.via;
        ctx.extraHeaders = addExhaustion(rateHeaders(admission.planned, result.states), admission.planned, subjects.tenantId, deps.budgetExhaustsAt);
        settleLater(ctx, id, admission, d, weight, capChoices);
      };
      if (pending instanceof Promise) return pending.then(accept);
      accept(pending);
      return;
    }
    return reserveWithClamp(ctx, id, limits, rules, subjects, admission, d, pricing, bound).then((final) => {
      settleLater(ctx, id, final, d, weight, capChoices);
    });
  };
}

/**
 * What the request really used. Provider-reported usage wins; a stream cut off by the client (or
 * one that reported none) is estimated from the chunks that passed, never above the reservation;
 * an upstream error without usage used no tokens.
 */
export function actualUsage(outcome: RequestOutcome, reserved: Estimate, d: Deployment, weight: number): Actual {
  const usage = outcome.usage;
  let input = 0;
  let output = 0;
  let cached = 0;
  if (usage !== undefined && usage.estimated !== true) {
    input = usage.promptTokens;
    output = usage.completionTokens;
    cached = usage.cachedTokens;
  } else if (usage !== undefined) {
    input = reserved.inputTokens;
    output = Math.min(usage.completionTokens, reserved.outputTokens);
  } else if (outcome.status < 400 && outcome.upstreamMs !== undefined) {
    // A success without usage (e.g. an upstream that never reports it): count the reservation.
    input = reserved.inputTokens;
    output = reserved.outputTokens;
  }
  return {
    requests: 1,
    inputTokens: input,
    outputTokens: output,
    costMicros: input + output === 0 ? 0 : costMicros(d.prices, input, cached, output),
    computeUnits: computeUnits(weight, input, output),
  };
}
