/**
 * Adaptive concurrency per deployment (AIMD, DESIGN §4 "adaptive limits"): when an upstream pushes
 * back, Gatehouse sends it fewer requests at once and recovers gradually, the way TCP congestion
 * control does with its window.
 *
 * - The effective capacity starts at the configured one and never exceeds it.
 * - Multiplicative decrease: an upstream 429 or 503, or a window whose median upstream time is
 *   above `slowFactor` × the deployment's baseline, multiplies it by `decreaseFactor` (floor 1).
 *   At most once per `cooldownMs`: the requests already in flight when the upstream started
 *   refusing all come back with 429 at once, and that burst is one signal, not twenty.
 * - Additive increase: each window (`windowMs`, opened by the first success after the previous
 *   one closed) that saw successes and no overload adds 1, up to the configured capacity.
 *
 * Latency is judged on a window's median, not on single requests: a tenant that asks for long
 * completions makes its own requests slow, and one tenant's slow requests must not shrink the
 * deployment for everyone. The baseline is a moving average of window medians, so a lasting
 * change of the upstream's speed becomes the new normal after a few windows.
 *
 * Only what the outcome says is used: the status the client got and the time to the upstream's
 * response headers. An upstream 429 reaches the client as 429; an upstream 503 reaches it as 502
 * (upstream_error), so only a 503 the gateway itself answered counts as one here.
 */
import type { SlotOutcome } from './scheduler.js';

export interface AdaptiveOptions {
  /** Monotonic ms clock (tests pass a fake one). */
  now?: () => number;
  /** Multiplier applied on an overload signal (0 < f < 1). */
  decreaseFactor?: number;
  /** At most one decrease per this many ms. */
  cooldownMs?: number;
  /** Length of a window; each clean window adds 1. */
  windowMs?: number;
  /** A window whose median upstream time exceeds this × the baseline is an overload signal. */
  slowFactor?: number;
  /** A window with fewer successes than this says nothing about latency (it may still add 1). */
  minSamples?: number;
  /** Weight of a new window median in the baseline's moving average. */
  baselineAlpha?: number;
}

/** One deployment's adaptive state, for the scheduler (reads `effective`) and for metrics. */
export interface AdaptiveState {
  readonly deploymentId: string;
  readonly configured: number;
  /** What the scheduler uses: 1 ≤ effective ≤ configured. */
  readonly effective: number;
  /** Moving average of window medians of the upstream time, ms; undefined before the first window. */
  readonly baselineMs: number | undefined;
  /** Decreases so far (for metrics and tests). */
  readonly decreases: number;
}

export interface AdaptiveCapacity {
  /** The deployment's state, created at its configured capacity; a new configured value is applied. */
  track(deploymentId: string, configured: number): AdaptiveState;
  /** Feeds one finished request of the deployment. */
  observe(state: AdaptiveState, outcome: SlotOutcome): void;
  /** Copies of every deployment's state, for metrics. */
  snapshot(): AdaptiveState[];
}

interface MutableState {
  deploymentId: string;
  configured: number;
  effective: number;
  baselineMs: number | undefined;
  decreases: number;
  lastDecreaseAt: number | undefined;
  /** undefined when no window is open. */
  windowStart: number | undefined;
  /** An overload signal arrived during the open window: it adds nothing. */
  windowOverloaded: boolean;
  /** Upstream times of the open window's successes (bounded; see SAMPLE_LIMIT). */
  samples: number[];
}

/** Enough for a median; a busy deployment's window keeps its first SAMPLE_LIMIT samples. */
const SAMPLE_LIMIT = 1024;

function median(values: number[]): number {
  values.sort((a, b) => a - b);
  const mid = values.length >> 1;
  return values.length % 2 === 1 ? (values[mid] as number) : ((values[mid - 1] as number) + (values[mid] as number)) / 2;
}

export function createAdaptiveCapacity(opts: AdaptiveOptions = {}): AdaptiveCapacity {
  const now = opts.now ?? (() => performance.now());
  const factor = opts.decreaseFactor ?? 0.7;
  const cooldownMs = opts.cooldownMs ?? 1000;
  const windowMs = opts.windowMs ?? 1000;
  const slowFactor = opts.slowFactor ?? 3;
  const minSamples = opts.minSamples ?? 5;
  const alpha = opts.baselineAlpha ?? 0.2;
  if (!(factor > 0 && factor < 1)) throw new Error('decreaseFactor must be between 0 and 1');
  const states = new Map<string, MutableState>();

  function decrease(s: MutableState, at: number): void {
    s.windowOverloaded = true;
    if (s.lastDecreaseAt !== undefined && at - s.lastDecreaseAt < cooldownMs) return;
    s.effective = Math.max(1, Math.floor(s.effective * factor));
    s.lastDecreaseAt = at;
    s.decreases += 1;
  }

  function closeWindow(s: MutableState, at: number): void {
    const enough = s.samples.length >= minSamples;
    const m = enough ? median(s.samples) : undefined;
    const slow = m !== undefined && s.baselineMs !== undefined && m > slowFactor * s.baselineMs;
    if (m !== undefined) s.baselineMs = s.baselineMs === undefined ? m : s.baselineMs + alpha * (m - s.baselineMs);
    if (slow) decrease(s, at);
    else if (!s.windowOverloaded && s.effective < s.configured) s.effective += 1;
    s.samples.length = 0;
    s.windowStart = undefined;
    s.windowOverloaded = false;
  }

  return {
    track(deploymentId, configured) {
      let s = states.get(deploymentId);
      if (s === undefined) {
        s = {
          deploymentId,
          configured,
          effective: configured,
          baselineMs: undefined,
          decreases: 0,
          lastDecreaseAt: undefined,
          windowStart: undefined,
          windowOverloaded: false,
          samples: [],
        };
        states.set(deploymentId, s);
      } else if (s.configured !== configured) {
        // A deployment running at full capacity follows the new value; a throttled one keeps
        // its reduced value (capped by the new one) and recovers from there.
        s.effective = s.effective >= s.configured ? configured : Math.min(s.effective, configured);
        s.configured = configured;
      }
      return s;
    },

    observe(state, outcome) {
      const s = state as MutableState;
      const at = now();
      if (outcome.status === 429 || outcome.status === 503) {
        decrease(s, at);
        return;
      }
      // The upstream never answered (refused before the call, cut off): no evidence either way.
      if (outcome.upstreamMs === undefined) return;
      if (s.windowStart === undefined) s.windowStart = at;
      if (s.samples.length < SAMPLE_LIMIT) s.samples.push(outcome.upstreamMs);
      if (at - s.windowStart >= windowMs) closeWindow(s, at);
    },

    snapshot() {
      return [...states.values()].map((s) => ({
        deploymentId: s.deploymentId,
        configured: s.configured,
        effective: s.effective,
        baselineMs: s.baselineMs,
        decreases: s.decreases,
      }));
    },
  };
}
