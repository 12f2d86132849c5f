/**
 * Gemini SSE (`streamGenerateContent?alt=sse`: each `data:` line is one whole
 * GenerateContentResponse) → OpenAI `chat.completion.chunk` SSE. Pure and incremental: bytes
 * in, SSE text out, with the usage the upstream reported kept on the side.
 *
 * Per choice the client sees what OpenAI sends: a first delta with the role, content deltas,
 * tool-call deltas (Gemini sends each function call whole, so one delta carries its id, name
 * and complete arguments), then a chunk with the finish_reason. After the upstream's end: a
 * usage chunk when `stream_options.include_usage` asked for it, then `data: [DONE]`.
 *
 * The answer is complete once a candidate has its finishReason (or the prompt was blocked); a
 * choice the upstream left open then gets one. A body that ends before any is a truncated answer:
 * `failure` is set and the adapter ends the client's stream with an error event, never with a
 * finish_reason and [DONE] the upstream did not send.
 */
import { MAX_LINE_BYTES, SseScanner } from '../sse.js';
import type { Usage } from '../types.js';
import { eventTooLarge, unfinishedStream } from '../upstream-errors.js';
import { type OpenAIUsage, type TranslationContext, finishReason, gatewayUsage, openAIUsage, toolCallId } from './response.js';
import type { GeminiCandidate, GeminiGenerateContentResponse } from './wire.js';

interface ChoiceState {
  finished: boolean;
  toolCalls: number;
}

export class GeminiStreamTranslator {
  private readonly ctx: TranslationContext;
  private readonly includeUsage: boolean;
  private readonly scanner: SseScanner;
  private readonly choices = new Map<number, ChoiceState>();
  private out = '';
  private calls = 0;
  /** Content deltas sent: the output-token estimate when the upstream reports no usage. */
  private deltas = 0;
  private usage: OpenAIUsage | undefined;
  /**
   * Set when the stream must fail (the adapter ends it with this message): the upstream sent an
   * error event inside its 200 stream, a line too long to translate (dropped, its content would
   * be missing from an answer that looks whole), or ended before any candidate finished.
   */
  failure: string | undefined;
  private model: string;
  /** JSON text of the fields every chunk repeats, built once the model is known. */
  private head: string | undefined;

  constructor(ctx: TranslationContext, includeUsage: boolean) {
    this.ctx = ctx;
    this.includeUsage = includeUsage;
    this.model = ctx.model;
    this.scanner = new SseScanner({
      onData: (data) => this.onData(data),
      onOverflow: () => void (this.failure ??= eventTooLarge(MAX_LINE_BYTES).message),
    });
  }

  /** Feeds upstream bytes; returns the SSE text to send now ('' when none). */
  push(chunk: Buffer): string {
    this.scanner.push(chunk);
    return this.take();
  }

  /**
   * The upstream ended: closing chunks, the usage chunk, `[DONE]`. Or, when the stream must fail
   * (`failure` set, here if no candidate finished), only what was translated before the failure.
   */
  end(): string {
    this.scanner.end();
    if (this.failure === undefined && ![...this.choices.values()].some((c) => c.finished)) this.failure = unfinishedStream().message;
    if (this.failure !== undefined) return this.take();
    for (const [index, state] of this.choices) {
      if (!state.finished) this.finish(index, state, undefined);
    }
    if (this.includeUsage && this.usage !== undefined) {
      this.out += `data: {${this.headJson()},"choices":[],"usage":${JSON.stringify(this.usage)}}\n\n`;
    }
    this.out += 'data: [DONE]\n\n';
    return this.take();
  }

  /** What the upstream reported, or an estimate (one token per content delta) when it reported nothing. */
  resolvedUsage(): Usage | undefined {
    if (this.usage !== undefined) return gatewayUsage(this.usage);
    if (this.deltas === 0) return undefined;
    return { promptTokens: 0, completionTokens: this.deltas, totalTokens: this.deltas, cachedTokens: 0, estimated: true };
  }

  private take(): string {
    const out = this.out;
    this.out = '';
    return out;
  }

  private headJson(): string {
    this.head ??= `"id":${JSON.stringify(this.ctx.id)},"object":"chat.completion.chunk","created":${this.ctx.created},"model":${JSON.stringify(this.model)}`;
    return this.head;
  }

  private emit(index: number, delta: string, finish: string | null): void {
    const reason = finish === null ? 'null' : `"${finish}"`;
    this.out += `data: {${this.headJson()},"choices":[{"index":${index},"delta":${delta},"logprobs":null,"finish_reason":${reason}}]}\n\n`;
  }

  private onData(data: string): void {
    if (this.failure !== undefined) return; // the stream ends with the failure: nothing after it
    let r: GeminiGenerateContentResponse;
    try {
      r = JSON.parse(data) as GeminiGenerateContentResponse;
    } catch {
      return; // Not a response chunk (a keep-alive or garbage): nothing to translate.
    }
    if (typeof r !== 'object' || r === null) return;
    const error = (r as { error?: { status?: unknown } }).error;
    if (typeof error === 'object' && error !== null) {
      const status = typeof error.status === 'string' && /^[A-Z_]{1,64}$/.test(error.status) ? error.status : 'UNKNOWN';
      this.failure ??= `The upstream provider failed mid-stream (${status}).`;
      return;
    }
    if (this.head === undefined && typeof r.modelVersion === 'string') this.model = r.modelVersion;
    // Gemini repeats usageMetadata on chunks; the last one is complete.
    if (r.usageMetadata !== undefined) this.usage = openAIUsage(r.usageMetadata);
    const candidates = r.candidates ?? [];
    candidates.forEach((c, i) => this.onCandidate(c.index ?? i, c));
    if (candidates.length === 0 && r.promptFeedback?.blockReason !== undefined) {
      const state = this.state(0);
      if (!state.finished) {
        state.finished = true;
        this.emit(0, '{}', 'content_filter');
      }
    }
  }

  private state(index: number): ChoiceState {
    let state = this.choices.get(index);
    if (state === undefined) {
      state = { finished: false, toolCalls: 0 };
      this.choices.set(index, state);
      this.emit(index, '{"role":"assistant","content":""}', null);
    }
    return state;
  }

  private onCandidate(index: number, c: GeminiCandidate): void {
    const state = this.state(index);
    if (state.finished) return;
    for (const p of c.content?.parts ?? []) {
      if (p.functionCall !== undefined) {
        const call = {
          index: state.toolCalls++,
          id: toolCallId(this.ctx.callId(this.calls++), p.thoughtSignature),
          type: 'function',
          function: { name: p.functionCall.name, arguments: JSON.stringify(p.functionCall.args ?? {}) },
        };
        this.emit(index, `{"tool_calls":[${JSON.stringify(call)}]}`, null);
      } else if (typeof p.text === 'string' && p.text !== '' && p.thought !== true) {
        this.deltas++;
        this.emit(index, `{"content":${JSON.stringify(p.text)}}`, null);
      }
    }
    if (c.finishReason !== undefined && c.finishReason !== 'FINISH_REASON_UNSPECIFIED') this.finish(index, state, c.finishReason);
  }

  private finish(index: number, state: ChoiceState, reason: string | undefined): void {
    state.finished = true;
    this.emit(index, '{}', finishReason(reason, state.toolCalls > 0));
  }
}
