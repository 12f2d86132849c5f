/**
 * The built-in mock provider: a real HTTP server (node:http) speaking the OpenAI wire format,
 * including Azure's deployment paths. It is the upstream of tests and benchmarks, so it is
 * deterministic, records what it receives, counts aborted responses, and keeps per-token work
 * to string concatenation.
 *
 * Behaviour (latency, pace, injected errors) comes from the start options and can be overridden
 * per request with a body field the gateway forwards untouched:
 * `{"mock":{"latencyMs":50,"tokensPerSecond":20,"errorRate":1,"errorStatus":503,"tokens":200}}`
 * (`"ignoreMaxTokens":true` plays a provider that generates past max_tokens and
 * max_completion_tokens), and deterministic failures (the first N requests, resets, stalls, broken streams) with
 * `mock.fail` (./faults.ts).
 */
import { createServer, type IncomingHttpHeaders, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { MockBehaviour } from '../types.js';
import { chatChunks, chatCompletion, planChat } from './chat.js';
import { completion, completionChunks, planCompletion, prompts } from './completions.js';
import { DEFAULT_DIMENSIONS, MAX_DIMENSIONS, MAX_VALUES, embeddingInputs, embeddingList } from './embeddings.js';
import { FaultCounters, parseFault } from './faults.js';
import { type StreamFault, type StreamStats, sendError, sendJson, streamSse, wait } from './respond.js';

export interface MockProviderOptions {
  host?: string;
  /** 0 (default) picks a free port. */
  port?: number;
  behaviour?: Partial<MockBehaviour>;
  /** When set, requests must carry `Authorization: Bearer <apiKey>` or `api-key: <apiKey>`. */
  apiKey?: string;
  /** Served by GET /v1/models. Chat and other operations accept any model name. */
  models?: string[];
}

export interface RecordedRequest {
  method: string;
  path: string;
  query: Record<string, string>;
  headers: IncomingHttpHeaders;
  /** Parsed JSON body; the raw text when it is not JSON; undefined when empty. */
  body: unknown;
}

export interface MockProvider {
  /** Base URL for OpenAI clients: http://127.0.0.1:PORT/v1 */
  readonly url: string;
  /** http://127.0.0.1:PORT, the base for Azure-style deployments. */
  readonly origin: string;
  /** The last 100 requests, oldest first. */
  readonly requests: RecordedRequest[];
  /** Responses the client abandoned before their end. */
  readonly aborted: number;
  /** Responses written to their end. */
  readonly completed: number;
  /** Times a stream waited for the client to read (socket backpressure). */
  readonly backpressureWaits: number;
  close(): Promise<void>;
}

export const DEFAULT_MODELS = ['mock-model', 'gpt-4o-mini', 'gpt-4o', 'gpt-3.5-turbo-instruct', 'text-embedding-3-small'];
const DEFAULT_BEHAVIOUR: MockBehaviour = { latencyMs: 0, tokensPerSecond: 0, errorRate: 0, errorStatus: 500 };
const RECORD_LIMIT = 100;
const MAX_BODY_BYTES = 32 * 1024 * 1024;
const CREATED = 1_700_000_000;
const AZURE_PATH = /^\/openai\/deployments\/([^/]+)\/(chat\/completions|completions|embeddings)$/;

type Operation = 'chat' | 'completions' | 'embeddings';
type Body = Record<string, unknown>;

interface Call {
  op: Operation;
  /** Azure deployment name, when the Azure form was used. */
  deployment?: string;
}

class MockServer implements MockProvider {
  url = '';
  origin = '';
  readonly requests: RecordedRequest[] = [];
  aborted = 0;
  completed = 0;
  readonly stats: StreamStats = { backpressureWaits: 0 };
  private readonly faults = new FaultCounters();
  private readonly server: Server;
  private readonly behaviour: MockBehaviour;
  private readonly apiKey: string | undefined;
  private readonly models: string[];

  constructor(opts: MockProviderOptions) {
    this.behaviour = { ...DEFAULT_BEHAVIOUR, ...opts.behaviour };
    this.apiKey = opts.apiKey;
    this.models = opts.models ?? DEFAULT_MODELS;
    this.server = createServer({ noDelay: true, requestTimeout: 0 }, (req, res) => {
      this.handle(req, res).catch((err: unknown) => {
        if (!res.headersSent) sendError(res, 500, `Mock provider failure: ${String(err)}`);
        else res.destroy();
      });
    });
    this.server.keepAliveTimeout = 65_000;
  }

  get backpressureWaits(): number {
    return this.stats.backpressureWaits;
  }

  async listen(host: string, port: number): Promise<void> {
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(port, host, () => {
        this.server.off('error', reject);
        resolve();
      });
    });
    const addr = this.server.address() as AddressInfo;
    const h = addr.family === 'IPv6' ? `[${addr.address}]` : addr.address;
    this.origin = `http://${h}:${addr.port}`;
    this.url = `${this.origin}/v1`;
  }

  close(): Promise<void> {
    return new Promise((resolve) => {
      this.server.close(() => resolve());
      // Keep-alive and streaming sockets would hold close() open.
      this.server.closeAllConnections();
    });
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    res.on('close', () => {
      if (res.writableFinished) this.completed++;
      else this.aborted++;
    });
    const raw = req.url ?? '/';
    const q = raw.indexOf('?');
    const path = q === -1 ? raw : raw.slice(0, q);
    const query = q === -1 ? {} : Object.fromEntries(new URLSearchParams(raw.slice(q + 1)));
    const text = await readBody(req);
    if (text === undefined) return sendError(res, 413, 'Request body too large.');
    const parsed = parseJson(text);
    this.record({ method: req.method ?? 'GET', path, query, headers: req.headers, body: parsed.ok ? parsed.value : text || undefined });

    const call = route(path);
    if (req.method === 'GET' && (path === '/v1/models' || path.startsWith('/v1/models/'))) {
      if (!this.authorized(req.headers)) return unauthorized(res);
      return this.serveModels(res, path);
    }
    if (call === undefined) return sendError(res, 404, `Unknown request URL: ${req.method} ${path}.`, { code: 'unknown_url' });
    if (req.method !== 'POST') return sendError(res, 405, `Method ${req.method} not allowed on ${path}.`);
    if (call.deployment !== undefined) {
      if (query['api-version'] === undefined) return sendError(res, 400, 'Missing required query parameter: api-version.', { param: 'api-version' });
      if (req.headers['api-key'] === undefined) return unauthorized(res);
    }
    if (!this.authorized(req.headers)) return unauthorized(res);
    if (!parsed.ok || typeof parsed.value !== 'object' || parsed.value === null || Array.isArray(parsed.value)) {
      return sendError(res, 400, 'We could not parse the JSON body of your request. The body must be a JSON object.');
    }
    await this.serve(call, parsed.value as Body, res);
  }

  private async serve(call: Call, body: Body, res: ServerResponse): Promise<void> {
    const b = behaviourOf(this.behaviour, body.mock);
    if (!(await wait(res, b.latencyMs))) return;
    if (b.errorRate > 0 && Math.random() < b.errorRate) {
      return sendError(res, b.errorStatus, `Mock provider injected an error (HTTP ${b.errorStatus}).`);
    }
    const fault = this.faults.apply(parseFault(body.mock), body.model);
    let streamFault: StreamFault | undefined;
    if (fault !== undefined) {
      if (fault.mode === 'reset') {
        res.socket?.destroy();
        return;
      }
      if (fault.mode === 'status') {
        return sendError(res, fault.status, `Mock provider injected a failure (HTTP ${fault.status}).`, {
          ...(fault.code !== undefined ? { code: fault.code } : {}),
          ...(fault.retryAfter !== undefined ? { retryAfter: fault.retryAfter } : {}),
        });
      }
      if (fault.mode === 'stall' && !(await wait(res, fault.stallMs))) return;
      if (fault.mode === 'break') streamFault = { kind: 'cut', afterChunks: fault.afterChunks, midEvent: fault.midEvent };
      if (fault.mode === 'stall-stream') streamFault = { kind: 'stall', afterChunks: fault.afterChunks, stallMs: fault.stallMs, midEvent: fault.midEvent };
    }
    if (b.ignoreMaxTokens) body = { ...body, max_tokens: undefined, max_completion_tokens: undefined };
    const model = typeof body.model === 'string' && body.model !== '' ? body.model : call.deployment;
    if (model === undefined || model === '') return sendError(res, 400, 'you must provide a model parameter', { param: 'model' });
    const stream = body.stream === true;
    if (call.op === 'chat') {
      if (!Array.isArray(body.messages) || body.messages.length === 0) {
        return sendError(res, 400, "Missing required parameter: 'messages'.", { param: 'messages', code: 'missing_required_parameter' });
      }
      const plan = planChat(body, model, b.tokens);
      return stream ? streamSse(res, chatChunks(plan), b.tokensPerSecond, this.stats, streamFault) : sendJson(res, 200, chatCompletion(plan));
    }
    if (call.op === 'completions') {
      const list = prompts(body.prompt);
      if (list === undefined) return sendError(res, 400, "Invalid or missing 'prompt'.", { param: 'prompt' });
      const plan = planCompletion(body, list, model, b.tokens);
      return stream ? streamSse(res, completionChunks(plan), b.tokensPerSecond, this.stats, streamFault) : sendJson(res, 200, completion(plan));
    }
    return this.embeddings(body, model, res);
  }

  private embeddings(body: Body, model: string, res: ServerResponse): void {
    const inputs = embeddingInputs(body.input);
    if (inputs === undefined) return sendError(res, 400, "Invalid or missing 'input'.", { param: 'input' });
    const dims = body.dimensions ?? DEFAULT_DIMENSIONS;
    if (typeof dims !== 'number' || !Number.isInteger(dims) || dims < 1 || dims > MAX_DIMENSIONS) {
      return sendError(res, 400, `Invalid 'dimensions': must be an integer from 1 to ${MAX_DIMENSIONS}.`, { param: 'dimensions' });
    }
    // The mock runs in the gateway's process in demo mode: 2,048 inputs (OpenAI's limit) at 8,192
    // dimensions would build a ~350 MB answer. A real provider refuses such batches too.
    if (inputs.length * dims > MAX_VALUES) {
      return sendError(res, 400, `Too many values requested: inputs × dimensions must not exceed ${MAX_VALUES}.`, { param: 'input' });
    }
    const format = body.encoding_format ?? 'float';
    if (format !== 'float' && format !== 'base64') {
      return sendError(res, 400, "Invalid 'encoding_format': expected 'float' or 'base64'.", { param: 'encoding_format' });
    }
    sendJson(res, 200, embeddingList(inputs, model, dims, format === 'base64'));
  }

  private serveModels(res: ServerResponse, path: string): void {
    const object = (id: string): Body => ({ id, object: 'model', created: CREATED, owned_by: 'gatehouse-mock' });
    if (path === '/v1/models') return sendJson(res, 200, { object: 'list', data: this.models.map(object) });
    const id = decodeURIComponent(path.slice('/v1/models/'.length));
    if (!this.models.includes(id)) {
      return sendError(res, 404, `The model '${id}' does not exist or you do not have access to it.`, { param: 'model', code: 'model_not_found' });
    }
    sendJson(res, 200, object(id));
  }

  private authorized(headers: IncomingHttpHeaders): boolean {
    if (this.apiKey === undefined) return true;
    return headers.authorization === `Bearer ${this.apiKey}` || headers['api-key'] === this.apiKey;
  }

  private record(entry: RecordedRequest): void {
    if (this.requests.length >= RECORD_LIMIT) this.requests.shift();
    this.requests.push(entry);
  }
}

function route(path: string): Call | undefined {
  if (path === '/v1/chat/completions') return { op: 'chat' };
  if (path === '/v1/completions') return { op: 'completions' };
  if (path === '/v1/embeddings') return { op: 'embeddings' };
  const azure = AZURE_PATH.exec(path);
  if (azure === null) return undefined;
  const op: Operation = azure[2] === 'chat/completions' ? 'chat' : azure[2] === 'completions' ? 'completions' : 'embeddings';
  return { op, deployment: decodeURIComponent(azure[1] as string) };
}

function unauthorized(res: ServerResponse): void {
  // Like OpenAI, never echo the key that was presented.
  sendError(res, 401, 'Incorrect API key provided.', { code: 'invalid_api_key' });
}

interface EffectiveBehaviour extends MockBehaviour {
  tokens: number | undefined;
  ignoreMaxTokens: boolean;
}

/** Start-up behaviour with the request's `mock` field laid over it; bad values are ignored. */
function behaviourOf(base: MockBehaviour, override: unknown): EffectiveBehaviour {
  const b: EffectiveBehaviour = { ...base, tokens: undefined, ignoreMaxTokens: false };
  if (typeof override !== 'object' || override === null) return b;
  const o = override as Record<string, unknown>;
  const num = (v: unknown, min: number, max: number): number | undefined =>
    typeof v === 'number' && Number.isFinite(v) && v >= min && v <= max ? v : undefined;
  b.latencyMs = num(o.latencyMs, 0, 600_000) ?? b.latencyMs;
  b.tokensPerSecond = num(o.tokensPerSecond, 0, 1e9) ?? b.tokensPerSecond;
  b.errorRate = num(o.errorRate, 0, 1) ?? b.errorRate;
  b.errorStatus = num(o.errorStatus, 400, 599) ?? b.errorStatus;
  const tokens = num(o.tokens, 0, 10_000_000);
  b.tokens = tokens === undefined ? undefined : Math.floor(tokens);
  b.ignoreMaxTokens = o.ignoreMaxTokens === true;
  return b;
}

function readBody(req: IncomingMessage): Promise<string | undefined> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size <= MAX_BODY_BYTES) chunks.push(chunk);
    });
    req.on('end', () => resolve(size > MAX_BODY_BYTES ? undefined : Buffer.concat(chunks, size).toString('utf8')));
    req.on('error', reject);
  });
}

function parseJson(text: string): { ok: true; value: unknown } | { ok: false } {
  if (text === '') return { ok: false };
  try {
    return { ok: true, value: JSON.parse(text) as unknown };
  } catch {
    return { ok: false };
  }
}

export async function startMockProvider(opts: MockProviderOptions = {}): Promise<MockProvider> {
  const server = new MockServer(opts);
  await server.listen(opts.host ?? '127.0.0.1', opts.port ?? 0);
  return server;
}
