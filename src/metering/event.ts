/**
 * One usage event per request (DESIGN §5): built from the finished request by a pure function,
 * and its compact spool encoding. Nothing here reads the request body beyond the `user` field
 * (and, only for usage the provider did not report, the prompt for a token estimate).
 */
import { costMicros } from '../limits/admission.js';
import { uuidV7 } from './event-id.js';
import { promptTokens, type PromptOperation } from '../limits/tokens.js';
import type { RequestContext, RequestOutcome } from '../pipeline/context.js';
import type { UsageEventRecord } from '../store/index.js';
import { storableText } from '../text.js';

export type UsageEvent = UsageEventRecord;

export const MAX_TAGS = 10;
const TAG = /^[a-z0-9_.:-]{1,64}$/;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const MAX_TEXT = 256;

export interface ParsedTags {
  tags: string[];
  /** Entries left out: malformed, duplicates, or past the tenth. */
  dropped: number;
}

/**
 * Tags from `X-Gatehouse-Tags: a,b`: lower-cased, each `[a-z0-9_.:-]{1,64}`, at most 10,
 * duplicates once. A malformed tag is dropped, never a reason to refuse the request: metering
 * must not break traffic. The body's `metadata` is the upstream's (OpenAI stores it with the
 * completion) and is not read.
 */
export function parseTags(header: string | string[] | undefined): ParsedTags {
  if (header === undefined) return { tags: [], dropped: 0 };
  const raw = Array.isArray(header) ? header.join(',') : header;
  const tags: string[] = [];
  let dropped = 0;
  for (const part of raw.split(',')) {
    const t = part.trim().toLowerCase();
    if (t === '') continue;
    if (!TAG.test(t) || tags.includes(t) || tags.length >= MAX_TAGS) dropped++;
    else tags.push(t);
  }
  return { tags, dropped };
}

/** The end user as limits see it (`user` field, else X-Gatehouse-User); null when absent or too long. */
export function endUserOf(ctx: RequestContext): string | null {
  const fromBody = ctx.body?.user;
  const header = ctx.headers['x-gatehouse-user'];
  const user = typeof fromBody === 'string' && fromBody !== '' ? fromBody : typeof header === 'string' && header !== '' ? header : undefined;
  return user !== undefined && user.length <= MAX_TEXT ? storableText(user) : null;
}

const MAX_TOKENS = 2_147_483_647;

/**
 * A token count as upstreams report it, made one a row holds: a whole number in 0..2^31-1 (the
 * request log's columns are int4). An upstream, possibly a tenant's own, may report anything;
 * unchecked, 3e9 or 1e300 tokens got its request's log entry and usage event refused.
 */
export function tokenCount(n: number): number {
  return Number.isFinite(n) && n > 0 ? Math.min(MAX_TOKENS, Math.floor(n)) : 0;
}

/** A client-chosen name as a row can hold it: at most 256 characters, no NUL or lone surrogate (a cut may split a pair). */
export function clipText(s: string): string {
  return storableText(s.length <= MAX_TEXT ? s : s.slice(0, MAX_TEXT));
}

export function uuidOrNull(s: string | null | undefined): string | null {
  return typeof s === 'string' && UUID.test(s) ? s : null;
}

/** Estimated once per request: the ledger and the tenant metrics both ask (see meteredTokens). */
const promptEstimates = new WeakMap<RequestContext, number>();

function estimatedPrompt(ctx: RequestContext): number {
  const known = promptEstimates.get(ctx);
  if (known !== undefined) return known;
  const op = ctx.operation;
  let n = 0;
  if (ctx.body !== undefined && (op === 'chat' || op === 'completions' || op === 'embeddings')) {
    try {
      n = promptTokens(op as PromptOperation, ctx.body, ctx.deployment?.upstreamModel ?? ctx.model ?? '');
    } catch {
      n = 0;
    }
  }
  promptEstimates.set(ctx, n);
  return n;
}

export interface MeteredTokens {
  input: number;
  output: number;
  /** Part of input, as reported (the event stores at most `input`; cost is priced on it as is). */
  cached: number;
  estimated: boolean;
}

const NO_TOKENS: MeteredTokens = { input: 0, output: 0, cached: 0, estimated: false };

/**
 * The tokens a request used as the ledger records them (a response-cache hit aside, which used
 * nothing upstream): provider-reported usage wins; a stream cut off (or a success without usage)
 * is estimated, the prompt counted from the request and one output token per chunk that passed;
 * a refusal or an upstream error without usage used nothing. The tenant token metrics count by
 * it too, so /metrics shows the estimate the ledger bills (it showed 0 input tokens).
 */
export function meteredTokens(ctx: RequestContext, outcome: RequestOutcome): MeteredTokens {
  const usage = outcome.usage ?? ctx.usage;
  if (usage !== undefined && usage.estimated !== true) {
    return { input: tokenCount(usage.promptTokens), output: tokenCount(usage.completionTokens), cached: tokenCount(usage.cachedTokens), estimated: false };
  }
  if (usage !== undefined || (outcome.status < 400 && outcome.upstreamMs !== undefined)) {
    return { input: estimatedPrompt(ctx), output: tokenCount(usage?.completionTokens ?? 0), cached: 0, estimated: true };
  }
  return NO_TOKENS;
}

export interface EventClock {
  /** Epoch ms: the event's occurred_at. */
  nowMs: number;
  /** process.hrtime.bigint() at the end of the response. */
  endHr: bigint;
}

/**
 * The request's usage event. Tokens: meteredTokens (an estimate is flagged `usageEstimated`). Cost:
 * the serving deployment's prices, the same formula as admission (zero when no token was used),
 * and the price-book version those prices are (read in the same step: src/billing/price-follower.ts).
 */
export function buildUsageEvent(ctx: RequestContext, outcome: RequestOutcome, clock: EventClock, eventId?: string): UsageEvent | undefined {
  const tenant = ctx.tenant;
  const principal = ctx.principal;
  if (tenant === undefined || principal === undefined) return undefined;
  const d = ctx.deployment;
  // A response-cache hit used nothing upstream: no tokens, no cost, as admission settles it.
  const cacheHit = ctx.answered === 'cache';
  const { input, output, cached, estimated } = cacheHit ? NO_TOKENS : meteredTokens(ctx, outcome);
  const cost = d === undefined || input + output === 0 ? 0 : costMicros(d.prices, input, cached, output);
  const firstByteAt = ctx.firstByteAt;
  const streamed = ctx.body?.stream === true;
  const model = d?.model ?? ctx.model ?? 'unknown';
  return {
    tenantId: tenant.id,
    eventId: eventId ?? uuidV7(clock.nowMs),
    requestId: ctx.requestId,
    occurredAt: clock.nowMs,
    teamId: uuidOrNull(principal.teamId),
    keyId: principal.kind === 'api_key' ? uuidOrNull(principal.keyId) : null,
    endUser: endUserOf(ctx),
    tags: parseTags(ctx.headers['x-gatehouse-tags']).tags,
    model: clipText(model),
    deploymentId: d?.id ?? null,
    provider: d?.provider ?? null,
    region: d?.region ?? null,
    inputTokens: input,
    outputTokens: output,
    cachedTokens: Math.min(cached, input),
    costMicros: cost,
    priceVersion: d?.priceVersion ?? null,
    latencyMs: Math.max(0, Math.round(Number(clock.endHr - ctx.startedAt) / 1e6)),
    ttftMs: streamed && firstByteAt !== undefined ? Math.max(0, Math.round(Number(firstByteAt - ctx.startedAt) / 1e6)) : null,
    status: outcome.status,
    streamed,
    clientAborted: outcome.clientAborted,
    usageEstimated: estimated,
    cacheHit,
  };
}

/** Spool format version, first element of every record. */
const V1 = 1;

/**
 * Positional JSON: a few hundred bytes, no field names repeated per record, and JSON.parse on
 * the shipper side is faster than any hand-written decoder in JavaScript.
 */
export function encodeEvent(e: UsageEvent): Buffer {
  return Buffer.from(
    JSON.stringify([
      V1, e.tenantId, e.eventId, e.requestId, e.occurredAt, e.teamId, e.keyId, e.endUser, e.tags, e.model, e.deploymentId,
      e.provider, e.region, e.inputTokens, e.outputTokens, e.cachedTokens, e.costMicros, e.priceVersion, e.latencyMs,
      e.ttftMs, e.status, e.streamed, e.clientAborted, e.usageEstimated, e.cacheHit,
    ]),
  );
}

const str = (v: unknown): v is string => typeof v === 'string';
const strOrNull = (v: unknown): v is string | null => v === null || typeof v === 'string';
const int = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
const bool = (v: unknown): v is boolean => typeof v === 'boolean';

/** Decodes a spool record; undefined if it is not a well-formed event (never thrown: one bad record must not wedge the shipper). */
export function decodeEvent(buf: Buffer): UsageEvent | undefined {
  let a: unknown;
  try {
    a = JSON.parse(buf.toString('utf8'));
  } catch {
    return undefined;
  }
  if (!Array.isArray(a) || a.length !== 25 || a[0] !== V1) return undefined;
  const [, tenantId, eventId, requestId, occurredAt, teamId, keyId, endUser, tags, model, deploymentId, provider, region,
    inputTokens, outputTokens, cachedTokens, cost, priceVersion, latencyMs, ttftMs, status, streamed, clientAborted,
    usageEstimated, cacheHit] = a as unknown[];
  if (
    !str(tenantId) || !UUID.test(tenantId) || !str(eventId) || !UUID.test(eventId) || !str(requestId) || !int(occurredAt) ||
    !strOrNull(teamId) || !strOrNull(keyId) || !strOrNull(endUser) || !Array.isArray(tags) || !tags.every(str) || !str(model) ||
    !strOrNull(deploymentId) || !strOrNull(provider) || !strOrNull(region) || !int(inputTokens) || !int(outputTokens) ||
    !int(cachedTokens) || !int(cost) || !strOrNull(priceVersion) || !int(latencyMs) || !(ttftMs === null || int(ttftMs)) ||
    !int(status) || !bool(streamed) || !bool(clientAborted) || !bool(usageEstimated) || !bool(cacheHit)
  ) {
    return undefined;
  }
  return {
    tenantId, eventId, requestId, occurredAt, teamId, keyId, endUser, tags, model, deploymentId, provider, region,
    inputTokens, outputTokens, cachedTokens, costMicros: cost, priceVersion, latencyMs, ttftMs, status, streamed,
    clientAborted, usageEstimated, cacheHit,
  };
}
