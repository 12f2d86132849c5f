/**
 * Failed admin logins, limited per client address and presented key prefix (and, more loosely,
 * per address alone, so changing the prefix on every try does not escape the limit). In memory
 * per gateway process: a guesser spread over N replicas gets N times the budget, which is still
 * nothing against a 285-bit secret; what it stops is hammering and filling the audit log.
 *
 * Fixed windows: after `maxFailures` failures in a window the pair is refused until the window
 * ends. Only failures count, so a client that authenticates is never slowed down by its own
 * successes; a refused caller is refused before its credential is even hashed.
 */
export interface LoginLimitOptions {
  /** Failures per address and prefix per window. */
  maxFailures?: number;
  /** Failures per address per window, whatever the prefix. */
  maxFailuresPerAddress?: number;
  windowMs?: number;
  /** Most counters held; the oldest are forgotten beyond it. */
  maxTracked?: number;
  now?: () => number;
}

export interface LoginLimiter {
  /** Seconds until this caller may try again, or 0 if it may now. */
  retryAfter(address: string, prefix: string): number;
  /** Counts a failure; returns the seconds the caller must now wait (0: not limited yet). */
  fail(address: string, prefix: string): number;
  /** Counters held (tests, metrics). */
  size(): number;
}

interface Counter {
  windowEnd: number;
  failures: number;
}

export function createLoginLimiter(opts: LoginLimitOptions = {}): LoginLimiter {
  const maxFailures = opts.maxFailures ?? 10;
  const maxPerAddress = opts.maxFailuresPerAddress ?? 100;
  const windowMs = opts.windowMs ?? 60_000;
  const maxTracked = opts.maxTracked ?? 20_000;
  const now = opts.now ?? Date.now;
  const counters = new Map<string, Counter>();

  const pairKey = (address: string, prefix: string) => `${address}\0${prefix}`;
  const addressKey = (address: string) => `${address}\0\0*`;

  function live(key: string, at: number): Counter | undefined {
    const c = counters.get(key);
    if (c !== undefined && at >= c.windowEnd) {
      counters.delete(key);
      return undefined;
    }
    return c;
  }

  function wait(key: string, limit: number, at: number): number {
    const c = live(key, at);
    return c !== undefined && c.failures >= limit ? Math.max(1, Math.ceil((c.windowEnd - at) / 1000)) : 0;
  }

  function count(key: string, at: number): void {
    const c = live(key, at);
    if (c !== undefined) {
      c.failures += 1;
      return;
    }
    if (counters.size >= maxTracked) {
      // Map order is insertion order: the oldest windows go first (most are over by then).
      const oldest = counters.keys().next();
      if (oldest.done !== true) counters.delete(oldest.value);
    }
    counters.set(key, { windowEnd: at + windowMs, failures: 1 });
  }

  function retryAfter(address: string, prefix: string): number {
    const at = now();
    return Math.max(wait(pairKey(address, prefix), maxFailures, at), wait(addressKey(address), maxPerAddress, at));
  }

  return {
    retryAfter,
    fail(address, prefix) {
      const at = now();
      count(pairKey(address, prefix), at);
      count(addressKey(address), at);
      return retryAfter(address, prefix);
    },
    size: () => counters.size,
  };
}
