/**
 * Anthropic Messages SSE → OpenAI `chat.completion.chunk` SSE, one upstream chunk at a time.
 *
 * message_start opens the assistant turn (role chunk), text deltas become content deltas,
 * tool_use blocks become tool-call deltas (id and name first, then argument fragments, indexed
 * by their position among the tool calls), message_delta carries the stop reason and output
 * usage, and message_stop ends with the finish_reason chunk, the usage chunk when the client
 * asked for it (stream_options.include_usage) and `data: [DONE]`. Usage is always resolved for
 * metering, whether or not the client sees it. An `error` event fails the stream; so do a body that
 * ends before the upstream said it finished (no message_stop, nor a stop reason in message_delta)
 * and an event line too long to translate: the server ends the stream with its error event, never
 * with a finish_reason and [DONE] the upstream did not send.
 */
import { GatewayError } from '../../errors.js';
import { MAX_LINE_BYTES, SseScanner } from '../sse.js';
import type { BodyTranslator } from '../translate-body.js';
import type { Usage } from '../types.js';
import { eventTooLarge, unfinishedStream } from '../upstream-errors.js';
import { openAIUsage } from '../usage.js';
import { finishReason, toUsage } from './response.js';
import type { AnthropicUsage, StopReason, StreamEvent } from './wire.js';

export interface StreamOptions {
  includeUsage: boolean;
  created: number;
  /** Model name reported until message_start names one. */
  model: string;
}

export class AnthropicStreamTranslator implements BodyTranslator {
  private out = '';
  private id = 'msg';
  private model: string;
  private readonly created: number;
  private readonly includeUsage: boolean;
  private readonly scanner: SseScanner;
  private raw: Partial<AnthropicUsage> = {};
  private sawUsage = false;
  /** message_delta's usage arrived: the counts are the provider's final ones. */
  private sawFinalUsage = false;
  private stopReason: StopReason | null = null;
  /** Anthropic block index → OpenAI tool-call index. */
  private readonly toolIndex = new Map<number, number>();
  private finished = false;
  /** Content deltas passed, for an estimate when the stream is cut before any usage. */
  private deltas = 0;

  constructor(opts: StreamOptions) {
    this.created = opts.created;
    this.includeUsage = opts.includeUsage;
    this.model = opts.model;
    this.scanner = new SseScanner({ onData: (data) => this.onData(data), onOverflow: () => this.overflow() });
  }

  push(chunk: Buffer): string {
    this.scanner.push(chunk);
    return this.take();
  }

  end(): string {
    this.scanner.end();
    if (!this.finished) {
      // Without message_stop: complete only if message_delta gave the stop reason (all that
      // message_stop would add is the end itself); otherwise the upstream stopped mid-answer.
      if (this.stopReason === null) {
        this.finished = true;
        throw unfinishedStream();
      }
      this.finish();
    }
    return this.take();
  }

  /** After push or end threw: what was translated before the failure. */
  pending(): string {
    return this.take();
  }

  usage(): Usage | undefined {
    const seen = this.sawUsage ? toUsage(this.raw) : undefined;
    if (this.sawFinalUsage && seen !== undefined) return seen;
    // Cut off before message_delta: message_start's output count is a placeholder (1), so the
    // output is estimated from the deltas that passed (about one token each), never less.
    if (seen === undefined && this.deltas === 0) return undefined;
    const promptTokens = seen?.promptTokens ?? 0;
    const completionTokens = Math.max(seen?.completionTokens ?? 0, this.deltas);
    return { promptTokens, completionTokens, totalTokens: promptTokens + completionTokens, cachedTokens: seen?.cachedTokens ?? 0, estimated: true };
  }

  private take(): string {
    const text = this.out;
    this.out = '';
    return text;
  }

  private onData(data: string): void {
    let event: StreamEvent;
    try {
      event = JSON.parse(data) as StreamEvent;
    } catch {
      return; // not JSON: nothing an Anthropic stream sends; skip rather than fail the answer
    }
    switch (event.type) {
      case 'message_start': {
        const m = event.message;
        if (typeof m.id === 'string') this.id = m.id;
        if (typeof m.model === 'string') this.model = m.model;
        this.mergeUsage(m.usage);
        this.chunk({ role: 'assistant', content: '' }, null);
        return;
      }
      case 'content_block_start': {
        const block = event.content_block;
        if (block.type === 'tool_use') {
          const index = this.toolIndex.size;
          this.toolIndex.set(event.index, index);
          this.chunk({ tool_calls: [{ index, id: block.id, type: 'function', function: { name: block.name, arguments: '' } }] }, null);
        } else if (block.type === 'text' && block.text !== '') {
          this.chunk({ content: block.text }, null);
        }
        return;
      }
      case 'content_block_delta': {
        const d = event.delta;
        if (d.type === 'text_delta') {
          this.deltas++;
          this.chunk({ content: d.text }, null);
        } else if (d.type === 'input_json_delta') {
          const index = this.toolIndex.get(event.index);
          if (index === undefined || d.partial_json === '') return;
          this.deltas++;
          this.chunk({ tool_calls: [{ index, function: { arguments: d.partial_json } }] }, null);
        }
        return;
      }
      case 'message_delta':
        this.stopReason = event.delta?.stop_reason ?? this.stopReason;
        this.mergeUsage(event.usage);
        if (event.usage !== undefined && event.usage !== null) this.sawFinalUsage = true;
        return;
      case 'message_stop':
        this.finish();
        return;
      case 'error': {
        const kind = event.error?.type ?? 'api_error';
        const message = typeof event.error?.message === 'string' ? event.error.message.slice(0, 200) : 'stream error';
        throw new GatewayError('upstream_error', `The upstream provider failed mid-stream (${kind}): ${message}`);
      }
      default:
        return; // ping, content_block_stop, and event types added later
    }
  }

  /** A line the scanner drops: its content would be missing from an answer that looks whole. */
  private overflow(): void {
    if (this.finished) return;
    this.finished = true;
    throw eventTooLarge(MAX_LINE_BYTES);
  }

  private mergeUsage(u: Partial<AnthropicUsage> | undefined): void {
    if (u === undefined || u === null) return;
    this.sawUsage = true;
    // message_delta usage is cumulative; fields it leaves out keep their message_start value.
    for (const key of ['input_tokens', 'output_tokens', 'cache_creation_input_tokens', 'cache_read_input_tokens'] as const) {
      const v = u[key];
      if (typeof v === 'number') this.raw[key] = v;
    }
  }

  private finish(): void {
    if (this.finished) return;
    this.finished = true;
    this.chunk({}, finishReason(this.stopReason));
    const usage = this.usage();
    if (this.includeUsage && usage !== undefined) {
      this.out += `data: ${JSON.stringify({ id: this.id, object: 'chat.completion.chunk', created: this.created, model: this.model, choices: [], usage: openAIUsage(usage) })}\n\n`;
    }
    this.out += 'data: [DONE]\n\n';
  }

  private chunk(delta: Record<string, unknown>, finish: string | null): void {
    const choice = { index: 0, delta, logprobs: null, finish_reason: finish };
    this.out += `data: ${JSON.stringify({ id: this.id, object: 'chat.completion.chunk', created: this.created, model: this.model, choices: [choice] })}\n\n`;
  }
}
