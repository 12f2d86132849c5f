/**
 * ConverseStream (`application/vnd.amazon.eventstream`) → OpenAI `chat.completion.chunk` SSE.
 *
 * The upstream body is piped through this Transform: binary frames are cut out of the byte
 * stream (each starts with its total length), checked and decoded by @smithy/eventstream-codec,
 * and each event becomes at most two SSE lines. The usage Bedrock reports in its `metadata`
 * event resolves `usage`; a stream that ends early or without it resolves with what was seen
 * (an estimate of one token per content delta, flagged `estimated`), so metering always settles.
 *
 * The answer is complete with `messageStop` (the usage in `metadata` after it is not waited for).
 * A body that ends before it, ends inside a frame, or carries a frame that does not decode (bad
 * length, prelude or message CRC, headers, or a payload that is not JSON) fails the stream with an
 * `upstream_error` GatewayError, after what was translated before: the server ends the client's
 * stream with its error event, never with a finish_reason and [DONE] the upstream did not send.
 */
import { Transform, type TransformCallback } from 'node:stream';
import { EventStreamCodec } from '@smithy/eventstream-codec';
import { GatewayError } from '../../errors.js';
import type { Usage } from '../types.js';
import { unfinishedStream } from '../upstream-errors.js';
import { openAIUsage } from '../usage.js';
import { finishReason, toUsage, type CompletionMeta } from './response.js';
import type { StreamEvents } from './wire.js';

const toUtf8 = (b: Uint8Array): string => Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('utf8');
const fromUtf8 = (s: string): Uint8Array => Buffer.from(s, 'utf8');
/** Stateless apart from its message queue, which this module never uses: one for the process. */
export const eventStreamCodec = new EventStreamCodec(toUtf8, fromUtf8);

/** Prelude (total length, headers length, prelude CRC) is 12 bytes; the smallest frame is 16. */
const MIN_FRAME = 16;
/** Bedrock's frames are small; a larger length is a corrupt stream, not a frame to wait for. */
const MAX_FRAME = 16 * 1024 * 1024;
const DONE = 'data: [DONE]\n\n';

export interface StreamMeta extends CompletionMeta {
  includeUsage: boolean;
}

export class ConverseStreamTranslator extends Transform {
  readonly usage: Promise<Usage | undefined>;
  private settle!: (u: Usage | undefined) => void;
  private settled = false;
  private pending: Buffer | undefined;
  private readonly prefix: string;
  private readonly includeUsage: boolean;
  private reported: Usage | undefined;
  private deltas = 0;
  private failed = false;
  /** messageStop arrived: the answer is complete. */
  private stopped = false;
  /** contentBlockIndex → OpenAI tool_calls index. */
  private readonly toolIndex = new Map<number, number>();

  constructor(meta: StreamMeta) {
    super({ readableHighWaterMark: 64 * 1024 });
    this.usage = new Promise((resolve) => (this.settle = resolve));
    this.includeUsage = meta.includeUsage;
    this.prefix = `data: {"id":${JSON.stringify(meta.id)},"object":"chat.completion.chunk","created":${meta.created},"model":${JSON.stringify(meta.model)},"choices":`;
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback): void {
    if (this.failed) return done();
    let buf = this.pending === undefined ? chunk : Buffer.concat([this.pending, chunk]);
    let out = '';
    try {
      while (buf.length >= 4) {
        const total = buf.readUInt32BE(0);
        if (total < MIN_FRAME || total > MAX_FRAME) throw malformedStream(`a frame length of ${total} bytes`);
        if (buf.length < total) break;
        out += this.onMessage(buf.subarray(0, total));
        buf = buf.subarray(total);
        if (this.failed) break;
      }
    } catch (err) {
      // The events before the bad frame still reach the client, ahead of the error event.
      this.failed = true;
      this.pending = undefined;
      if (out !== '') this.push(out);
      return done(err instanceof GatewayError ? err : malformedStream(undefined));
    }
    this.pending = buf.length === 0 ? undefined : buf;
    if (out !== '') this.push(out);
    done();
  }

  override _flush(done: TransformCallback): void {
    this.finish(this.reported ?? this.estimate());
    if (this.failed) return done();
    // Bytes left over are a frame cut short: the stream is broken, not done.
    if (this.pending !== undefined) return done(malformedStream('it ended inside a frame'));
    // Without messageStop the upstream stopped mid-answer: no finish_reason and [DONE] of ours.
    if (!this.stopped) return done(unfinishedStream());
    done(null, DONE);
  }

  override _destroy(err: Error | null, cb: (error?: Error | null) => void): void {
    this.finish(this.reported ?? this.estimate());
    cb(err);
  }

  private onMessage(frame: Buffer): string {
    let message: ReturnType<EventStreamCodec['decode']>;
    try {
      message = eventStreamCodec.decode(frame);
    } catch (err) {
      // The codec's own words (a checksum mismatch, a bad header): framing, never content.
      throw malformedStream(err instanceof Error ? err.message.slice(0, 200) : undefined);
    }
    const h = message.headers;
    const messageType = h[':message-type']?.value;
    if (messageType === 'event') {
      const type = h[':event-type']?.value;
      if (typeof type !== 'string') return '';
      let payload: unknown;
      try {
        payload = JSON.parse(toUtf8(message.body)) as unknown;
      } catch {
        // Not quoted: the parser's message would carry a piece of the answer.
        throw malformedStream(`a ${type} event whose payload is not JSON`);
      }
      return this.onEvent(type, payload);
    }
    // 'exception' (modeled: throttlingException, ...) or 'error' (unmodeled): the stream is over.
    this.failed = true;
    const kind = String(h[':exception-type']?.value ?? h[':error-code']?.value ?? 'error');
    let text = typeof h[':error-message']?.value === 'string' ? (h[':error-message'].value as string) : '';
    if (messageType === 'exception') {
      try {
        const parsed = JSON.parse(toUtf8(message.body)) as { message?: unknown };
        if (typeof parsed.message === 'string') text = parsed.message;
      } catch {
        // An unparseable exception body still ends the stream with the type.
      }
    }
    // The catalogue's codes and types (src/errors.ts), as the envelope of a non-stream failure would carry.
    const throttled = kind.toLowerCase().includes('throttl');
    const error = {
      message: `The upstream provider failed mid-stream (${kind})${text === '' ? '' : `: ${text.slice(0, 200)}`}`,
      type: throttled ? 'rate_limit_error' : 'upstream_error',
      code: throttled ? 'rate_limit_exceeded' : 'upstream_error',
      param: null,
    };
    return `data: ${JSON.stringify({ error })}\n\n`;
  }

  private onEvent(type: string, payload: unknown): string {
    switch (type) {
      case 'messageStart':
        return this.chunk({ role: 'assistant', content: '' }, null);
      case 'contentBlockStart': {
        const e = payload as StreamEvents['contentBlockStart'];
        const tool = e.start?.toolUse;
        if (tool === undefined) return '';
        const index = this.toolIndex.size;
        this.toolIndex.set(e.contentBlockIndex, index);
        return this.chunk({ tool_calls: [{ index, id: tool.toolUseId, type: 'function', function: { name: tool.name, arguments: '' } }] }, null);
      }
      case 'contentBlockDelta': {
        const e = payload as StreamEvents['contentBlockDelta'];
        const d = e.delta;
        if (typeof d?.text === 'string') {
          this.deltas += 1;
          return this.chunk({ content: d.text }, null);
        }
        if (d?.toolUse !== undefined) {
          this.deltas += 1;
          const index = this.toolIndex.get(e.contentBlockIndex) ?? 0;
          return this.chunk({ tool_calls: [{ index, function: { arguments: d.toolUse.input } }] }, null);
        }
        return '';
      }
      case 'messageStop':
        this.stopped = true;
        return this.chunk({}, finishReason((payload as StreamEvents['messageStop']).stopReason));
      case 'metadata': {
        const usage = toUsage((payload as StreamEvents['metadata']).usage);
        if (usage === undefined) return '';
        this.reported = usage;
        return this.includeUsage ? `${this.prefix}[],"usage":${JSON.stringify(openAIUsage(usage))}}\n\n` : '';
      }
      default:
        // contentBlockStop and event types added later carry nothing an OpenAI client reads.
        return '';
    }
  }

  private chunk(delta: Record<string, unknown>, finish: string | null): string {
    const reason = finish === null ? 'null' : `"${finish}"`;
    return `${this.prefix}[{"index":0,"delta":${JSON.stringify(delta)},"logprobs":null,"finish_reason":${reason}}]}\n\n`;
  }

  private estimate(): Usage | undefined {
    if (this.deltas === 0) return undefined;
    return { promptTokens: 0, completionTokens: this.deltas, totalTokens: this.deltas, cachedTokens: 0, estimated: true };
  }

  private finish(u: Usage | undefined): void {
    if (this.settled) return;
    this.settled = true;
    this.settle(u);
  }
}

/**
 * A ConverseStream body that is not a valid event stream: what arrives after the bad bytes cannot
 * be trusted, so the stream ends with this (the client's `upstream_error` event, not an internal one).
 */
function malformedStream(detail: string | undefined): GatewayError {
  return new GatewayError(
    'upstream_error',
    `The upstream provider sent a malformed event stream${detail === undefined ? '' : ` (${detail})`}; the stream was ended.`,
  );
}
