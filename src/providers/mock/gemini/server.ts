/**
 * A mock of the Gemini API (v1beta) speaking its real wire format: `models/{model}:generateContent`,
 * `:streamGenerateContent` (SSE with `alt=sse`, a JSON array without), `:batchEmbedContents`,
 * the `x-goog-api-key` header (or `?key=`), Google's error bodies, and Gemini-like validation
 * (./validate.ts). Behaviour is chosen by markers in the prompt (./generate.ts). It records the
 * requests it gets and counts responses abandoned by the client, for cancellation tests.
 */
import { createServer, type IncomingHttpHeaders, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  GEMINI_STATUS_NAMES,
  type GeminiBatchEmbedContentsRequest,
  type GeminiErrorBody,
  type GeminiGenerateContentRequest,
  type GeminiPart,
} from '../../gemini/wire.js';
import { wait } from '../respond.js';
import { generateResponse, marker, planGenerate, streamChunks } from './generate.js';
import { GeminiInvalid, textOf, validateGenerateContent } from './validate.js';

export interface MockGeminiOptions {
  host?: string;
  port?: number;
  /** Required in `x-goog-api-key` (or `?key=`) when set. */
  apiKey?: string;
  /** When set, other model names answer 404 NOT_FOUND. */
  models?: string[];
}

export interface MockGeminiRequest {
  path: string;
  query: Record<string, string>;
  headers: IncomingHttpHeaders;
  body: unknown;
}

export interface MockGemini {
  /** http://127.0.0.1:PORT: the provider's baseUrl. */
  readonly url: string;
  readonly requests: MockGeminiRequest[];
  readonly aborted: number;
  readonly completed: number;
  close(): Promise<void>;
}

const PATH = /^\/v1beta\/models\/([^/:]+):(generateContent|streamGenerateContent|batchEmbedContents)$/;
const RECORD_LIMIT = 100;
const DEFAULT_DIMENSIONS = 768;

class MockGeminiServer implements MockGemini {
  url = '';
  readonly requests: MockGeminiRequest[] = [];
  aborted = 0;
  completed = 0;
  private readonly server: Server;
  private readonly opts: MockGeminiOptions;

  constructor(opts: MockGeminiOptions) {
    this.opts = opts;
    this.server = createServer({ noDelay: true, requestTimeout: 0 }, (req, res) => {
      this.handle(req, res).catch((err: unknown) => {
        if (!res.headersSent) sendGeminiError(res, 500, `Mock failure: ${String(err)}`);
        else res.destroy();
      });
    });
  }

  async listen(host: string, port: number): Promise<void> {
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(port, host, () => resolve());
    });
    const addr = this.server.address() as AddressInfo;
    this.url = `http://${addr.address}:${addr.port}`;
  }

  close(): Promise<void> {
    return new Promise((resolve) => {
      this.server.close(() => resolve());
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
    let body: unknown;
    try {
      body = text === '' ? undefined : JSON.parse(text);
    } catch {
      body = text;
    }
    if (this.requests.length >= RECORD_LIMIT) this.requests.shift();
    this.requests.push({ path, query, headers: req.headers, body });

    const route = PATH.exec(path);
    if (route === null) return sendGeminiError(res, 404, `Requested entity was not found.`);
    if (req.method !== 'POST') return sendGeminiError(res, 405, `Method ${req.method} not allowed.`);
    const key = req.headers['x-goog-api-key'] ?? query.key;
    if (this.opts.apiKey !== undefined) {
      if (key === undefined) {
        return sendGeminiError(res, 403, 'Method doesn\'t allow unregistered callers (callers without established identity). Please use API Key or other form of API consumer identity to call this API.');
      }
      if (key !== this.opts.apiKey) {
        return sendGeminiError(res, 400, 'API key not valid. Please pass a valid API key.', [
          { '@type': 'type.googleapis.com/google.rpc.ErrorInfo', reason: 'API_KEY_INVALID' },
        ]);
      }
    }
    const model = decodeURIComponent(route[1] as string);
    const method = route[2] as string;
    if (this.opts.models !== undefined && !this.opts.models.includes(model)) {
      return sendGeminiError(res, 404, `models/${model} is not found for API version v1beta, or is not supported for ${method}.`);
    }
    if (typeof body !== 'object' || body === null) return sendGeminiError(res, 400, 'Invalid JSON payload received.');
    try {
      if (method === 'batchEmbedContents') return this.embed(body as GeminiBatchEmbedContentsRequest, model, res);
      const request = validateGenerateContent(body);
      if (model.startsWith('gemini-3')) requireSignatures(request);
      const last = textOf(request.contents.slice(-1));
      const status = Number(marker(last, 'error'));
      if (Number.isInteger(status) && status >= 400) return sendGeminiError(res, status, `Mock Gemini injected HTTP ${status}.`, retryInfo(status));
      const plan = planGenerate(request, model);
      if (method === 'generateContent') return sendJson(res, 200, generateResponse(plan));
      return this.stream(res, plan, query.alt === 'sse');
    } catch (err) {
      if (err instanceof GeminiInvalid) return sendGeminiError(res, 400, err.message);
      throw err;
    }
  }

  private async stream(res: ServerResponse, plan: ReturnType<typeof planGenerate>, sse: boolean): Promise<void> {
    const chunks = [...streamChunks(plan)];
    res.writeHead(200, { 'content-type': sse ? 'text/event-stream' : 'application/json', 'x-request-id': plan.responseId });
    if (!sse) {
      res.end(JSON.stringify(chunks));
      return;
    }
    const cutAt = plan.cut ? Math.max(1, Math.floor(chunks.length / 2)) : -1;
    for (let i = 0; i < chunks.length; i++) {
      if (i === cutAt) {
        // Flush what was written, then drop the connection mid-stream.
        await new Promise<void>((resolve) => res.write('', () => resolve()));
        res.destroy();
        return;
      }
      if (res.destroyed) return;
      if (i === 1 && plan.streamError) {
        res.end(`data: ${JSON.stringify({ error: { code: 503, message: 'The model is overloaded. Please try again later.', status: 'UNAVAILABLE' } })}\r\n\r\n`);
        return;
      }
      // Google ends each event with CRLF CRLF.
      res.write(`data: ${JSON.stringify(chunks[i])}\r\n\r\n`);
      if (plan.delayMs > 0 && !(await wait(res, plan.delayMs))) return;
    }
    res.end();
  }

  private embed(body: GeminiBatchEmbedContentsRequest, model: string, res: ServerResponse): void {
    const b = body as unknown as Record<string, unknown>;
    const unknown = Object.keys(b).find((k) => k !== 'requests');
    if (unknown !== undefined) return sendGeminiError(res, 400, `Invalid JSON payload received. Unknown name "${unknown}": Cannot find field.`);
    if (!Array.isArray(body.requests) || body.requests.length === 0) {
      return sendGeminiError(res, 400, '* BatchEmbedContentsRequest.requests: requests must not be empty');
    }
    if (body.requests.length > 100) return sendGeminiError(res, 400, '* BatchEmbedContentsRequest.requests: at most 100 requests can be in one batch');
    const embeddings: { values: number[] }[] = [];
    for (const [i, r] of body.requests.entries()) {
      if (r.model !== `models/${model}`) {
        return sendGeminiError(res, 400, `* BatchEmbedContentsRequest.requests[${i}].model: the model in each request must match models/${model}`);
      }
      const text = r.content?.parts?.map((p) => p.text ?? '').join('') ?? '';
      if (text === '') return sendGeminiError(res, 400, `* BatchEmbedContentsRequest.requests[${i}].content: content must not be empty`);
      if (text.includes('[[error:')) {
        const status = Number(marker(text, 'error'));
        return sendGeminiError(res, status, `Mock Gemini injected HTTP ${status}.`, retryInfo(status));
      }
      embeddings.push({ values: vector(text, r.outputDimensionality ?? DEFAULT_DIMENSIONS) });
    }
    sendJson(res, 200, { embeddings });
  }
}

/**
 * Gemini 3 rejects a function-call turn whose first call lost its thought signature (clients must
 * send back what the model sent).
 */
function requireSignatures(req: GeminiGenerateContentRequest): void {
  req.contents.forEach((c, i) => {
    const first = c.parts.findIndex((p) => p.functionCall !== undefined);
    if (c.role === 'model' && first !== -1 && (c.parts[first] as GeminiPart).thoughtSignature === undefined) {
      throw new GeminiInvalid(`Function call is missing a thought_signature in functionCall parts. This is required for tools to work correctly, and missing thought_signature may lead to degraded model performance. Additional data, function call \`default_api:${(c.parts[first] as GeminiPart).functionCall?.name}\` , position ${i + 1}.`);
    }
  });
}

/** A unit vector derived from the text: the same text always embeds the same. */
function vector(text: string, dims: number): number[] {
  let h = 2166136261;
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 16777619);
  const out = new Array<number>(dims);
  let norm = 0;
  for (let i = 0; i < dims; i++) {
    h = Math.imul(h ^ (h >>> 15), 2246822507) ^ i;
    const v = ((h >>> 0) / 4294967295) * 2 - 1;
    out[i] = v;
    norm += v * v;
  }
  const scale = norm === 0 ? 1 : 1 / Math.sqrt(norm);
  return out.map((v) => Math.round(v * scale * 1e6) / 1e6);
}

/** Gemini sends no Retry-After header on 429; the delay is a RetryInfo detail. */
function retryInfo(status: number): GeminiErrorBody['error']['details'] | undefined {
  return status === 429 ? [{ '@type': 'type.googleapis.com/google.rpc.RetryInfo', retryDelay: '7s' }] : undefined;
}

export function sendGeminiError(res: ServerResponse, status: number, message: string, details?: GeminiErrorBody['error']['details']): void {
  const error: GeminiErrorBody['error'] = { code: status, message, status: GEMINI_STATUS_NAMES[status] ?? (status >= 500 ? 'INTERNAL' : 'FAILED_PRECONDITION') };
  if (details !== undefined) error.details = details;
  sendJson(res, status, { error });
}

function sendJson(res: ServerResponse, status: number, value: unknown): void {
  const body = JSON.stringify(value, null, 2);
  res.writeHead(status, { 'content-type': 'application/json; charset=UTF-8', 'content-length': Buffer.byteLength(body) });
  res.end(body);
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

export async function startMockGemini(opts: MockGeminiOptions = {}): Promise<MockGemini> {
  const server = new MockGeminiServer(opts);
  await server.listen(opts.host ?? '127.0.0.1', opts.port ?? 0);
  return server;
}
