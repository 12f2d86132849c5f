/**
 * The OpenAI-wire adapter: OpenAI, Azure OpenAI, every OpenAI-compatible server (vLLM, Ollama,
 * Groq, Together, OpenRouter...) and the built-in mock, which speaks the same wire format so mock
 * traffic takes the code path real traffic takes.
 *
 * Hot path (DESIGN §9, §10): an undici Pool (not fetch), one JSON.stringify, an endpoint
 * computed once per deployment, and the response body streamed through a usage scanner by
 * ../upstream-call.ts. Success bodies are never parsed whole.
 */
import type { Deployment, MockBehaviour, ProviderAdapter, ProviderKind, UpstreamRequest, UpstreamResponse } from '../types.js';
import { bodyTimeoutMs, dispatchCall } from '../upstream-call.js';
import { PoolRegistry } from '../pools.js';
import { EndpointCache } from './endpoint.js';

export const OPENAI_WIRE_KINDS: readonly ProviderKind[] = ['openai', 'azure', 'openai-compatible', 'mock'];

export class OpenAIAdapter implements ProviderAdapter {
  /** One instance serves every OpenAI-wire kind; 'openai' names the wire format. */
  readonly kind: ProviderKind = 'openai';
  private readonly pools = new PoolRegistry();
  private readonly endpoints = new EndpointCache(this.pools);

  send(d: Deployment, req: UpstreamRequest): Promise<UpstreamResponse> {
    let endpoint;
    try {
      endpoint = this.endpoints.get(d);
    } catch (err) {
      return Promise.reject(err);
    }
    return dispatchCall(
      endpoint.slot.pool,
      {
        method: 'POST',
        path: endpoint.paths[req.operation],
        headers: (req.stream ? endpoint.sseHeaders : endpoint.jsonHeaders).concat('x-request-id', req.requestId),
        body: upstreamBody(req.body, d.upstreamModel, endpoint.mock),
        // undici's timers tick at ~0.5 s resolution, fine for timeouts of seconds and cheap.
        headersTimeout: d.timeoutMs,
        // Between body chunks (not while the client is slow to read), so a stalled stream
        // fails while a long healthy one lives.
        bodyTimeout: bodyTimeoutMs(d, req.stream),
      },
      req.signal,
      endpoint.hooks,
    );
  }

  /** Waits up to `graceMs` for in-flight requests, then closes their connections. */
  close(graceMs?: number): Promise<void> {
    return this.pools.close(graceMs);
  }
}

/** Shallow copy: the caller's body is not ours to change; unknown fields ride along. */
function upstreamBody(body: Record<string, unknown>, model: string, mock: MockBehaviour | undefined): string {
  if (mock === undefined) return JSON.stringify({ ...body, model });
  // The mock reads its behaviour from the body; the request's own `mock` field wins.
  const own = typeof body.mock === 'object' && body.mock !== null ? body.mock : undefined;
  return JSON.stringify({ ...body, model, mock: { ...mock, ...own } });
}

export function createOpenAIAdapter(): OpenAIAdapter {
  return new OpenAIAdapter();
}
