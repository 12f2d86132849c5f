/**
 * The Google Gemini adapter (Generative Language API, v1beta): chat through
 * `models/{model}:generateContent` and `:streamGenerateContent?alt=sse`, embeddings through
 * `:batchEmbedContents`. The exchange is the shared one (../upstream-call.ts, on an undici Pool
 * from the OpenAI adapter's PoolRegistry); the bodies are translated here both ways, because
 * Gemini's wire format is not OpenAI's.
 *
 * The credential goes in the `x-goog-api-key` header, never in the URL (`?key=`), where it would
 * end up in access logs and error messages.
 *
 * Non-stream answers are read whole (they are one JSON document; bounded by BODY_LIMIT) and
 * translated; streams are translated chunk by chunk as they pass (TranslatedStream), so nothing
 * is buffered beyond one SSE line.
 */
import { randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { GatewayError } from '../../errors.js';
import { PoolRegistry, type PoolSlot } from '../pools.js';
import type { Deployment, Operation, ProviderAdapter, ProviderKind, UpstreamRequest, UpstreamResponse, Usage } from '../types.js';
import { bodyTimeoutMs, type CallHooks, dispatchCall } from '../upstream-call.js';
import { geminiHooks } from './hooks.js';
import { toBatchEmbedRequest, toGenerateContentRequest } from './request.js';
import { type TranslationContext, gatewayUsage, openAIUsage, toChatCompletion, toEmbeddingList } from './response.js';
import { GeminiStreamTranslator } from './stream.js';
import type { GeminiBatchEmbedContentsResponse, GeminiGenerateContentResponse } from './wire.js';

const USER_AGENT = 'gatehouse/0.1';
/** Requests per batchEmbedContents call: Gemini refuses more ("at most 100 requests can be in one batch"). */
export const GEMINI_EMBED_BATCH = 100;

/** Upper bound for a non-stream answer read whole (embeddings of large batches are the big ones). */
const BODY_LIMIT = 64 * 1024 * 1024;

interface GeminiEndpoint {
  readonly slot: PoolSlot;
  readonly generate: string;
  readonly stream: string;
  readonly embed: string;
  readonly jsonHeaders: readonly string[];
  readonly sseHeaders: readonly string[];
  readonly hooks: CallHooks;
  readonly source: Pick<Deployment, 'baseUrl' | 'apiKey' | 'upstreamModel' | 'capacity' | 'outbound'>;
}

/** `{base}/v1beta/models/{model}:{method}`; a base path (a proxy prefix) is kept. */
export function geminiPaths(d: Pick<Deployment, 'baseUrl' | 'upstreamModel'>): { generate: string; stream: string; embed: string } {
  const base = new URL(d.baseUrl).pathname.replace(/\/+$/, '');
  const prefix = `${base}/v1beta/models/${encodeURIComponent(d.upstreamModel)}:`;
  return { generate: `${prefix}generateContent`, stream: `${prefix}streamGenerateContent?alt=sse`, embed: `${prefix}batchEmbedContents` };
}

/** Outbound headers; bodies asked for uncompressed, as they are translated as they come (../upstream-call.ts). */
export function geminiHeaders(apiKey: string, accept: string): string[] {
  const headers = ['content-type', 'application/json', 'accept', accept, 'accept-encoding', 'identity', 'user-agent', USER_AGENT];
  if (apiKey !== '') headers.push('x-goog-api-key', apiKey);
  return headers;
}

export class GeminiAdapter implements ProviderAdapter {
  readonly kind: ProviderKind = 'gemini';
  private readonly pools = new PoolRegistry();
  private readonly endpoints = new WeakMap<Deployment, GeminiEndpoint>();

  async send(d: Deployment, req: UpstreamRequest): Promise<UpstreamResponse> {
    const endpoint = this.endpoint(d);
    if (req.operation === 'embeddings') return this.embeddings(d, endpoint, req);
    if (req.operation !== 'chat') throw unsupported(req.operation);
    const body = JSON.stringify(toGenerateContentRequest(req.body));
    const ctx = translationContext(typeof req.body.model === 'string' ? req.body.model : d.upstreamModel);
    const res = await this.call(d, endpoint, req, req.stream ? endpoint.stream : endpoint.generate, body, req.stream);
    // A client error (4xx), already in the OpenAI envelope by the hooks: nothing to translate.
    if (res.status >= 300) return res;
    if (req.stream) {
      const options = req.body.stream_options;
      const includeUsage = typeof options === 'object' && options !== null && (options as { include_usage?: unknown }).include_usage === true;
      const translated = new TranslatedStream(res.body, new GeminiStreamTranslator(ctx, includeUsage));
      const headers = { ...res.headers, 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache' };
      return { status: res.status, headers, body: translated, usage: translated.usage };
    }
    const upstream = parseBody<GeminiGenerateContentResponse>(await readWhole(res.body));
    const completion = toChatCompletion(upstream, ctx);
    const usage = upstream.usageMetadata === undefined ? undefined : gatewayUsage(openAIUsage(upstream.usageMetadata));
    return jsonResponse(res, Buffer.from(JSON.stringify(completion)), usage);
  }

  /** Waits up to `graceMs` for in-flight requests, then closes their connections. */
  close(graceMs?: number): Promise<void> {
    return this.pools.close(graceMs);
  }

  /**
   * batchEmbedContents takes at most 100 requests: a longer input list is sent as consecutive
   * batches (in order, so a failure of any batch is the answer and no later one is sent) and the
   * embeddings joined, as OpenAI's API takes up to 2,048 inputs in one call.
   */
  private async embeddings(d: Deployment, endpoint: GeminiEndpoint, req: UpstreamRequest): Promise<UpstreamResponse> {
    const t = toBatchEmbedRequest(req.body, d.upstreamModel);
    const embeddings: NonNullable<GeminiBatchEmbedContentsResponse['embeddings']> = [];
    let res: UpstreamResponse | undefined;
    for (let at = 0; at < t.request.requests.length; at += GEMINI_EMBED_BATCH) {
      const requests = t.request.requests.slice(at, at + GEMINI_EMBED_BATCH);
      res = await this.call(d, endpoint, req, endpoint.embed, JSON.stringify({ requests }), false);
      if (res.status >= 300) return res;
      const part = parseBody<GeminiBatchEmbedContentsResponse>(await readWhole(res.body));
      embeddings.push(...(part.embeddings ?? []));
    }
    if (res === undefined) throw new Error('no embedding batch was sent');
    const list = toEmbeddingList({ embeddings }, t.inputs, typeof req.body.model === 'string' ? req.body.model : d.upstreamModel, t.base64);
    const usage: Usage = {
      promptTokens: list.usage.prompt_tokens,
      completionTokens: 0,
      totalTokens: list.usage.total_tokens,
      cachedTokens: 0,
      estimated: true,
    };
    return jsonResponse(res, Buffer.from(JSON.stringify(list)), usage);
  }

  private call(d: Deployment, endpoint: GeminiEndpoint, req: UpstreamRequest, path: string, body: string, sse: boolean): Promise<UpstreamResponse> {
    return dispatchCall(
      endpoint.slot.pool,
      {
        method: 'POST',
        path,
        headers: (sse ? endpoint.sseHeaders : endpoint.jsonHeaders).concat('x-request-id', req.requestId),
        body,
        headersTimeout: d.timeoutMs,
        bodyTimeout: bodyTimeoutMs(d, sse),
      },
      req.signal,
      endpoint.hooks,
    );
  }

  private endpoint(d: Deployment): GeminiEndpoint {
    const hit = this.endpoints.get(d);
    const s = hit?.source;
    if (hit !== undefined && s?.baseUrl === d.baseUrl && s.apiKey === d.apiKey && s.upstreamModel === d.upstreamModel && s.capacity === d.capacity && s.outbound === d.outbound) {
      return hit;
    }
    const endpoint: GeminiEndpoint = {
      slot: this.pools.forDeployment(d),
      ...geminiPaths(d),
      jsonHeaders: geminiHeaders(d.apiKey, 'application/json'),
      sseHeaders: geminiHeaders(d.apiKey, 'text/event-stream'),
      hooks: geminiHooks(d.apiKey),
      source: { baseUrl: d.baseUrl, apiKey: d.apiKey, upstreamModel: d.upstreamModel, capacity: d.capacity, outbound: d.outbound },
    };
    this.endpoints.set(d, endpoint);
    return endpoint;
  }
}

function unsupported(op: Operation): GatewayError {
  return new GatewayError('unsupported_operation', `Provider gemini does not serve the ${op} operation; use chat completions.`);
}

function translationContext(model: string): TranslationContext {
  const base = randomBytes(12).toString('hex');
  return { id: `chatcmpl-${base}`, created: Math.floor(Date.now() / 1000), model, callId: (n) => `call_${base}_${n}` };
}

function jsonResponse(res: UpstreamResponse, body: Buffer, usage: Usage | undefined): UpstreamResponse {
  const headers = { ...res.headers, 'content-type': 'application/json', 'content-length': String(body.length) };
  return { status: res.status, headers, body: Readable.from([body], { objectMode: false }), usage: Promise.resolve(usage) };
}

/** Reads a success body whole; a transport failure or the caller's cancel rejects (body destroyed). */
function readWhole(body: Readable): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    body.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > BODY_LIMIT) body.destroy(new GatewayError('upstream_error', 'The upstream provider answered with a body too large to translate.'));
      else chunks.push(chunk);
    });
    body.once('end', () => resolve(Buffer.concat(chunks, size)));
    body.once('error', reject);
  });
}

function parseBody<T>(buf: Buffer): T {
  try {
    const v = JSON.parse(buf.toString('utf8')) as unknown;
    if (typeof v === 'object' && v !== null && !Array.isArray(v)) return v as T;
  } catch {
    // Reported below.
  }
  throw new GatewayError('upstream_error', 'The upstream provider answered with a body that is not a JSON object.');
}

/**
 * The client-facing body of a stream: upstream SSE in, OpenAI SSE out, with backpressure passed
 * through (a full buffer pauses the upstream body, which pauses its socket). Destroying it (the
 * client left) destroys the upstream body, which aborts the upstream request.
 */
class TranslatedStream extends Readable {
  readonly usage: Promise<Usage | undefined>;
  private settle: ((u: Usage | undefined) => void) | undefined;
  private readonly source: Readable;
  private readonly translator: GeminiStreamTranslator;

  constructor(source: Readable, translator: GeminiStreamTranslator) {
    super({ highWaterMark: 64 * 1024 });
    this.source = source;
    this.translator = translator;
    this.usage = new Promise((resolve) => (this.settle = resolve));
    source.on('data', (chunk: Buffer) => {
      const out = translator.push(chunk);
      if (translator.failure !== undefined) {
        // What was translated before the failure goes out first; then the server ends the
        // client's stream with an error event, and the upstream call is aborted.
        this.fail(out, translator.failure);
        return;
      }
      if (out !== '' && !this.push(out)) source.pause();
    });
    source.once('end', () => {
      const out = translator.end();
      this.settleUsage();
      // Ended before any candidate finished (or failed in its last line): not a whole answer.
      if (translator.failure !== undefined) {
        this.fail(out, translator.failure);
        return;
      }
      this.push(out);
      this.push(null);
    });
    source.once('error', (err: Error) => {
      this.settleUsage();
      this.destroy(err);
    });
  }

  override _read(): void {
    if (this.source.isPaused()) this.source.resume();
  }

  override _destroy(err: Error | null, cb: (error?: Error | null) => void): void {
    this.settleUsage();
    if (!this.source.destroyed) this.source.destroy(err ?? undefined);
    cb(err);
  }

  private fail(out: string, message: string): void {
    if (out !== '') this.push(out);
    this.destroy(new GatewayError('upstream_error', message));
  }

  private settleUsage(): void {
    const settle = this.settle;
    if (settle === undefined) return;
    this.settle = undefined;
    settle(this.translator.resolvedUsage());
  }
}
