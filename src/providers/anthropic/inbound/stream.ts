/**
 * The canonical (OpenAI chunk) stream → Anthropic Messages SSE, for clients of POST /v1/messages.
 *
 * Events come in Anthropic's order: message_start, then per content block content_block_start,
 * deltas (text_delta, or input_json_delta for a tool call) and content_block_stop, then
 * message_delta (stop reason and usage) and message_stop. OpenAI reports usage after the
 * finish_reason chunk (the edge always asks for it), so message_delta waits for the usage
 * chunk or [DONE]. message_start reports zero input tokens: OpenAI streams say nothing of usage
 * before their end; the full counts arrive in message_delta (SDKs take input_tokens from there).
 *
 * The answer is complete once the upstream says so: a finish_reason or [DONE]. A body that ends
 * before either, or an event line too long to translate, fails the stream (the server ends it with
 * an `error` event, so SDKs raise) rather than ending it with a stop reason the upstream never gave.
 */
import { MAX_LINE_BYTES, SseScanner } from '../../sse.js';
import type { BodyTranslator } from '../../translate-body.js';
import { eventTooLarge, unfinishedStream } from '../../upstream-errors.js';
import type { AnthropicUsage, StopReason, StreamEvent } from '../wire.js';
import { anthropicUsage, errorType, stopReason } from './response.js';

type Obj = Record<string, unknown>;

function isObj(v: unknown): v is Obj {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

export class OpenAIStreamToAnthropic implements BodyTranslator {
  private out = '';
  private started = false;
  private ended = false;
  /** Index of the open content block, -1 when none is open. */
  private open = -1;
  private openKind: 'text' | 'tool' | undefined;
  private blocks = 0;
  /** OpenAI tool-call index → Anthropic block index. */
  private readonly toolBlocks = new Map<number, number>();
  private stop: StopReason | undefined;
  private usageSeen: AnthropicUsage | undefined;
  private readonly scanner: SseScanner;
  private readonly model: string;

  constructor(model: string) {
    this.model = model;
    this.scanner = new SseScanner({ onData: (d) => this.onData(d), onDone: () => this.finish(), onOverflow: () => this.overflow() });
  }

  push(chunk: Buffer): string {
    this.scanner.push(chunk);
    return this.take();
  }

  end(): string {
    this.scanner.end();
    if (!this.ended && this.stop === undefined) {
      // Neither finish_reason nor [DONE]: the upstream stopped sending mid-answer.
      this.ended = true;
      throw unfinishedStream();
    }
    this.finish();
    return this.take();
  }

  /** After push or end threw: what was translated before the failure. */
  pending(): string {
    return this.take();
  }

  usage(): undefined {
    return undefined;
  }

  private take(): string {
    const s = this.out;
    this.out = '';
    return s;
  }

  private emit(event: StreamEvent): void {
    this.out += `event: ${event.type}\ndata: ${JSON.stringify(event)}\n\n`;
  }

  private onData(data: string): void {
    if (this.ended) return;
    let chunk: unknown;
    try {
      chunk = JSON.parse(data);
    } catch {
      return;
    }
    if (!isObj(chunk)) return;
    if (isObj(chunk.error)) {
      // An in-stream error from an OpenAI-wire upstream.
      const message = typeof chunk.error.message === 'string' ? chunk.error.message : 'The upstream stream failed.';
      this.emit({ type: 'error', error: { type: errorType(500), message } });
      this.ended = true;
      return;
    }
    this.start(chunk);
    if (isObj(chunk.usage)) this.usageSeen = anthropicUsage(chunk.usage);
    const choices = Array.isArray(chunk.choices) ? (chunk.choices as unknown[]) : [];
    const choice = choices[0];
    if (!isObj(choice)) return;
    const delta = isObj(choice.delta) ? choice.delta : {};
    if (typeof delta.content === 'string' && delta.content !== '') this.text(delta.content);
    if (Array.isArray(delta.tool_calls)) for (const tc of delta.tool_calls as unknown[]) if (isObj(tc)) this.toolCall(tc);
    if (typeof choice.finish_reason === 'string') {
      this.stop = stopReason(choice.finish_reason);
      this.closeBlock();
    }
  }

  private start(chunk: Obj): void {
    if (this.started) return;
    this.started = true;
    this.emit({
      type: 'message_start',
      message: {
        id: typeof chunk.id === 'string' ? chunk.id : 'msg_gatehouse',
        type: 'message',
        role: 'assistant',
        model: typeof chunk.model === 'string' ? chunk.model : this.model,
        content: [],
        stop_reason: null,
        stop_sequence: null,
        usage: { input_tokens: 0, output_tokens: 0 },
      },
    });
  }

  private text(text: string): void {
    if (this.openKind !== 'text') {
      this.closeBlock();
      this.openBlock('text');
      this.emit({ type: 'content_block_start', index: this.open, content_block: { type: 'text', text: '' } });
    }
    this.emit({ type: 'content_block_delta', index: this.open, delta: { type: 'text_delta', text } });
  }

  private toolCall(tc: Obj): void {
    const at = typeof tc.index === 'number' ? tc.index : 0;
    const fn = isObj(tc.function) ? tc.function : {};
    let index = this.toolBlocks.get(at);
    if (index === undefined) {
      this.closeBlock();
      index = this.openBlock('tool');
      this.toolBlocks.set(at, index);
      const id = typeof tc.id === 'string' ? tc.id : `toolu_${index}`;
      const name = typeof fn.name === 'string' ? fn.name : '';
      this.emit({ type: 'content_block_start', index, content_block: { type: 'tool_use', id, name, input: {} } });
    }
    if (typeof fn.arguments === 'string' && fn.arguments !== '') {
      this.emit({ type: 'content_block_delta', index, delta: { type: 'input_json_delta', partial_json: fn.arguments } });
    }
  }

  private openBlock(kind: 'text' | 'tool'): number {
    this.open = this.blocks++;
    this.openKind = kind;
    return this.open;
  }

  private closeBlock(): void {
    if (this.open === -1) return;
    this.emit({ type: 'content_block_stop', index: this.open });
    this.open = -1;
    this.openKind = undefined;
  }

  /** A line the scanner drops: its content would be missing from an answer that looks whole. */
  private overflow(): void {
    if (this.ended) return;
    this.ended = true;
    throw eventTooLarge(MAX_LINE_BYTES);
  }

  private finish(): void {
    if (this.ended) return;
    this.ended = true;
    if (!this.started) this.start({});
    this.closeBlock();
    const usage = this.usageSeen ?? { input_tokens: 0, output_tokens: 0 };
    this.emit({ type: 'message_delta', delta: { stop_reason: this.stop ?? 'end_turn', stop_sequence: null }, usage });
    this.emit({ type: 'message_stop' });
  }
}
