/**
 * The AWS Bedrock adapter: OpenAI chat → Converse / ConverseStream, OpenAI embeddings → Titan
 * InvokeModel, each request SigV4-signed. The exchange itself is ../upstream-call.ts (same
 * pools, cancellation and error mapping as the OpenAI adapter); the answer is not OpenAI-shaped,
 * so it is translated here: JSON bodies whole (they are small), streams frame by frame through
 * ./stream.ts, whose usage promise is the one the gateway meters and settles limits with.
 */
import { pipeline, Readable } from 'node:stream';
import type { SignatureV4 } from '@smithy/signature-v4';
import { GatewayError } from '../../errors.js';
import { PoolRegistry, type PoolSlot } from '../pools.js';
import type { AwsAccess, Deployment, OutboundGuard, ProviderAdapter, ProviderKind, UpstreamRequest, UpstreamResponse, Usage } from '../types.js';
import { bodyTimeoutMs, dispatchCall, type CallHooks } from '../upstream-call.js';
import { bedrockHooks } from './hooks.js';
import { toConverseRequest, toTitanRequests } from './request.js';
import { asTitanEmbedding, toChatCompletion, toEmbeddingList, type CompletionMeta } from './response.js';
import { createSigner, signedHeaders, signTarget, type SignTarget } from './sign.js';
import { ConverseStreamTranslator } from './stream.js';
import type { TitanEmbeddingResponse } from './wire.js';

const EVENT_STREAM = 'application/vnd.amazon.eventstream';
/** Non-stream answers are read whole to translate them; more than this is not a chat answer. */
const JSON_BODY_LIMIT = 32 * 1024 * 1024;

interface BedrockEndpoint {
  slot: PoolSlot;
  target: SignTarget;
  /** `{baseUrl path}/model/{modelId}`: the operation is appended. */
  modelPath: string;
  signer: SignatureV4;
  hooks: CallHooks;
  source: { baseUrl: string; upstreamModel: string; capacity: number; aws: AwsAccess; outbound: OutboundGuard | undefined };
}

export class BedrockAdapter implements ProviderAdapter {
  readonly kind: ProviderKind = 'bedrock';
  private readonly pools = new PoolRegistry();
  private readonly endpoints = new WeakMap<Deployment, BedrockEndpoint>();

  async send(d: Deployment, req: UpstreamRequest): Promise<UpstreamResponse> {
    const endpoint = this.endpoint(d);
    if (req.operation === 'chat') return this.chat(endpoint, d, req);
    if (req.operation === 'embeddings') return this.embeddings(endpoint, d, req);
    throw new GatewayError('unsupported_operation', 'Bedrock deployments serve chat completions and embeddings, not legacy completions.');
  }

  close(graceMs?: number): Promise<void> {
    return this.pools.close(graceMs);
  }

  private async chat(e: BedrockEndpoint, d: Deployment, req: UpstreamRequest): Promise<UpstreamResponse> {
    const { request, includeUsage } = toConverseRequest(req.body);
    const path = `${e.modelPath}/${req.stream ? 'converse-stream' : 'converse'}`;
    const res = await this.call(e, d, req, path, JSON.stringify(request), req.stream ? EVENT_STREAM : 'application/json');
    if (res.status >= 300) return res;
    const meta: CompletionMeta = { id: `chatcmpl-${req.requestId}`, created: Math.floor(Date.now() / 1000), model: d.upstreamModel };
    if (!req.stream) {
      const { body, usage } = toChatCompletion(await readJson(res.body), meta);
      return jsonResponse(res.headers, body, usage);
    }
    const translator = new ConverseStreamTranslator({ ...meta, includeUsage });
    // Errors reach the translator (and so the client) through pipeline; destroying the
    // translator (client gone) destroys the upstream body, which aborts the upstream call.
    pipeline(res.body, translator, () => undefined);
    return {
      status: 200,
      headers: { ...res.headers, 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache' },
      body: translator,
      usage: translator.usage,
    };
  }

  /** Titan embeds one text per call: one signed InvokeModel per input, in order. */
  private async embeddings(e: BedrockEndpoint, d: Deployment, req: UpstreamRequest): Promise<UpstreamResponse> {
    const { requests, base64 } = toTitanRequests(req.body);
    const results: TitanEmbeddingResponse[] = [];
    let headers: Record<string, string> = {};
    for (const body of requests) {
      const res = await this.call(e, d, req, `${e.modelPath}/invoke`, JSON.stringify(body), 'application/json');
      if (res.status >= 300) return res;
      headers = res.headers;
      results.push(asTitanEmbedding(await readJson(res.body)));
    }
    const { body, usage } = toEmbeddingList(results, d.upstreamModel, base64);
    return jsonResponse(headers, body, usage);
  }

  private async call(e: BedrockEndpoint, d: Deployment, req: UpstreamRequest, path: string, body: string, accept: string): Promise<UpstreamResponse> {
    const headers = await signedHeaders(e.signer, e.target, path, body, accept);
    headers.push('x-request-id', req.requestId);
    return dispatchCall(
      e.slot.pool,
      { method: 'POST', path, headers, body, headersTimeout: d.timeoutMs, bodyTimeout: bodyTimeoutMs(d, req.stream) },
      req.signal,
      e.hooks,
    );
  }

  private endpoint(d: Deployment): BedrockEndpoint {
    const hit = this.endpoints.get(d);
    if (hit !== undefined && sameSource(hit, d)) return hit;
    const aws = d.aws;
    if (aws === undefined) throw new GatewayError('internal_error', `Deployment ${d.id} (bedrock) has no AWS credentials configured.`);
    const url = new URL(d.baseUrl);
    const endpoint: BedrockEndpoint = {
      slot: this.pools.forDeployment(d),
      target: signTarget(d.baseUrl),
      // The AWS SDK escapes the model id (ARNs carry ':' and '/'); the signer escapes it again.
      modelPath: `${url.pathname.replace(/\/+$/, '')}/model/${encodeURIComponent(d.upstreamModel)}`,
      signer: createSigner(aws),
      hooks: bedrockHooks(aws.secretAccessKey),
      source: { baseUrl: d.baseUrl, upstreamModel: d.upstreamModel, capacity: d.capacity, aws, outbound: d.outbound },
    };
    this.endpoints.set(d, endpoint);
    return endpoint;
  }
}

function sameSource(e: BedrockEndpoint, d: Deployment): boolean {
  const s = e.source;
  const a = d.aws;
  return (
    s.baseUrl === d.baseUrl &&
    s.upstreamModel === d.upstreamModel &&
    s.capacity === d.capacity &&
    s.outbound === d.outbound &&
    a !== undefined &&
    s.aws.accessKeyId === a.accessKeyId &&
    s.aws.secretAccessKey === a.secretAccessKey &&
    s.aws.sessionToken === a.sessionToken &&
    s.aws.region === a.region
  );
}

async function readJson(body: Readable): Promise<unknown> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of body as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > JSON_BODY_LIMIT) {
      body.destroy();
      throw new GatewayError('upstream_error', 'The upstream provider answered with an oversized body.');
    }
    chunks.push(chunk);
  }
  try {
    return JSON.parse(Buffer.concat(chunks, size).toString('utf8')) as unknown;
  } catch {
    throw new GatewayError('upstream_error', 'The upstream provider answered with malformed JSON.');
  }
}

function jsonResponse(upstream: Record<string, string>, body: Record<string, unknown>, usage: Usage | undefined): UpstreamResponse {
  const bytes = Buffer.from(JSON.stringify(body));
  return {
    status: 200,
    headers: { ...upstream, 'content-type': 'application/json', 'content-length': String(bytes.length) },
    body: Readable.from([bytes], { objectMode: false }),
    usage: Promise.resolve(usage),
  };
}

export function createBedrockAdapter(): BedrockAdapter {
  return new BedrockAdapter();
}
