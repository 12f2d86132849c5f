/**
 * The Anthropic Messages adapter: the canonical (OpenAI chat) request is translated to
 * `POST {baseUrl}/v1/messages`, and the answer back to OpenAI chat completion JSON or chunk
 * SSE on its way to the client. The exchange is the shared one (../upstream-call.ts) with no
 * usage scanner: the translator reads usage from the events it translates anyway.
 */
import { GatewayError } from '../../errors.js';
import { DEFAULT_BASE_URLS } from '../base-urls.js';
import { PoolRegistry, type PoolSlot } from '../pools.js';
import { translateBody } from '../translate-body.js';
import type { Deployment, ProviderAdapter, ProviderKind, UpstreamRequest, UpstreamResponse } from '../types.js';
import { bodyTimeoutMs, dispatchCall, type CallHooks } from '../upstream-call.js';
import { header, transportError } from '../upstream-errors.js';
import { rejectAnthropic } from './errors.js';
import { AnthropicJsonTranslator } from './json.js';
import { toAnthropicRequest } from './request.js';
import { AnthropicStreamTranslator } from './stream.js';
import { ANTHROPIC_VERSION } from './wire.js';

/** Where a deployment without a base URL goes. */
export const ANTHROPIC_BASE_URL = DEFAULT_BASE_URLS.anthropic;
const USER_AGENT = 'gatehouse/0.1';

interface Endpoint {
  slot: PoolSlot;
  path: string;
  jsonHeaders: string[];
  sseHeaders: string[];
  hooks: CallHooks;
  source: Pick<Deployment, 'baseUrl' | 'apiKey' | 'capacity' | 'outbound'>;
}

export class AnthropicAdapter implements ProviderAdapter {
  readonly kind: ProviderKind = 'anthropic';
  private readonly pools = new PoolRegistry();
  private readonly endpoints = new WeakMap<Deployment, Endpoint>();

  async send(d: Deployment, req: UpstreamRequest): Promise<UpstreamResponse> {
    if (req.operation !== 'chat') {
      throw new GatewayError('unsupported_operation', `The model \`${d.model}\` (Anthropic) does not support ${req.operation}; use chat completions.`, {
        param: 'model',
      });
    }
    const endpoint = this.endpoint(d);
    const body = JSON.stringify(toAnthropicRequest(req.body, d.upstreamModel));
    const upstream = await dispatchCall(
      endpoint.slot.pool,
      {
        method: 'POST',
        path: endpoint.path,
        headers: req.stream ? endpoint.sseHeaders : endpoint.jsonHeaders,
        body,
        headersTimeout: d.timeoutMs,
        bodyTimeout: bodyTimeoutMs(d, req.stream),
      },
      req.signal,
      endpoint.hooks,
    );
    if (upstream.status >= 300) return upstream; // an error already in the OpenAI envelope
    const created = Math.floor(Date.now() / 1000);
    const isSse = upstream.headers['content-type']?.startsWith('text/event-stream') === true;
    const translator = isSse
      ? new AnthropicStreamTranslator({ includeUsage: includeUsage(req.body), created, model: d.upstreamModel })
      : new AnthropicJsonTranslator(created);
    const translated = translateBody(upstream.body, translator);
    const headers: Record<string, string> = { 'content-type': isSse ? 'text/event-stream' : 'application/json' };
    const id = upstream.headers['x-upstream-request-id'];
    if (id !== undefined) headers['x-upstream-request-id'] = id;
    return { status: upstream.status, headers, body: translated.body, usage: translated.usage };
  }

  close(graceMs?: number): Promise<void> {
    return this.pools.close(graceMs);
  }

  private endpoint(d: Deployment): Endpoint {
    const hit = this.endpoints.get(d);
    const s = hit?.source;
    if (hit !== undefined && s?.baseUrl === d.baseUrl && s.apiKey === d.apiKey && s.capacity === d.capacity && s.outbound === d.outbound) {
      return hit;
    }
    const baseUrl = d.baseUrl === '' ? ANTHROPIC_BASE_URL : d.baseUrl;
    const url = new URL(baseUrl);
    // Accept a base URL configured with or without the /v1 suffix.
    const base = url.pathname.replace(/\/+$/, '').replace(/\/v1$/, '');
    // Bodies are translated as they come, never decoded: asked for uncompressed (../upstream-call.ts).
    const common = ['content-type', 'application/json', 'accept-encoding', 'identity', 'user-agent', USER_AGENT, 'anthropic-version', ANTHROPIC_VERSION];
    if (d.apiKey !== '') common.push('x-api-key', d.apiKey);
    const endpoint: Endpoint = {
      slot: this.pools.forDeployment(d, baseUrl),
      path: `${base}/v1/messages${url.search}`,
      jsonHeaders: common.concat('accept', 'application/json'),
      sseHeaders: common.concat('accept', 'text/event-stream'),
      hooks: anthropicHooks(d.apiKey),
      source: { baseUrl: d.baseUrl, apiKey: d.apiKey, capacity: d.capacity, outbound: d.outbound },
    };
    this.endpoints.set(d, endpoint);
    return endpoint;
  }
}

function includeUsage(body: Record<string, unknown>): boolean {
  const opts = body.stream_options;
  return typeof opts === 'object' && opts !== null && (opts as { include_usage?: unknown }).include_usage === true;
}

function anthropicHooks(secret: string): CallHooks {
  return {
    accept(_status, headers) {
      const out: Record<string, string> = { 'content-type': header(headers, 'content-type') ?? 'application/json' };
      const id = header(headers, 'request-id');
      if (id !== undefined) out['x-upstream-request-id'] = id;
      // The translators read usage from the body they translate; no scanner on the raw bytes.
      return { headers: out, scanner: undefined };
    },
    reject: (status, headers, text) => rejectAnthropic(status, headers, text, secret),
    transportError,
  };
}

export function createAnthropicAdapter(): AnthropicAdapter {
  return new AnthropicAdapter();
}
