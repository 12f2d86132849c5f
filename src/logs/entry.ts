/**
 * A finished request as the log queue holds it: metadata taken from the context once the
 * response is over (a few field reads, no serialisation), and, when the tenant logs content,
 * references to the request body and to the response bytes the tap kept. Turning those into text
 * and sealing them is the background writer's job.
 */
import { clipText, endUserOf, tokenCount, uuidOrNull } from '../metering/event.js';
import type { RequestContext, RequestOutcome } from '../pipeline/context.js';
import type { CapturedBody } from './capture.js';
import type { ContentParts } from './content.js';
import type { RequestLogFields } from '../store/index.js';

/** What the log stages keep on the context between the opt-in check and the end of the response. */
export interface LogCapture {
  /** Store the request and response too (the tenant logs content). */
  content: boolean;
  /** The tenant's tightest log_bytes limit, if any. */
  quotaBytes: number | undefined;
  /** The response bytes the tap keeps (content only; set once the upstream answered). */
  response?: CapturedBody;
}

export interface PendingLog extends RequestLogFields {
  tenantId: string;
  /** Epoch ms when the request arrived. */
  occurredAt: number;
  quotaBytes: number | undefined;
  content: ContentParts | undefined;
  /** Memory the queued entry holds on to, roughly: the queue's byte bound counts it. */
  heldBytes: number;
}

/** Metadata of one queued entry, roughly (objects, strings): what an entry without content holds. */
const ENTRY_OVERHEAD = 512;

function declaredLength(ctx: RequestContext): number {
  const n = Number(ctx.headers['content-length']);
  return Number.isFinite(n) && n > 0 ? n : 0;
}

export function pendingLog(ctx: RequestContext, outcome: RequestOutcome, capture: LogCapture, nowMs: number, nowHr: bigint): PendingLog | undefined {
  const tenant = ctx.tenant;
  const principal = ctx.principal;
  if (tenant === undefined || principal === undefined) return undefined;
  const latencyMs = Math.max(0, Math.round(Number(nowHr - ctx.startedAt) / 1e6));
  const d = ctx.deployment;
  const usage = outcome.usage ?? ctx.usage;
  const streamed = ctx.body?.stream === true;
  let content: ContentParts | undefined;
  let heldBytes = ENTRY_OVERHEAD;
  if (capture.content) {
    const r = capture.response;
    content = {
      body: ctx.body,
      response: r === undefined ? undefined : { capture: r, streamed },
    };
    heldBytes += declaredLength(ctx) + (r?.bytes ?? 0);
  }
  return {
    tenantId: tenant.id,
    requestId: ctx.requestId,
    occurredAt: nowMs - latencyMs,
    keyId: principal.kind === 'api_key' ? uuidOrNull(principal.keyId) : null,
    teamId: uuidOrNull(principal.teamId),
    endUser: endUserOf(ctx),
    operation: ctx.operation ?? null,
    model: clipText(d?.model ?? ctx.model ?? 'unknown'),
    deploymentId: d === undefined ? null : clipText(d.id),
    status: outcome.status,
    latencyMs,
    inputTokens: usage === undefined || usage.estimated === true ? null : tokenCount(usage.promptTokens),
    outputTokens: usage === undefined || usage.estimated === true ? null : tokenCount(usage.completionTokens),
    streamed,
    clientAborted: outcome.clientAborted,
    cacheHit: ctx.answered === 'cache',
    quotaBytes: capture.quotaBytes,
    content,
    heldBytes,
  };
}
