/**
 * One upstream HTTP exchange on an undici dispatcher, shared by every adapter.
 *
 * Why a dispatch handler and not `pool.request()` + a Transform: the handler sees each body
 * chunk once, hands it to the usage scanner and pushes it into the one Readable the client
 * reads. `request()` would add its own Readable, an AsyncResource per request and, with a
 * usage tap, a second stream per chunk; measured, that doubled the adapter's CPU per streamed
 * request. Backpressure is the Readable's: when its buffer is full the handler pauses the
 * socket and `_read()` resumes it.
 *
 * The caller's signal cancels the exchange at any point; destroying the body before its end
 * aborts the request, which closes its socket, so no upstream work continues and no half-read
 * connection goes back to the pool (DESIGN §12, "cancellation never poisons shared state").
 */
import type { CancelSignal } from './cancel.js';
import { GatewayError } from '../errors.js';
import { Readable } from 'node:stream';
import type { Dispatcher } from 'undici';
import type { Deployment, UpstreamResponse, Usage } from './types.js';
import { brokenStream, stalledStream, unfinishedStream } from './upstream-errors.js';
import type { UsageScanner } from './usage.js';

export type IncomingHttpHeaders = Dispatcher.ResponseData['headers'];

/** Upstream error bodies are read up to this size, never more. */
export const ERROR_BODY_LIMIT = 64 * 1024;

/** What an adapter decides; the exchange itself is the same for every provider. */
export interface CallHooks {
  /** A 2xx answer: the headers for the client and the usage scanner for this content type. */
  accept(status: number, headers: IncomingHttpHeaders): { headers: Record<string, string>; scanner: UsageScanner | undefined };
  /** Any other answer, with its body read up to ERROR_BODY_LIMIT: a response to return, or an error to throw. */
  reject(status: number, headers: IncomingHttpHeaders, body: string): UpstreamResponse | Error;
  /** A failure of the exchange itself (connect, timeout, reset, abort). */
  transportError(err: unknown, signal: CancelSignal): unknown;
}

const NO_USAGE: Promise<Usage | undefined> = Promise.resolve(undefined);

/** An SSE event held back whole up to this size; a bigger one is forwarded as it arrives. */
const MAX_HELD_EVENT = 256 * 1024;
const LF = 0x0a;
const CR = 0x0d;

/**
 * Where the last complete SSE event in `chunk` ends (after its blank line), 0 when none does;
 * `before` is the last byte or two before `chunk`, for a blank line split across chunks.
 */
export function eventsEnd(chunk: Buffer, before: Buffer | undefined): number {
  const lf = chunk.lastIndexOf('\n\n');
  const crlf = chunk.lastIndexOf('\n\r\n');
  if (lf !== -1 || crlf !== -1) return Math.max(lf === -1 ? 0 : lf + 2, crlf === -1 ? 0 : crlf + 3);
  if (before === undefined || before.length === 0 || chunk.length === 0) return 0;
  const b1 = before[before.length - 1];
  const b2 = before.length > 1 ? before[before.length - 2] : undefined;
  if (chunk[0] === LF && (b1 === LF || (b1 === CR && b2 === LF))) return 1;
  if (chunk[0] === CR && chunk[1] === LF && b1 === LF) return 2;
  return 0;
}

/**
 * undici's `bodyTimeout` for a call: the longest silence between two body chunks (it does not run
 * while the client is slow to read, as the parser is paused then). A stream may have a tighter
 * one of its own (`streamIdleTimeoutMs`): a provider that stops sending mid-stream without closing
 * would otherwise hold the client, the scheduler slot and the reservation for the whole timeoutMs.
 */
export function bodyTimeoutMs(d: Pick<Deployment, 'timeoutMs' | 'streamIdleTimeoutMs'>, stream: boolean): number {
  return stream && d.streamIdleTimeoutMs !== undefined ? d.streamIdleTimeoutMs : d.timeoutMs;
}

export function dispatchCall(
  dispatcher: Dispatcher,
  options: Dispatcher.DispatchOptions,
  signal: CancelSignal,
  hooks: CallHooks,
): Promise<UpstreamResponse> {
  if (signal.aborted) return Promise.reject(hooks.transportError(signal.reason, signal));
  return new Promise((resolve, reject) => {
    dispatcher.dispatch(options, new UpstreamCall(signal, hooks, resolve, reject, options.bodyTimeout ?? undefined));
  });
}

const EMPTY = Buffer.alloc(0);

/** The client-facing body: a plain Readable fed by the handler. */
class UpstreamBody extends Readable {
  private readonly call: UpstreamCall;
  /** The body fails with this once what it holds has been read (it ended unfinished). */
  private failure: Error | undefined;

  constructor(call: UpstreamCall) {
    // undici's own response bodies buffer 64 KiB before pausing the socket; so do we.
    super({ highWaterMark: 64 * 1024 });
    this.call = call;
  }

  override _read(): void {
    if (this.failure !== undefined) this.failWhenRead();
    else this.call.resume();
  }

  /** Ends the body with `err` instead of its end, after the bytes already pushed are read. */
  failAfterBuffered(err: Error): void {
    this.failure = err;
    this.failWhenRead();
  }

  /**
   * The error goes out once the buffer is empty and someone listens for it: destroyed at once, a
   * slow reader would lose the events it has not read yet, and the body can end before the server
   * attaches to it (an 'error' without a listener would crash the process). Until then an empty
   * push settles the pending read, so that the next read comes back here.
   */
  private failWhenRead(): void {
    if (this.readableLength === 0 && this.listenerCount('error') > 0) this.destroy(this.failure);
    else this.push(EMPTY);
  }

  override _destroy(err: Error | null, cb: (error?: Error | null) => void): void {
    this.call.bodyDestroyed(err);
    cb(err);
  }
}

type Phase = 'waiting' | 'body' | 'error-body' | 'done';

class UpstreamCall implements Dispatcher.DispatchHandler {
  private phase: Phase = 'waiting';
  private controller: Dispatcher.DispatchController | undefined;
  private body: UpstreamBody | undefined;
  private scanner: UsageScanner | undefined;
  private settleUsage: ((u: Usage | undefined) => void) | undefined;
  private status = 0;
  private headers: IncomingHttpHeaders = {};
  private errorChunks: Buffer[] = [];
  private errorBytes = 0;
  /** The error body came in a content-encoding we do not decode: its text is not read. */
  private errorEncoded = false;
  /**
   * An event stream is forwarded in whole events: the start of an event is held until its end
   * arrives. A stream that fails mid-event then ends with its error event on a clean boundary;
   * forwarded as it came, the error was glued onto the half-sent line and clients could not parse
   * either. `undefined` for bodies that are not event streams.
   */
  private held: Buffer[] | undefined;
  private heldBytes = 0;
  private readonly signal: CancelSignal;
  private readonly hooks: CallHooks;
  private readonly resolve: (r: UpstreamResponse) => void;
  private readonly reject: (e: unknown) => void;
  private readonly bodyTimeout: number | undefined;
  private readonly onAbort = (): void => this.abort(this.signal.reason);

  constructor(
    signal: CancelSignal,
    hooks: CallHooks,
    resolve: (r: UpstreamResponse) => void,
    reject: (e: unknown) => void,
    bodyTimeout: number | undefined,
  ) {
    this.signal = signal;
    this.hooks = hooks;
    this.resolve = resolve;
    this.reject = reject;
    this.bodyTimeout = bodyTimeout;
    signal.addEventListener('abort', this.onAbort, { once: true });
  }

  onRequestStart(controller: Dispatcher.DispatchController): void {
    this.controller = controller;
    // Aborted while queued for a connection: never send it.
    if (this.phase === 'done') controller.abort(asError(this.signal.reason));
  }

  onResponseStart(controller: Dispatcher.DispatchController, status: number, headers: IncomingHttpHeaders): void {
    if (status < 200 || this.phase !== 'waiting') return;
    this.controller = controller;
    this.status = status;
    const coding = headers['content-encoding'];
    if (status >= 300) {
      this.headers = headers;
      this.phase = 'error-body';
      // An encoded error body would reach the client as mojibake in its message: read as empty.
      if (coding !== undefined && !isIdentity(coding)) this.errorEncoded = true;
      return;
    }
    if (coding !== undefined && !isIdentity(coding)) {
      // We ask for identity; bytes in another coding would pass undecoded while the header that
      // names it is dropped (an empty answer, or gzip as text, and no usage). The attempt fails.
      this.phase = 'done';
      this.cleanup();
      this.reject(encodedBody(coding));
      controller.abort(new Error('upstream answered in a content-encoding'));
      return;
    }
    const accepted = this.hooks.accept(status, headers);
    this.phase = 'body';
    this.scanner = accepted.scanner;
    if (accepted.headers['content-type']?.startsWith('text/event-stream') === true) this.held = [];
    this.body = new UpstreamBody(this);
    const usage: Promise<Usage | undefined> =
      accepted.scanner === undefined ? NO_USAGE : new Promise((r) => (this.settleUsage = r));
    this.resolve({ status, headers: accepted.headers, body: this.body, usage });
  }

  onResponseData(controller: Dispatcher.DispatchController, chunk: Buffer): void {
    if (this.phase === 'body') {
      this.scanner?.push(chunk);
      const whole = this.held === undefined ? chunk : this.wholeEvents(chunk);
      if (whole !== undefined && !(this.body as UpstreamBody).push(whole)) controller.pause();
    } else if (this.phase === 'error-body') {
      this.errorChunks.push(chunk);
      this.errorBytes += chunk.length;
      if (this.errorBytes >= ERROR_BODY_LIMIT) {
        // Enough to explain the failure; the rest is not worth a connection.
        this.finishError();
        controller.abort(new Error('upstream error body too large'));
      }
    }
  }

  onResponseEnd(): void {
    if (this.phase === 'body') {
      this.phase = 'done';
      this.cleanup();
      this.settleUsage?.(this.scanner?.end());
      const body = this.body as UpstreamBody;
      if (this.scanner?.finished?.() === false) {
        // Ended cleanly before the upstream said the answer was complete (an OpenAI stream with
        // neither finish_reason nor [DONE]): a truncated answer, not to reach the client as whole.
        // Its client gets the error event after the whole events (a held half event is dropped).
        body.failAfterBuffered(unfinishedStream());
        return;
      }
      // A stream that ends mid-event ends as the upstream ended it.
      if (this.held !== undefined && this.heldBytes > 0) body.push(Buffer.concat(this.held, this.heldBytes));
      body.push(null);
    } else if (this.phase === 'error-body') {
      this.finishError();
    }
  }

  onResponseError(_controller: Dispatcher.DispatchController | undefined, err: Error): void {
    const phase = this.phase;
    this.phase = 'done';
    this.cleanup();
    if (phase === 'waiting') {
      this.reject(this.hooks.transportError(err, this.signal));
    } else if (phase === 'body') {
      // Cut off: usage is what passed (the scanner's estimate), as for a client that left.
      this.settleUsage?.(this.scanner?.partial());
      const stalled = !this.signal.aborted && (err as { code?: unknown }).code === 'UND_ERR_BODY_TIMEOUT';
      // undici destroyed the socket, so the upstream call is over; the client gets the error event
      // after the events it has not read yet. Not at once: the failure may come in the same read
      // as the response head, before the server listens for the body's errors (an 'error'
      // without a listener would take the process down).
      if (this.signal.aborted) this.body?.destroy(asError(this.hooks.transportError(err, this.signal)));
      else this.body?.failAfterBuffered(stalled ? stalledStream(this.bodyTimeout, err) : brokenStream(err));
    } else if (phase === 'error-body') {
      // A broken error body still explains the failure with what was read.
      this.finishError();
    }
  }

  resume(): void {
    this.controller?.resume();
  }

  /** What of the events so far can go out whole (undefined: nothing yet); the rest is held. */
  private wholeEvents(chunk: Buffer): Buffer | undefined {
    const held = this.held as Buffer[];
    const last = held.length === 0 ? undefined : held[held.length - 1];
    const end = eventsEnd(chunk, last);
    if (end === chunk.length && held.length === 0) return chunk; // the usual case: whole events
    if (end === 0 && this.heldBytes + chunk.length <= MAX_HELD_EVENT) {
      held.push(chunk);
      this.heldBytes += chunk.length;
      return undefined;
    }
    // An event bigger than we hold goes out as it arrives.
    const cut = end === 0 ? chunk.length : end;
    held.push(cut === chunk.length ? chunk : chunk.subarray(0, cut));
    const out = held.length === 1 ? (held[0] as Buffer) : Buffer.concat(held, this.heldBytes + cut);
    this.held = cut === chunk.length ? [] : [chunk.subarray(cut)];
    this.heldBytes = chunk.length - cut;
    return out;
  }

  /** The client side went away (or finished reading): stop the upstream if it is still going. */
  bodyDestroyed(err: Error | null): void {
    if (this.phase !== 'body') return;
    this.phase = 'done';
    this.cleanup();
    this.settleUsage?.(this.scanner?.partial());
    this.controller?.abort(err ?? new Error('response body destroyed before its end'));
  }

  private abort(reason: unknown): void {
    const phase = this.phase;
    if (phase === 'done') return;
    this.phase = 'done';
    this.cleanup();
    const err = this.hooks.transportError(reason, this.signal);
    if (phase === 'body') {
      this.settleUsage?.(this.scanner?.partial());
      this.body?.destroy(asError(err));
    } else {
      this.reject(err);
    }
    this.controller?.abort(asError(reason));
  }

  private finishError(): void {
    if (this.phase !== 'error-body') return;
    this.phase = 'done';
    this.cleanup();
    const text = this.errorEncoded
      ? ''
      : Buffer.concat(this.errorChunks, this.errorBytes).toString('utf8', 0, Math.min(this.errorBytes, ERROR_BODY_LIMIT));
    this.errorChunks = [];
    const outcome = this.hooks.reject(this.status, this.headers, text);
    if (outcome instanceof Error) this.reject(outcome);
    else this.resolve(outcome);
  }

  private cleanup(): void {
    this.signal.removeEventListener('abort', this.onAbort);
  }
}

/**
 * Every adapter sends `accept-encoding: identity`; `identity` (any case, or an empty value) is
 * the only coding whose bytes are the body itself.
 */
function isIdentity(coding: string | string[]): boolean {
  const value = Array.isArray(coding) ? coding.join(',') : coding;
  return value.split(',').every((c) => {
    const t = c.trim().toLowerCase();
    return t === '' || t === 'identity';
  });
}

function encodedBody(coding: string | string[]): GatewayError {
  const raw = (Array.isArray(coding) ? coding.join(', ') : coding).trim();
  const named = /^[\w.+, -]{1,64}$/.test(raw) ? `'${raw}'` : 'one it did not ask for';
  return new GatewayError(
    'upstream_error',
    `The upstream provider answered in content-encoding ${named}; the gateway asks for identity and does not decode bodies.`,
  );
}

function asError(e: unknown): Error {
  return e instanceof Error ? e : new Error(typeof e === 'string' ? e : 'aborted');
}
