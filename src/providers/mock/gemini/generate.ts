/**
 * What the mock Gemini answers: deterministic, driven by the request and by markers in the last
 * user text, so tests choose a behaviour without fields Gemini would reject:
 *
 *   [[error:429]]     answer with that HTTP status and Gemini's error body
 *   [[chunks:N]]      N text pieces (stream chunks) instead of the echo reply
 *   [[delay:MS]]      wait MS between stream chunks
 *   [[cut]]           stream: drop the connection after half of the chunks
 *   [[no-usage]]      no usageMetadata anywhere
 *   [[finish:SAFETY]] that finishReason
 *   [[cached:N]]      cachedContentTokenCount N
 *   [[tool]]          call a declared function (mode AUTO); mode ANY always calls one
 *   [[stream-error]]  stream: an error event (UNAVAILABLE) after the first chunk
 *
 * A request whose last turn holds function responses gets a text answer quoting them.
 */
import { estimateTokens, toPieces } from '../text.js';
import type {
  GeminiCandidate,
  GeminiContent,
  GeminiFunctionCall,
  GeminiFunctionDeclaration,
  GeminiGenerateContentRequest,
  GeminiGenerateContentResponse,
  GeminiPart,
  GeminiUsageMetadata,
} from '../../gemini/wire.js';
import { textOf } from './validate.js';

export interface Plan {
  /** Per candidate: the parts to send, one stream chunk each. */
  candidates: { pieces: GeminiPart[]; finishReason: string }[];
  usage: GeminiUsageMetadata | undefined;
  delayMs: number;
  cut: boolean;
  streamError: boolean;
  modelVersion: string;
  responseId: string;
}

export function marker(text: string, name: string): string | undefined {
  const m = new RegExp(`\\[\\[${name}(?::([^\\]]*))?\\]\\]`).exec(text);
  return m === null ? undefined : (m[1] ?? '');
}

function lastUserText(contents: readonly GeminiContent[]): string {
  for (let i = contents.length - 1; i >= 0; i--) {
    const c = contents[i] as GeminiContent;
    if (c.role !== 'model') return textOf([c]);
  }
  return '';
}

let served = 0;

export function planGenerate(req: GeminiGenerateContentRequest, model: string): Plan {
  const last = lastUserText(req.contents);
  const lastTurn = req.contents[req.contents.length - 1] as GeminiContent;
  const responses = lastTurn.parts.filter((p) => p.functionResponse !== undefined);
  const config = req.generationConfig ?? {};
  const count = config.candidateCount ?? 1;
  const candidates: Plan['candidates'] = [];
  for (let i = 0; i < count; i++) {
    const call = responses.length === 0 ? chooseCall(req, last) : undefined;
    if (call !== undefined) {
      // Like thinking models, every function call carries a thought signature to send back.
      candidates.push({ pieces: [{ functionCall: call, thoughtSignature: Buffer.from(`sig:${call.name}`).toString('base64') }], finishReason: 'STOP' });
      continue;
    }
    const text =
      responses.length > 0
        ? `Results: ${responses.map((p) => `${p.functionResponse?.name}=${JSON.stringify(p.functionResponse?.response)}`).join('; ')}`
        : config.responseMimeType === 'application/json'
          ? JSON.stringify(config.responseSchema === undefined ? { answer: 'mock' } : sample(config.responseSchema))
          : replyPieces(last, i);
    let pieces = marker(last, 'chunks') !== undefined ? cycle(Number(marker(last, 'chunks'))) : toPieces(text);
    if (config.responseMimeType === 'application/json') pieces = [text];
    let finishReason = marker(last, 'finish') ?? 'STOP';
    const stop = (config.stopSequences ?? []).map((s) => pieces.join('').indexOf(s)).filter((k) => k >= 0);
    if (stop.length > 0) pieces = toPieces(pieces.join('').slice(0, Math.min(...stop)));
    if (config.maxOutputTokens !== undefined && pieces.length > config.maxOutputTokens) {
      pieces = pieces.slice(0, config.maxOutputTokens);
      finishReason = 'MAX_TOKENS';
    }
    candidates.push({ pieces: pieces.map((t) => ({ text: t })), finishReason });
  }
  const prompt = estimateTokens(textOf(req.contents) + textOf(req.systemInstruction === undefined ? [] : [req.systemInstruction]));
  const output = candidates.reduce((sum, c) => sum + c.pieces.reduce((s, p) => s + (p.text !== undefined ? 1 : 5), 0), 0);
  const cached = marker(last, 'cached');
  const usage: GeminiUsageMetadata | undefined =
    marker(last, 'no-usage') !== undefined
      ? undefined
      : {
          promptTokenCount: prompt,
          candidatesTokenCount: output,
          totalTokenCount: prompt + output,
          ...(cached === undefined ? {} : { cachedContentTokenCount: Number(cached) }),
        };
  return {
    candidates,
    usage,
    delayMs: Number(marker(last, 'delay') ?? 0),
    cut: marker(last, 'cut') !== undefined,
    streamError: marker(last, 'stream-error') !== undefined,
    modelVersion: model,
    responseId: `mockresp${(++served).toString(36)}`,
  };
}

function replyPieces(last: string, candidate: number): string {
  const echo = last.replace(/\[\[[^\]]*\]\]/g, '').replace(/\s+/g, ' ').trim().slice(0, 400);
  const prefix = candidate === 0 ? 'Gemini mock reply' : `Gemini mock reply ${candidate + 1}`;
  return echo === '' ? prefix : `${prefix}: ${echo}`;
}

function cycle(n: number): string[] {
  const words = ['alpha', ' beta', ' gamma', ' delta'];
  return Array.from({ length: Math.max(0, Math.min(n, 1_000_000)) }, (_, i) => words[i % words.length] as string);
}

function chooseCall(req: GeminiGenerateContentRequest, last: string): GeminiFunctionCall | undefined {
  const decls = (req.tools ?? []).flatMap((t) => t.functionDeclarations ?? []);
  if (decls.length === 0) return undefined;
  const fc = req.toolConfig?.functionCallingConfig;
  const mode = fc?.mode ?? 'AUTO';
  if (mode === 'NONE') return undefined;
  const allowed = fc?.allowedFunctionNames;
  const pool = allowed === undefined ? decls : decls.filter((d) => allowed.includes(d.name));
  const named = pool.find((d) => last.includes(d.name));
  const pick = mode === 'ANY' ? (named ?? pool[0]) : marker(last, 'tool') !== undefined ? (named ?? pool[0]) : named;
  return pick === undefined ? undefined : { name: pick.name, args: argsFor(pick) };
}

function argsFor(d: GeminiFunctionDeclaration): Record<string, unknown> {
  const value = d.parameters === undefined ? {} : sample(d.parameters);
  return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : {};
}

/** A value satisfying a Gemini schema: every property filled in. */
function sample(s: Record<string, unknown>, depth = 0): unknown {
  if (depth > 8) return null;
  if (Array.isArray(s.enum) && s.enum.length > 0) return s.enum[0];
  const type = typeof s.type === 'string' ? s.type.toUpperCase() : Array.isArray(s.anyOf) ? 'ANYOF' : 'STRING';
  switch (type) {
    case 'OBJECT': {
      const props = (s.properties ?? {}) as Record<string, Record<string, unknown>>;
      return Object.fromEntries(Object.entries(props).map(([k, v]) => [k, sample(v, depth + 1)]));
    }
    case 'ARRAY':
      return s.items === undefined ? [] : [sample(s.items as Record<string, unknown>, depth + 1)];
    case 'INTEGER':
      return 42;
    case 'NUMBER':
      return 1.5;
    case 'BOOLEAN':
      return true;
    case 'ANYOF':
      return sample((s.anyOf as Record<string, unknown>[])[0] ?? {}, depth + 1);
    default:
      return 'example';
  }
}

/** The whole answer as one GenerateContentResponse. */
export function generateResponse(plan: Plan): GeminiGenerateContentResponse {
  const candidates: GeminiCandidate[] = plan.candidates.map((c, index) => ({
    content: { role: 'model', parts: mergeText(c.pieces) },
    finishReason: c.finishReason,
    index,
  }));
  const out: GeminiGenerateContentResponse = { candidates, modelVersion: plan.modelVersion, responseId: plan.responseId };
  if (plan.usage !== undefined) out.usageMetadata = plan.usage;
  return out;
}

function mergeText(parts: GeminiPart[]): GeminiPart[] {
  const out: GeminiPart[] = [];
  let text: string | undefined;
  for (const p of parts) {
    if (p.text !== undefined) text = (text ?? '') + p.text;
    else out.push(p);
  }
  return text === undefined ? out : [{ text }, ...out];
}

/**
 * Stream chunks as Gemini sends them: one piece per chunk and candidate, usageMetadata with the
 * prompt count on every chunk and the complete counts on the last, finishReason on the last.
 */
export function* streamChunks(plan: Plan): Generator<GeminiGenerateContentResponse> {
  const longest = Math.max(1, ...plan.candidates.map((c) => c.pieces.length));
  for (let k = 0; k < longest; k++) {
    const lastChunk = k === longest - 1;
    const candidates: GeminiCandidate[] = [];
    plan.candidates.forEach((c, index) => {
      const piece = c.pieces[k];
      const done = k === c.pieces.length - 1 || (c.pieces.length === 0 && k === 0);
      if (piece === undefined && !done) return;
      const cand: GeminiCandidate = { content: { role: 'model', parts: piece === undefined ? [{ text: '' }] : [piece] }, index };
      if (done) cand.finishReason = c.finishReason;
      candidates.push(cand);
    });
    const chunk: GeminiGenerateContentResponse = { candidates, modelVersion: plan.modelVersion, responseId: plan.responseId };
    if (plan.usage !== undefined) {
      const prompt = plan.usage.promptTokenCount ?? 0;
      chunk.usageMetadata = lastChunk ? plan.usage : { promptTokenCount: prompt, totalTokenCount: prompt };
    }
    yield chunk;
  }
}
