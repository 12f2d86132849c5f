/**
 * A mock AWS Bedrock Runtime speaking the real wire format, for tests and local runs: it verifies
 * each request's SigV4 signature (with the same maintained signer, against a known test secret)
 * and answers Converse JSON, ConverseStream binary event-stream frames and Titan embeddings.
 *
 * Deterministic triggers in the last user text:
 *   `[error:ThrottlingException]` (any documented type) → that error, with x-amzn-errortype;
 *   `[slow]` → a long stream with pauses (disconnect tests);
 *   `[cut]` → the stream stops mid-way and the socket is destroyed;
 *   `[exception]` → a throttlingException event mid-stream;
 *   `[cache]` → usage reports cached input tokens.
 * Tools: with `toolChoice` any/tool, or with tools and "weather" in the text, the answer is a
 * toolUse of the first (or named) tool, its input built from the schema.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createHash } from 'node:crypto';
import { eventStreamCodec } from '../../bedrock/stream.js';
import { createSigner } from '../../bedrock/sign.js';
import type { AwsAccess } from '../../types.js';
import type { BedrockMessage, BedrockUsage, ContentBlock, ConverseRequest, ToolSpec } from '../../bedrock/wire.js';
import { ERROR_STATUS } from '../../bedrock/wire.js';

/** Test credentials the mock accepts (nothing else): not a real AWS key. */
export const MOCK_AWS: AwsAccess = {
  accessKeyId: 'AKIDMOCKBEDROCK0TEST',
  secretAccessKey: 'mock/bedrock+secret-key-for-tests-only-0000',
  region: 'us-east-1',
};

export interface MockBedrock {
  url: string;
  /** Requests seen, signed correctly or not. */
  requests: number;
  /** Streams whose client went away before the last frame. */
  cancelledStreams: number;
  close(): Promise<void>;
}

export interface MockBedrockOptions {
  aws?: AwsAccess;
  port?: number;
}

const ROUTE = /^\/model\/([^/]+)\/(converse|converse-stream|invoke)$/;
const BODY_LIMIT = 8 * 1024 * 1024;

export async function startMockBedrock(opts: MockBedrockOptions = {}): Promise<MockBedrock> {
  const aws = opts.aws ?? MOCK_AWS;
  const state = { requests: 0, cancelledStreams: 0 };
  const server: Server = createServer((req, res) => {
    state.requests += 1;
    handle(req, res, aws, state).catch((err: unknown) => {
      if (!res.headersSent) sendError(res, 'InternalServerException', err instanceof Error ? err.message : 'internal error');
      else res.destroy();
    });
  });
  await new Promise<void>((resolve) => server.listen(opts.port ?? 0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    get requests() {
      return state.requests;
    },
    get cancelledStreams() {
      return state.cancelledStreams;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

async function handle(req: IncomingMessage, res: ServerResponse, aws: AwsAccess, state: { cancelledStreams: number }): Promise<void> {
  const body = await readBody(req);
  const route = ROUTE.exec((req.url ?? '').split('?')[0] ?? '');
  if (req.method !== 'POST' || route === null) return sendError(res, 'ResourceNotFoundException', 'Unknown operation.', 404);
  const problem = await verifySignature(req, body, aws);
  if (problem !== undefined) return sendError(res, problem.type, problem.message);
  const modelId = decodeURIComponent(route[1] as string);
  if (modelId.startsWith('missing')) return sendError(res, 'ResourceNotFoundException', 'The requested model was not found.');
  let parsed: unknown;
  try {
    parsed = JSON.parse(body);
  } catch {
    return sendError(res, 'ValidationException', 'Malformed input request, please reformat your input and try again.');
  }
  if (route[2] === 'invoke') return embed(res, parsed as { inputText?: unknown; dimensions?: unknown });
  const request = parsed as ConverseRequest;
  if (!Array.isArray(request.messages) || request.messages.length === 0) {
    return sendError(res, 'ValidationException', 'A conversation must start with a user message.');
  }
  const trigger = /\[error:([A-Za-z]+)\]/.exec(lastUserText(request.messages));
  if (trigger !== null) return sendError(res, trigger[1] as string, `Injected ${trigger[1]} for the test.`);
  const answer = planAnswer(request);
  if (route[2] === 'converse') return converse(res, answer);
  return converseStream(req, res, answer, state);
}

/** Recomputes the signature over the headers the client says it signed; any difference is a 403. */
async function verifySignature(req: IncomingMessage, body: string, aws: AwsAccess): Promise<{ type: string; message: string } | undefined> {
  const auth = header(req, 'authorization');
  const date = header(req, 'x-amz-date');
  const parts = /^AWS4-HMAC-SHA256 Credential=([^/]+)\/(\d{8})\/([^/]+)\/([^/]+)\/aws4_request, SignedHeaders=([a-z0-9;-]+), Signature=[0-9a-f]{64}$/.exec(auth ?? '');
  if (parts === null || date === undefined) return { type: 'MissingAuthenticationTokenException', message: 'Missing or malformed Authorization.' };
  if (parts[1] !== aws.accessKeyId) return { type: 'UnrecognizedClientException', message: 'The security token included in the request is invalid.' };
  const when = parseAmzDate(date);
  if (when === undefined || Math.abs(Date.now() - when.getTime()) > 5 * 60_000) {
    return { type: 'InvalidSignatureException', message: 'Signature expired or x-amz-date malformed.' };
  }
  const headers: Record<string, string> = {};
  for (const name of (parts[5] as string).split(';')) {
    const value = header(req, name);
    if (value === undefined) return { type: 'InvalidSignatureException', message: `Signed header ${name} is missing.` };
    headers[name] = value;
  }
  // The signer trusts a given payload hash; dropping it makes it hash the body actually received.
  delete headers['x-amz-content-sha256'];
  const host = headers.host ?? '';
  const [hostname, port] = host.split(':');
  const signer = createSigner({ ...aws, region: parts[3] as string });
  const expected = await signer.sign(
    { method: req.method ?? 'POST', protocol: 'http:', hostname: hostname ?? '', port: port === undefined ? undefined : Number(port), path: (req.url ?? '/').split('?')[0] ?? '/', query: {}, headers, body },
    { signingDate: when },
  );
  if (expected.headers.authorization !== auth || parts[4] !== 'bedrock') {
    return {
      type: 'InvalidSignatureException',
      message: 'The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method.',
    };
  }
  return undefined;
}

function parseAmzDate(v: string): Date | undefined {
  const m = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(v);
  if (m === null) return undefined;
  return new Date(Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3]), Number(m[4]), Number(m[5]), Number(m[6])));
}

interface Answer {
  blocks: Array<{ text: string } | { toolUse: { toolUseId: string; name: string; input: Record<string, unknown> } }>;
  stopReason: string;
  usage: BedrockUsage;
  flags: { slow: boolean; cut: boolean; exception: boolean };
}

function planAnswer(r: ConverseRequest): Answer {
  const text = lastUserText(r.messages);
  const inputWords = countWords(r.messages.flatMap((m) => m.content.map(blockText)).join(' ') + ' ' + (r.system ?? []).map((s) => s.text).join(' '));
  const cached = text.includes('[cache]') ? 4 : 0;
  const flags = { slow: text.includes('[slow]'), cut: text.includes('[cut]'), exception: text.includes('[exception]') };
  const tool = chooseTool(r, text);
  if (tool !== undefined) {
    const input = inputFor(tool.toolSpec.inputSchema.json);
    const toolUseId = `tooluse_${createHash('sha256').update(tool.toolSpec.name + text).digest('hex').slice(0, 22)}`;
    return {
      blocks: [{ text: 'Let me check.' }, { toolUse: { toolUseId, name: tool.toolSpec.name, input } }],
      stopReason: 'tool_use',
      usage: usage(inputWords, 3 + Object.keys(input).length * 2, cached),
      flags,
    };
  }
  const result = lastToolResult(r.messages);
  let words = (result !== undefined ? `The tool answered: ${result}` : flags.slow ? slowText() : `You said: ${text.replace(/\[[a-z:]+\]/gi, '').trim()}`).split(/\s+/).filter((w) => w !== '');
  let stopReason = 'end_turn';
  const max = r.inferenceConfig?.maxTokens;
  if (max !== undefined && words.length > max) {
    words = words.slice(0, max);
    stopReason = 'max_tokens';
  }
  let answer = words.join(' ');
  for (const stop of r.inferenceConfig?.stopSequences ?? []) {
    const at = answer.indexOf(stop);
    if (at !== -1) {
      answer = answer.slice(0, at);
      stopReason = 'stop_sequence';
    }
  }
  return { blocks: [{ text: answer }], stopReason, usage: usage(inputWords, countWords(answer), cached), flags };
}

function slowText(): string {
  return Array.from({ length: 200 }, (_, i) => `word${i}`).join(' ');
}

function chooseTool(r: ConverseRequest, text: string): ToolSpec | undefined {
  const tools = r.toolConfig?.tools ?? [];
  if (tools.length === 0 || lastToolResult(r.messages) !== undefined) return undefined;
  const choice = r.toolConfig?.toolChoice;
  if (choice !== undefined && 'tool' in choice) return tools.find((t) => t.toolSpec.name === choice.tool.name);
  if ((choice !== undefined && 'any' in choice) || /weather/i.test(text)) return tools[0];
  return undefined;
}

function inputFor(schema: unknown): Record<string, unknown> {
  const props = (schema as { properties?: Record<string, { type?: string }> } | null)?.properties ?? {};
  const input: Record<string, unknown> = {};
  for (const [name, p] of Object.entries(props)) {
    input[name] = p.type === 'number' || p.type === 'integer' ? 1 : p.type === 'boolean' ? true : 'Paris';
  }
  return input;
}

function usage(input: number, output: number, cached: number): BedrockUsage {
  const u: BedrockUsage = { inputTokens: input, outputTokens: output, totalTokens: input + output + cached };
  if (cached > 0) u.cacheReadInputTokens = cached;
  return u;
}

function converse(res: ServerResponse, a: Answer): void {
  sendJson(res, 200, {
    output: { message: { role: 'assistant', content: a.blocks } },
    stopReason: a.stopReason,
    usage: a.usage,
    metrics: { latencyMs: 12 },
  });
}

async function converseStream(req: IncomingMessage, res: ServerResponse, a: Answer, state: { cancelledStreams: number }): Promise<void> {
  res.writeHead(200, { 'content-type': 'application/vnd.amazon.eventstream', 'x-amzn-requestid': requestId() });
  let finished = false;
  res.on('close', () => {
    if (!finished) state.cancelledStreams += 1;
  });
  const send = (type: string, payload: Record<string, unknown>): boolean => !res.destroyed && res.write(frame(type, payload));
  send('messageStart', { role: 'assistant' });
  let deltas = 0;
  for (const [index, block] of a.blocks.entries()) {
    if ('toolUse' in block) {
      send('contentBlockStart', { contentBlockIndex: index, start: { toolUse: { toolUseId: block.toolUse.toolUseId, name: block.toolUse.name } } });
      const json = JSON.stringify(block.toolUse.input);
      // Tool input arrives as partial JSON text, as Bedrock sends it.
      const mid = Math.ceil(json.length / 2);
      for (const piece of [json.slice(0, mid), json.slice(mid)]) send('contentBlockDelta', { contentBlockIndex: index, delta: { toolUse: { input: piece } } });
    } else {
      for (const word of block.text.split(/(?<= )/)) {
        if (res.destroyed) return;
        send('contentBlockDelta', { contentBlockIndex: index, delta: { text: word } });
        deltas += 1;
        if (a.flags.cut && deltas === 2) {
          // Let the frames so far reach the client first: the cut is mid-body, not before it.
          await new Promise((r) => setTimeout(r, 30));
          res.destroy();
          return;
        }
        if (a.flags.exception && deltas === 2) {
          res.write(exceptionFrame('throttlingException', 'Too many tokens, please wait before trying again.'));
          finished = true;
          res.end();
          return;
        }
        if (a.flags.slow) await new Promise((r) => setTimeout(r, 20));
      }
    }
    send('contentBlockStop', { contentBlockIndex: index });
  }
  send('messageStop', { stopReason: a.stopReason });
  send('metadata', { usage: a.usage, metrics: { latencyMs: 12 } });
  finished = true;
  res.end();
  void req;
}

/** One event frame as Bedrock sends it (with the random `p` padding real frames carry). */
export function frame(type: string, payload: Record<string, unknown>): Uint8Array {
  return eventStreamCodec.encode({
    headers: {
      ':event-type': { type: 'string', value: type },
      ':content-type': { type: 'string', value: 'application/json' },
      ':message-type': { type: 'string', value: 'event' },
    },
    body: Buffer.from(JSON.stringify({ ...payload, p: 'abcdefghij'.slice(0, 1 + (type.length % 10)) })),
  });
}

export function exceptionFrame(type: string, message: string): Uint8Array {
  return eventStreamCodec.encode({
    headers: {
      ':exception-type': { type: 'string', value: type },
      ':content-type': { type: 'string', value: 'application/json' },
      ':message-type': { type: 'string', value: 'exception' },
    },
    body: Buffer.from(JSON.stringify({ message })),
  });
}

function embed(res: ServerResponse, body: { inputText?: unknown; dimensions?: unknown }): void {
  if (typeof body.inputText !== 'string' || body.inputText === '') return sendError(res, 'ValidationException', 'inputText must be a non-empty string.');
  if (body.inputText.includes('[error:')) return sendError(res, 'ThrottlingException', 'Injected ThrottlingException for the test.');
  const dims = typeof body.dimensions === 'number' ? body.dimensions : 8;
  const digest = createHash('sha256').update(body.inputText).digest();
  const embedding = Array.from({ length: dims }, (_, i) => ((digest[i % digest.length] as number) - 128) / 128);
  sendJson(res, 200, { embedding, inputTextTokenCount: countWords(body.inputText) });
}

function sendError(res: ServerResponse, type: string, message: string, status?: number): void {
  const code = status ?? ERROR_STATUS[type] ?? 400;
  const text = JSON.stringify({ message });
  const headers: Record<string, string> = {
    'content-type': 'application/json',
    'content-length': String(Buffer.byteLength(text)),
    'x-amzn-errortype': `${type}:http://internal.amazon.com/coral/com.amazon.bedrock/`,
    'x-amzn-requestid': requestId(),
  };
  res.writeHead(code, headers).end(text);
}

function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res
    .writeHead(status, { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(text)), 'x-amzn-requestid': requestId() })
    .end(text);
}

function lastUserText(messages: BedrockMessage[]): string {
  for (let i = messages.length - 1; i >= 0; i--) {
    const m = messages[i] as BedrockMessage;
    if (m.role !== 'user') continue;
    const text = m.content.map((c) => ('text' in c ? c.text : '')).join(' ').trim();
    if (text !== '') return text;
  }
  return '';
}

function lastToolResult(messages: BedrockMessage[]): string | undefined {
  const last = messages[messages.length - 1];
  if (last === undefined || last.role !== 'user') return undefined;
  for (const c of last.content) {
    if ('toolResult' in c) return c.toolResult.content.map((p) => ('text' in p ? p.text : JSON.stringify(p.json))).join(' ');
  }
  return undefined;
}

function blockText(c: ContentBlock): string {
  if ('text' in c) return c.text;
  if ('toolResult' in c) return c.toolResult.content.map((p) => ('text' in p ? p.text : '')).join(' ');
  if ('toolUse' in c) return JSON.stringify(c.toolUse.input);
  return 'image';
}

function countWords(s: string): number {
  return s.split(/\s+/).filter((w) => w !== '').length;
}

function header(req: IncomingMessage, name: string): string | undefined {
  const v = req.headers[name];
  return Array.isArray(v) ? v.join(',') : v;
}

let counter = 0;
function requestId(): string {
  counter += 1;
  return `00000000-0000-4000-8000-${counter.toString(16).padStart(12, '0')}`;
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > BODY_LIMIT) req.destroy(new Error('body too large'));
      else chunks.push(c);
    });
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}
