/**
 * A mock Anthropic Messages API: a real HTTP server speaking the wire format of
 * `POST /v1/messages` (anthropic-version 2023-06-01), for the adapter's tests, the e2e tests and
 * local runs. It validates like the real API (x-api-key, anthropic-version, max_tokens,
 * alternating user/assistant turns), answers deterministically (./answer.ts), streams the real
 * event names in the real order, and answers errors in Anthropic's envelope.
 *
 * Injected failures, by upstream model name: a model containing `error-NNN` answers HTTP NNN with
 * the matching error type (`error-429` carries retry-after, `error-529` is overloaded_error),
 * `stream-error` fails a stream after its first delta with an `error` event, and `stream-stall`
 * sends nothing more after its first delta, the connection left open until the client leaves.
 */
import { createServer, type IncomingHttpHeaders, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { AnthropicErrorType, AnthropicRequest, AnthropicResponse, StreamEvent } from '../../anthropic/wire.js';
import { answer, type MockAnswer } from './answer.js';

export interface MockAnthropicOptions {
  /** When set, x-api-key must equal it; otherwise any non-empty key is accepted. */
  apiKey?: string;
  /** Delay between stream events, ms (0 = as fast as possible). */
  eventDelayMs?: number;
}

export interface RecordedAnthropicRequest {
  path: string;
  headers: IncomingHttpHeaders;
  body: unknown;
}

export interface MockAnthropic {
  /** Base URL for the gateway's deployment (`baseUrl`) and for Anthropic SDKs: http://127.0.0.1:PORT */
  readonly url: string;
  readonly requests: RecordedAnthropicRequest[];
  /** Streams the client abandoned before their end. */
  readonly aborted: number;
  readonly completed: number;
  close(): Promise<void>;
}

const STATUS_TYPES: Record<number, AnthropicErrorType> = {
  400: 'invalid_request_error',
  401: 'authentication_error',
  403: 'permission_error',
  404: 'not_found_error',
  413: 'request_too_large',
  429: 'rate_limit_error',
  500: 'api_error',
  529: 'overloaded_error',
};

class Invalid extends Error {
  readonly status: number;
  constructor(status: number, message: string) {
    super(message);
    this.status = status;
  }
}

let messageIds = 0;

export async function startMockAnthropic(opts: MockAnthropicOptions = {}): Promise<MockAnthropic> {
  const state = { aborted: 0, completed: 0 };
  const requests: RecordedAnthropicRequest[] = [];
  const server: Server = createServer((req, res) => {
    handle(req, res, opts, requests, state).catch((err: unknown) => {
      if (!res.headersSent) sendError(res, err instanceof Invalid ? err.status : 500, err instanceof Error ? err.message : 'mock failure');
      else res.destroy();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    get aborted() {
      return state.aborted;
    },
    get completed() {
      return state.completed;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

async function handle(
  req: IncomingMessage,
  res: ServerResponse,
  opts: MockAnthropicOptions,
  requests: RecordedAnthropicRequest[],
  state: { aborted: number; completed: number },
): Promise<void> {
  const raw = await readAll(req);
  let body: unknown;
  try {
    body = raw === '' ? undefined : JSON.parse(raw);
  } catch {
    body = raw;
  }
  requests.push({ path: req.url ?? '', headers: req.headers, body });
  if (requests.length > 100) requests.shift();

  if (req.method !== 'POST' || req.url?.split('?')[0] !== '/v1/messages') throw new Invalid(404, 'Not found');
  const key = req.headers['x-api-key'];
  if (typeof key !== 'string' || key === '') throw new Invalid(401, 'x-api-key header is required');
  if (opts.apiKey !== undefined && key !== opts.apiKey) throw new Invalid(401, 'invalid x-api-key');
  if (req.headers['anthropic-version'] === undefined) throw new Invalid(400, 'anthropic-version: header is required');
  const request = validate(body);
  const injected = /error-(\d{3})/.exec(request.model);
  if (injected !== null) {
    const status = Number(injected[1]);
    throw new Invalid(status, `Injected error ${status} for model ${request.model}`);
  }
  const result = answer(request);
  const id = `msg_mock${(++messageIds).toString(36).padStart(8, '0')}`;
  if (request.stream === true) {
    await stream(res, id, request, result, opts.eventDelayMs ?? 0, state);
    return;
  }
  const message: AnthropicResponse = {
    id,
    type: 'message',
    role: 'assistant',
    model: request.model,
    content: result.blocks,
    stop_reason: result.stopReason,
    stop_sequence: result.stopSequence,
    usage: { input_tokens: result.inputTokens, output_tokens: result.outputTokens, cache_creation_input_tokens: 0, cache_read_input_tokens: 0 },
  };
  const text = JSON.stringify(message);
  res.writeHead(200, { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(text)), 'request-id': `req_${id}` });
  res.end(text);
  state.completed++;
}

function validate(body: unknown): AnthropicRequest {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) throw new Invalid(400, 'body: expected an object');
  const b = body as Record<string, unknown>;
  if (typeof b.model !== 'string' || b.model === '') throw new Invalid(400, 'model: Field required');
  if (!Number.isInteger(b.max_tokens) || (b.max_tokens as number) < 1) throw new Invalid(400, 'max_tokens: Field required');
  if (!Array.isArray(b.messages) || b.messages.length === 0) throw new Invalid(400, 'messages: at least one message is required');
  let previous: unknown;
  b.messages.forEach((m: unknown, i) => {
    const role = (m as { role?: unknown } | null)?.role;
    if (role !== 'user' && role !== 'assistant') throw new Invalid(400, `messages.${i}.role: Input should be 'user' or 'assistant'`);
    if (role === previous) throw new Invalid(400, `messages: roles must alternate between "user" and "assistant"`);
    const content = (m as { content?: unknown }).content;
    if (typeof content !== 'string' && !Array.isArray(content)) throw new Invalid(400, `messages.${i}.content: Field required`);
    previous = role;
  });
  if (b.system !== undefined && typeof b.system !== 'string' && !Array.isArray(b.system)) throw new Invalid(400, 'system: Input should be a valid string');
  if (b.stop_sequences !== undefined && !Array.isArray(b.stop_sequences)) throw new Invalid(400, 'stop_sequences: Input should be a valid list');
  if (b.temperature !== undefined && (typeof b.temperature !== 'number' || b.temperature < 0 || b.temperature > 1)) {
    throw new Invalid(400, 'temperature: Input should be less than or equal to 1');
  }
  if (b.tools !== undefined) {
    if (!Array.isArray(b.tools)) throw new Invalid(400, 'tools: Input should be a valid list');
    b.tools.forEach((t: unknown, i) => {
      const tool = t as { name?: unknown; input_schema?: unknown } | null;
      if (typeof tool?.name !== 'string' || typeof tool.input_schema !== 'object') throw new Invalid(400, `tools.${i}: name and input_schema are required`);
    });
  }
  return b as unknown as AnthropicRequest;
}

function sendError(res: ServerResponse, status: number, message: string): void {
  const type = STATUS_TYPES[status] ?? (status >= 500 ? 'api_error' : 'invalid_request_error');
  const text = JSON.stringify({ type: 'error', error: { type, message }, request_id: 'req_mockerror' });
  const headers: Record<string, string> = { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(text)), 'request-id': 'req_mockerror' };
  if (status === 429) headers['retry-after'] = '7';
  res.writeHead(status, headers);
  res.end(text);
}

async function stream(
  res: ServerResponse,
  id: string,
  request: AnthropicRequest,
  result: MockAnswer,
  delayMs: number,
  state: { aborted: number; completed: number },
): Promise<void> {
  let gone = false;
  res.once('close', () => {
    if (!res.writableFinished) {
      gone = true;
      state.aborted++;
    }
  });
  res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache', 'request-id': `req_${id}` });
  const send = async (event: StreamEvent): Promise<boolean> => {
    if (gone) return false;
    const ok = res.write(`event: ${event.type}\ndata: ${JSON.stringify(event)}\n\n`);
    if (!ok) await new Promise<void>((r) => res.once('drain', r));
    if (delayMs > 0) await new Promise<void>((r) => setTimeout(r, delayMs));
    return !gone;
  };
  const start: AnthropicResponse = {
    id,
    type: 'message',
    role: 'assistant',
    model: request.model,
    content: [],
    stop_reason: null,
    stop_sequence: null,
    usage: { input_tokens: result.inputTokens, output_tokens: 1, cache_creation_input_tokens: 0, cache_read_input_tokens: 0 },
  };
  if (!(await send({ type: 'message_start', message: start }))) return;
  const failing = request.model.includes('stream-error');
  const stalling = request.model.includes('stream-stall');
  for (let index = 0; index < result.blocks.length; index++) {
    const block = result.blocks[index];
    if (block === undefined) continue;
    const opening = block.type === 'tool_use' ? { ...block, input: {} } : block.type === 'text' ? { type: 'text' as const, text: '' } : block;
    if (!(await send({ type: 'content_block_start', index, content_block: opening }))) return;
    if (index === 0 && !(await send({ type: 'ping' }))) return;
    for (const piece of result.pieces[index] ?? []) {
      const delta = block.type === 'tool_use' ? { type: 'input_json_delta' as const, partial_json: piece } : { type: 'text_delta' as const, text: piece };
      if (!(await send({ type: 'content_block_delta', index, delta }))) return;
      if (failing) {
        await send({ type: 'error', error: { type: 'overloaded_error', message: 'Overloaded' } });
        res.end();
        return;
      }
      if (stalling) {
        // A provider hung mid-stream: no end, no error, until the client gives up.
        if (!res.destroyed) await new Promise<void>((r) => res.once('close', () => r()));
        return;
      }
    }
    if (!(await send({ type: 'content_block_stop', index }))) return;
  }
  if (!(await send({ type: 'message_delta', delta: { stop_reason: result.stopReason, stop_sequence: result.stopSequence }, usage: { output_tokens: result.outputTokens } }))) return;
  if (!(await send({ type: 'message_stop' }))) return;
  res.end();
  state.completed++;
}

function readAll(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}
