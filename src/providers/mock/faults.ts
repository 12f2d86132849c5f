/**
 * Deterministic failure modes of the mock provider, for resilience tests: the request's
 * `mock.fail` field says how to fail, and for how many requests.
 *
 *   {"mock":{"fail":{"key":"t1","times":2,"mode":"status","status":503}}}
 *
 * - key:   requests sharing a key share one counter (default ""): the first `times` of them fail,
 *          the rest are served normally. Use a unique key per test.
 * - times: how many (default: every one).
 * - models: only requests for these upstream model names fail (and count); others are served.
 *          Lets a test fail one deployment of a model while another one answers.
 * - mode:  status (default): answer `status` (default 500) in the error envelope, with `code`
 *          and, given `retryAfter` (seconds), a Retry-After header;
 *          reset: destroy the connection without an answer;
 *          stall: wait `stallMs` (default 600000) before answering normally;
 *          break: stream `afterChunks` (default 2) events, then destroy the connection;
 *          stall-stream: stream `afterChunks` events, then send nothing for `stallMs` with the
 *          connection left open (a provider hung mid-stream), then go on as if nothing happened.
 *          With `midEvent: true` both send the first half of the next event before they break
 *          or stall (a provider that fails in the middle of a line).
 *          Non-stream requests are answered normally.
 */

export type FaultMode = 'status' | 'reset' | 'stall' | 'break' | 'stall-stream';

export interface Fault {
  mode: FaultMode;
  status: number;
  code: string | undefined;
  retryAfter: number | undefined;
  stallMs: number;
  afterChunks: number;
  midEvent: boolean;
}

interface FaultSpec extends Fault {
  key: string;
  times: number;
  models: readonly string[] | undefined;
}

const MODES: readonly FaultMode[] = ['status', 'reset', 'stall', 'break', 'stall-stream'];
/** Counters are few (one per test key); bounded all the same. */
const MAX_KEYS = 10_000;

function num(v: unknown, min: number, max: number): number | undefined {
  return typeof v === 'number' && Number.isFinite(v) && v >= min && v <= max ? Math.floor(v) : undefined;
}

/** The request's `mock.fail`, or undefined when absent or malformed (then nothing fails). */
export function parseFault(mock: unknown): FaultSpec | undefined {
  if (typeof mock !== 'object' || mock === null) return undefined;
  const f = (mock as { fail?: unknown }).fail;
  if (typeof f !== 'object' || f === null) return undefined;
  const o = f as Record<string, unknown>;
  const mode = o.mode === undefined ? 'status' : MODES.find((m) => m === o.mode);
  if (mode === undefined) return undefined;
  const models = Array.isArray(o.models) ? o.models.filter((m): m is string => typeof m === 'string') : undefined;
  return {
    key: typeof o.key === 'string' ? o.key : '',
    times: num(o.times, 0, 1e9) ?? Infinity,
    models,
    mode,
    status: num(o.status, 400, 599) ?? 500,
    code: typeof o.code === 'string' ? o.code : undefined,
    retryAfter: num(o.retryAfter, 0, 86_400),
    stallMs: num(o.stallMs, 0, 600_000) ?? 600_000,
    afterChunks: num(o.afterChunks, 0, 1e9) ?? 2,
    midEvent: o.midEvent === true,
  };
}

/** Counts requests per fault key and decides whether this one fails. */
export class FaultCounters {
  private readonly counts = new Map<string, number>();

  /** The fault to apply to a request for `model`, or undefined to serve it normally. */
  apply(spec: FaultSpec | undefined, model: unknown): Fault | undefined {
    if (spec === undefined) return undefined;
    if (spec.models !== undefined && (typeof model !== 'string' || !spec.models.includes(model))) return undefined;
    const seen = this.counts.get(spec.key) ?? 0;
    if (seen >= spec.times) return undefined;
    if (this.counts.size >= MAX_KEYS && !this.counts.has(spec.key)) this.counts.clear();
    this.counts.set(spec.key, seen + 1);
    return spec;
  }
}
