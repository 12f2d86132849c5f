/**
 * Stage: a streamed answer may not pass the output tokens admission reserved for it (DESIGN §4:
 * "a stream whose usage reaches its reservation is ended with a terminal error event. Budgets
 * never overshoot, streams included"). Admission sends the reserved bound upstream as
 * max_tokens; a provider that ignores it would otherwise generate, and the settle charge, as
 * much as it likes beyond a budget that could not cover it.
 *
 * Output is counted the way a cut-off stream's usage is estimated (src/providers/usage.ts): one
 * token per content chunk (`"choices":[{` in the canonical OpenAI chunks every adapter writes),
 * allowing each choice its first (role) chunk; a chunk that sets a finish reason is not counted,
 * so a provider that stops at max_tokens is never cut. Once the count
 * passes the reservation, the event that passed it is not forwarded: the stream ends with the
 * stream format's terminal error (`output_limit_exceeded`, written by the server, so an
 * Anthropic-dialect client gets Anthropic's `error` event), the upstream call is aborted, and the
 * usage reported for the request is the reservation itself (estimated), so it settles there.
 *
 * Runs after the provider stage and before the cache fill, so a cut answer is never stored.
 * Requests without a reservation of output (no token, spend or compute rule) are not wrapped.
 */
import { Transform, type Readable } from 'node:stream';
import { GatewayError } from '../errors.js';
import type { Usage } from '../providers/types.js';
import type { OutputCap, RequestContext, Stage } from './context.js';

const CHOICE = Buffer.from('"choices":[{');
/** A chunk that sets a finish reason ends its choice: it carries no token and is not counted. */
const FINISH = Buffer.from('"finish_reason":"');
const LF = 0x0a;

/** Chunks allowed before the stream is cut: the output, and each choice's first (role) chunk. */
export function chunkAllowance(cap: OutputCap): number {
  return cap.outputTokens + cap.choices;
}

/** Whether the event holding a choice at `at` (its line ends at `lineEnd`) finishes it. */
function finishes(buf: Buffer, at: number, lineEnd: number): boolean {
  const f = buf.indexOf(FINISH, at);
  return f !== -1 && f < lineEnd;
}

/** A line longer than this is forwarded unaligned rather than held (bounded memory). */
const MAX_HELD_BYTES = 1024 * 1024;

/**
 * `source` passed through whole lines at a time, counting content chunks; past `allowed`, the
 * lines before the one that passed are forwarded, then the body fails with `error` and `source`
 * is destroyed (aborting the upstream call). The bytes after a chunk's last line end wait for
 * the rest of their line (chunks from every upstream we know end on a line end, so this holds
 * nothing in practice), so a cut always falls between events and the terminal error event the
 * server appends parses as one.
 */
export function capChunks(source: Readable, allowed: number, error: () => Error, onCut: () => void): Readable {
  let seen = 0;
  let cut = false;
  let held: Buffer | undefined;
  const capped = new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      if (cut) return callback();
      const buf = held === undefined ? chunk : Buffer.concat([held, chunk]);
      held = undefined;
      const lastLf = buf.lastIndexOf(LF);
      if (lastLf === -1 && buf.length <= MAX_HELD_BYTES) {
        held = buf;
        return callback();
      }
      const end = lastLf === -1 ? buf.length : lastLf + 1;
      let at = buf.indexOf(CHOICE);
      while (at !== -1 && at < end) {
        const lineEnd = buf.indexOf(LF, at);
        if (!finishes(buf, at, lineEnd === -1 ? end : lineEnd) && ++seen > allowed) {
          cut = true;
          onCut();
          source.unpipe(capped);
          source.destroy();
          const lineStart = at === 0 ? 0 : buf.lastIndexOf(LF, at - 1) + 1;
          // Forwarded now (a piped body emits it at once), then the body fails on the next tick.
          process.nextTick(() => capped.destroy(error()));
          callback(null, lineStart > 0 ? buf.subarray(0, lineStart) : undefined);
          return;
        }
        at = buf.indexOf(CHOICE, at + CHOICE.length);
      }
      if (end < buf.length) held = buf.subarray(end);
      callback(null, end === buf.length ? buf : buf.subarray(0, end));
    },
    flush(callback) {
      const rest = held;
      held = undefined;
      callback(null, rest);
    },
  });
  source.once('error', (err: Error) => {
    if (!cut) capped.destroy(err);
  });
  // Destroyed without an error (a cancelled upstream call): the client side must learn it is over.
  source.once('close', () => {
    if (!cut && !source.readableEnded && !capped.destroyed) capped.destroy(new Error('upstream body closed before its end'));
  });
  source.pipe(capped);
  return capped;
}

function isStream(headers: Record<string, string>): boolean {
  return headers['content-type']?.startsWith('text/event-stream') === true;
}

export function capStreamOutput(): Stage {
  return function outputCapStage(ctx: RequestContext): void {
    const cap = ctx.outputCap;
    const upstream = ctx.upstream;
    if (cap === undefined || upstream === undefined || upstream.status >= 300 || !isStream(upstream.headers)) return;
    // The reservation, reported as the request's usage when the stream is cut: the settle and
    // the usage event charge exactly what was reserved (the prompt is counted by each of them).
    const reserved: Usage = { promptTokens: 0, completionTokens: cap.outputTokens, totalTokens: cap.outputTokens, cachedTokens: 0, estimated: true };
    let cutUsage: ((u: Usage) => void) | undefined;
    const whenCut = new Promise<Usage>((resolve) => (cutUsage = resolve));
    let cut = false;
    const body = capChunks(
      upstream.body,
      chunkAllowance(cap),
      () =>
        new GatewayError(
          'output_limit_exceeded',
          `The model generated more than the ${cap.outputTokens} output tokens reserved for this request (max_tokens); the stream was ended.`,
        ),
      () => {
        cut = true;
        cutUsage?.(reserved);
      },
    );
    const usage = Promise.race([
      upstream.usage.then(
        (u) => (cut ? reserved : u),
        () => (cut ? reserved : undefined),
      ),
      whenCut,
    ]);
    ctx.upstream = { ...upstream, body, usage };
  };
}
