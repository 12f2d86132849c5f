/**
 * The edge of POST /v1/messages: the canonical answer (OpenAI chat JSON or chunk SSE, whichever
 * provider served it) translated into Anthropic Messages, and errors in Anthropic's envelope
 * (`{"type":"error","error":{"type","message"}}`) with the status that makes Anthropic SDKs
 * raise the matching exception. Only this endpoint comes here; the OpenAI path is untouched.
 */
import type { ServerResponse } from 'node:http';
import type { GatewayError } from '../errors.js';
import { OpenAIJsonToAnthropic, errorBody } from '../providers/anthropic/inbound/response.js';
import { OpenAIStreamToAnthropic } from '../providers/anthropic/inbound/stream.js';
import { translateBody } from '../providers/translate-body.js';
import type { UpstreamResponse } from '../providers/types.js';
import { sendJson } from './respond.js';

/** The same answer in Anthropic's format; usage (for metering) stays the upstream's. */
export function toAnthropicUpstream(upstream: UpstreamResponse, model: string, requestId: string): UpstreamResponse {
  const sse = upstream.status < 300 && upstream.headers['content-type']?.startsWith('text/event-stream') === true;
  const translator = sse ? new OpenAIStreamToAnthropic(model) : new OpenAIJsonToAnthropic(upstream.status, requestId);
  const headers: Record<string, string> = { 'content-type': sse ? 'text/event-stream' : 'application/json' };
  if (sse) headers['cache-control'] = 'no-cache';
  // Anthropic SDKs expose this header as the response's `_request_id`.
  headers['request-id'] = requestId;
  const id = upstream.headers['x-upstream-request-id'];
  if (id !== undefined) headers['x-upstream-request-id'] = id;
  // A cache hit says how old it is (RFC 9111 §5.1), as on the OpenAI path.
  const age = upstream.headers.age;
  if (age !== undefined) headers.age = age;
  return { status: upstream.status, headers, body: translateBody(upstream.body, translator).body, usage: upstream.usage };
}

export function sendAnthropicError(res: ServerResponse, err: GatewayError): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  for (const [name, value] of Object.entries(err.headers)) res.setHeader(name, value);
  const raw = res.getHeader('x-request-id');
  const id = typeof raw === 'string' ? raw : undefined;
  if (id !== undefined) res.setHeader('request-id', id);
  sendJson(res, err.status, errorBody(err.status, err.message, id));
}

/** Headers (`sent`) are out: an SSE stream ends with Anthropic's `error` event (SDKs raise it), anything else is cut. */
export function failAnthropicStream(res: ServerResponse, err: GatewayError, sent: Record<string, string>): void {
  const type = sent['content-type'];
  if (type !== undefined && type.startsWith('text/event-stream') && !res.writableEnded && !res.destroyed) {
    res.end(`event: error\ndata: ${JSON.stringify(errorBody(err.status, err.message, sent['x-request-id']))}\n\n`);
  } else {
    res.destroy();
  }
}
