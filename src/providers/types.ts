/**
 * Canonical types shared by every provider adapter. The canonical request is the OpenAI wire
 * shape (it is what most clients send); adapters for other APIs translate from and to it.
 * Nothing here knows about tenants or HTTP servers.
 */
import type { LookupFunction } from 'node:net';
import type { Readable } from 'node:stream';
import type { FailMode } from '../limits/types.js';
import type { CancelSignal } from './cancel.js';

export type Operation = 'chat' | 'completions' | 'embeddings';

/** What a deployment serves; decides which operations it accepts. */
export type ModelKind = 'chat' | 'completion' | 'embedding';

export type ProviderKind = 'openai' | 'azure' | 'openai-compatible' | 'mock' | 'bedrock' | 'gemini' | 'anthropic';

export interface Prices {
  /** Price per million input tokens, in micro-units of the currency (integer). */
  inputPerMTok: number;
  outputPerMTok: number;
  cachedInputPerMTok: number;
  perRequest: number;
}

/** One upstream endpoint serving one public model name. */
export interface Deployment {
  id: string;
  /** Public model name clients ask for. */
  model: string;
  /** Version reported in the X-Gatehouse-Model-Version header. */
  version: string;
  kind: ModelKind;
  provider: ProviderKind;
  /** Model name sent upstream (Azure: the deployment name). */
  upstreamModel: string;
  baseUrl: string;
  /** Resolved credential; never logged. Empty for providers without auth. */
  apiKey: string;
  /** Azure only. */
  apiVersion?: string;
  /** Bedrock only: the AWS credentials and the AWS region requests are signed for. */
  aws?: AwsAccess;
  region: string;
  /** Max concurrent upstream requests. */
  capacity: number;
  /** Compute units one unit of work on this model costs (> 0; 1 = the reference model). */
  weight: number;
  /**
   * Share of the model's traffic under the `weighted` routing strategy (default 1). Not `weight`,
   * which prices work for limits: a cheap, big deployment may take most traffic at weight 1.
   */
  routingWeight?: number;
  /** Per-attempt timeout until response headers, overriding the model's routing setting. */
  attemptTimeoutMs?: number;
  /** What admission does here when the shared limits backend (Redis) cannot be reached. */
  limitsFailMode: FailMode;
  /** Until the response headers, and the longest silence between body chunks (undici's timeouts). */
  timeoutMs: number;
  /**
   * The longest silence between chunks of a streamed response, when tighter than `timeoutMs`: a
   * stream that stalls for this long is ended with an error event and its upstream call cancelled.
   */
  streamIdleTimeoutMs?: number;
  prices: Prices;
  /**
   * The price-book version `prices` are (its id), recorded with each usage event. Set and kept
   * current together with `prices` by src/billing/price-follower.ts, the only writer after start;
   * absent until the price book was read, and on tenants' own deployments (their prices are theirs).
   */
  priceVersion?: string;
  /** Mock provider behaviour, when provider is 'mock'. */
  mock?: MockBehaviour;
  ownedBy: string;
  created: number;
  /**
   * Connect-time address rules, set on deployments whose base URL a tenant chose (src/routing/
   * ssrf.ts); absent on operator-configured ones, which are trusted. Connections of guarded
   * deployments never share a pool with unguarded ones.
   */
  outbound?: OutboundGuard;
}

/** Refuses connections to addresses a tenant must not reach; the adapter applies it when connecting. */
export interface OutboundGuard {
  /** Names the rules, so pools of different rules are kept apart. */
  readonly id: string;
  /** For net/tls.connect: resolves, checks every address, connects only to a checked one. */
  readonly lookup: LookupFunction;
  /** Node does no lookup for an IP-literal host: the reason such a base URL is refused, if it is. */
  refuses(baseUrl: string): string | undefined;
}

/** Resolved AWS credentials (never logged) and the AWS region of the endpoint (e.g. us-east-1). */
export interface AwsAccess {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken?: string;
  region: string;
}

export interface MockBehaviour {
  /** Delay before the first byte, ms. */
  latencyMs: number;
  /** Streaming rate, tokens (chunks) per second; 0 = as fast as possible. */
  tokensPerSecond: number;
  /** Probability 0..1 of answering with an injected error. */
  errorRate: number;
  /** Status of injected errors. */
  errorStatus: number;
}

export interface Usage {
  promptTokens: number;
  completionTokens: number;
  totalTokens: number;
  cachedTokens: number;
  /**
   * True when the provider reported nothing and these counts are the gateway's estimate (a
   * stream cut off or sent without usage: one output token per content chunk that passed).
   */
  estimated?: boolean;
}

export interface UpstreamRequest {
  operation: Operation;
  /** OpenAI-shaped body; unknown fields are preserved and forwarded. */
  body: Record<string, unknown>;
  stream: boolean;
  requestId: string;
  signal: CancelSignal;
}

export interface UpstreamResponse {
  status: number;
  /** Headers worth passing back to the client (content-type, upstream ids); already filtered. */
  headers: Record<string, string>;
  /** The body as bytes, piped to the client as it arrives. */
  body: Readable;
  /** Resolves when the body ends with the usage the provider reported (or undefined). */
  usage: Promise<Usage | undefined>;
}

/** One module per upstream API implements this. */
export interface ProviderAdapter {
  readonly kind: ProviderKind;
  send(deployment: Deployment, req: UpstreamRequest): Promise<UpstreamResponse>;
  close(): Promise<void>;
}
