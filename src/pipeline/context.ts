/**
 * The one typed request context every pipeline stage reads and extends. Tenant identity is
 * read from here and nowhere else. Services are passed to stage factories, never stashed here.
 */
import type { IncomingHttpHeaders, IncomingMessage } from 'node:http';
import type { CacheFill } from '../cache/types.js';
import type { LogCapture } from '../logs/entry.js';
import type { CancelSignal } from '../providers/cancel.js';
import type { Deployment, Operation, UpstreamResponse, Usage } from '../providers/types.js';
import type { Slot } from '../limits/scheduler.js';
import type { Principal, Tenant } from '../tenancy/types.js';

/** What the router understood of the request before any stage ran. */
export type Endpoint =
  /** dialect: the client speaks another API (POST /v1/messages); the pipeline sees the canonical body. */
  | { op: Operation; modelFromPath?: string; dialect?: Dialect }
  | { op: 'models.list' }
  | { op: 'models.get'; model: string }
  /** Tenant-scoped predict: chat or embeddings, decided by the model's kind. */
  | { op: 'predict'; modelFromPath: string };

/** Client-facing APIs other than OpenAI's, translated at the edge. */
export type Dialect = 'anthropic';

/** The dialect of the request, when it is not OpenAI's. */
export function dialectOf(endpoint: Endpoint): Dialect | undefined {
  return 'dialect' in endpoint ? endpoint.dialect : undefined;
}

export interface RequestContext {
  readonly requestId: string;
  /** process.hrtime.bigint() when the request arrived. */
  readonly startedAt: bigint;
  readonly method: string;
  readonly path: string;
  readonly headers: IncomingHttpHeaders;
  /**
   * The client's address: the connecting peer, or behind a trusted proxy the address its
   * forwarding header names (decided once by the server, src/server/client-address.ts).
   */
  readonly remoteAddress: string;
  readonly endpoint: Endpoint;
  /** Tenant named by the path form /api/v1/tenants/{tenant}/..., if any. */
  readonly pathTenant: string | undefined;
  /** Aborted when the client goes away or the deadline passes. */
  readonly signal: CancelSignal;
  /** The request itself, for the body stage (data, not a service). */
  readonly req: IncomingMessage;

  /** Tenant identities the request claims besides its key (path, header, host). Set by identify. */
  claims?: TenantClaim[];

  /** Set by identify. */
  tenant?: Tenant;
  /** Bearer secret presented by the client (never logged). Set by identify. */
  credential?: string;
  /** Set by authenticate. */
  principal?: Principal;
  /** Parsed JSON body for model-calling operations. Set by the server before the stages. */
  body?: Record<string, unknown>;
  /** Requested public model name; after the alias stage, the model an alias names. */
  model?: string;
  /** Set by the alias stage when the client asked for one of its tenant's aliases: that alias. */
  requestedModel?: string;
  /** Operation after resolving 'predict'. */
  operation?: Operation;
  /**
   * Set by route; the provider stage replaces it with the deployment that actually served (a
   * retry or fallback may move the request), so headers and metering name that one.
   */
  deployment?: Deployment;
  /**
   * The scheduler slot the request holds (set by schedule), released by its finisher; the
   * provider stage moves it when a retry goes to another deployment.
   */
  heldSlot?: Slot;
  /** hrtime when the provider stage handed the request to the adapter, and when it answered. */
  upstreamStartedAt?: bigint;
  upstreamAnsweredAt?: bigint;
  /** Set by the provider stage: the upstream's answer, not yet sent to the client. */
  upstream?: UpstreamResponse;
  /** Set when the upstream reports usage. */
  usage?: Usage;
  /**
   * Set by admission when it reserved output tokens for a streamed answer (a token, spend or
   * compute rule applies): the output-cap stage ends the stream once it passes them.
   */
  outputCap?: OutputCap;
  /**
   * Set by a stage that answered the request itself, without the upstream ('cache': a response
   * cache hit, whose `upstream` is the cached answer). compose runs no stage after it.
   */
  answered?: 'cache';
  /** Set by the cache stage on a miss that may be stored: what the fill stage needs. */
  cacheFill?: CacheFill;
  /** Set by the request-log stage when the tenant logs this request (src/logs/). */
  requestLog?: LogCapture;
  /**
   * Work to run once the response is over: sent, failed, refused or abandoned by the client.
   * Stages that take something (a reservation, a scheduler slot) push its release here.
   */
  finishers?: Finisher[];
  /** The upstream's HTTP status when it answered with an error (set by the server). */
  upstreamErrorStatus?: number;
  /**
   * The status of the error a started response ended with (its headers said 200; set by the
   * server): what the request's outcome records, so a stream cut by an upstream failure is
   * metered and logged as that failure, not as a success.
   */
  failedWith?: number;
  /** Set by the server when the response is over; finishers added later run at once. */
  closed?: { status: number; clientAborted: boolean };
  /** Response headers stages add (rate-limit state); the server writes them on every answer. */
  extraHeaders?: Record<string, string>;
  /** hrtime when the first body chunk of a streamed answer passed (set by the server). */
  firstByteAt?: bigint;
  /**
   * Runs once: right before the response's last byte is released to the client (or its error is
   * sent), or at close when the response never completed. Metering writes the usage event here,
   * so a response the client saw complete always has its event (DESIGN §5). A returned promise
   * holds the last byte until it settles; a throw cuts the response instead of completing it.
   */
  completion?: Completion;
}

/** The output admission reserved for a streamed answer: `outputTokens` over `choices` choices. */
export interface OutputCap {
  outputTokens: number;
  choices: number;
}

export interface RequestOutcome {
  /** The status sent to the client (or about to be, when it left first). */
  status: number;
  /** Usage the provider reported; undefined when it reported none (errors, cut-off streams). */
  usage: Usage | undefined;
  /** The client went away before the response was complete. */
  clientAborted: boolean;
  /** ms from handing the request to the adapter to the upstream's response headers. */
  upstreamMs: number | undefined;
  /** The upstream's own HTTP status when it answered (a 503 upstream reaches the client as 502). */
  upstreamStatus?: number | undefined;
}

export type Finisher = (outcome: RequestOutcome, ctx: RequestContext) => void;

export type Completion = (outcome: RequestOutcome, ctx: RequestContext) => void | Promise<void>;

/**
 * Sets the request's completion hook (see RequestContext.completion). When the response is
 * already over (the client left while a stage awaited), it runs now.
 */
export function setCompletion(ctx: RequestContext, completion: Completion): void {
  const closed = ctx.closed;
  if (closed === undefined) {
    ctx.completion = completion;
    return;
  }
  void Promise.resolve()
    .then(() => completion({ status: closed.status, usage: undefined, clientAborted: closed.clientAborted, upstreamMs: undefined }, ctx))
    .catch(() => {});
}

/**
 * Registers work for when the response is over. A stage that was still awaiting (a Redis call)
 * when the client left finds the response already closed: its finisher runs now, so nothing it
 * took (a reservation, a slot) waits for a lease to expire.
 */
export function addFinisher(ctx: RequestContext, finisher: Finisher): void {
  const closed = ctx.closed;
  if (closed === undefined) {
    (ctx.finishers ??= []).push(finisher);
    return;
  }
  finisher({ status: closed.status, usage: undefined, clientAborted: closed.clientAborted, upstreamMs: undefined }, ctx);
}

export interface TenantClaim {
  source: 'path' | 'header' | 'host';
  value: string;
  /** Resolved tenant id, or undefined when no tenant has that slug/id/domain. */
  tenantId: string | undefined;
}

/** A pipeline stage: reads and extends the context, throws a GatewayError to stop. */
export type Stage = (ctx: RequestContext) => void | Promise<void>;
