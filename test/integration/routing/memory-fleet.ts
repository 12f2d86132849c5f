/**
 * The fleet of src/routing/redis-breakers.ts in one process, for tests: the same answers as its
 * Lua scripts (the shared contract runs against both), and a switch that makes every call fail
 * the way an unreachable Redis does.
 */
import type { BreakerFleet, FleetEntry, ProbeClaim } from '../../../src/routing/shared-breakers.js';

export interface MemoryFleet extends BreakerFleet {
  /** While true, every call rejects (Redis unreachable). */
  unreachable: boolean;
}

export function memoryBreakerFleet(now: () => number = Date.now): MemoryFleet {
  const entries = new Map<string, { until: number; openMs: number }>();
  const probes = new Map<string, { token: string; until: number }>();
  const call = async <T>(f: () => T): Promise<T> => {
    await Promise.resolve();
    if (fleet.unreachable) throw Object.assign(new Error('Connection is closed.'), { code: 'ECONNREFUSED' });
    return f();
  };
  const probeOf = (id: string): { token: string; until: number } | undefined => {
    const p = probes.get(id);
    return p !== undefined && p.until > now() ? p : undefined;
  };
  const fleet: MemoryFleet = {
    unreachable: false,
    trip: (id, durationMs, openMs) =>
      call(() => {
        const e = entries.get(id);
        const t = now();
        if (e !== undefined && e.until > t) return { remainingMs: e.until - t, openMs: e.openMs, ours: false };
        entries.set(id, { until: t + durationMs, openMs });
        probes.delete(id);
        return { remainingMs: durationMs, openMs, ours: true };
      }),
    recover: (id, token) =>
      call(() => {
        if (probeOf(id)?.token !== token) return false;
        entries.delete(id);
        probes.delete(id);
        return true;
      }),
    claimProbe: (id, token, leaseMs) =>
      call((): ProbeClaim => {
        const e = entries.get(id);
        if (e === undefined) return { kind: 'closed' };
        const t = now();
        if (e.until > t) return { kind: 'open', remainingMs: e.until - t, openMs: e.openMs };
        const p = probeOf(id);
        if (p !== undefined) return { kind: 'held', remainingMs: p.until - t };
        probes.set(id, { token, until: t + leaseMs });
        return { kind: 'won' };
      }),
    releaseProbe: (id, token) =>
      call(() => {
        if (probeOf(id)?.token === token) probes.delete(id);
      }),
    read: () =>
      call(() => {
        const t = now();
        const out = new Map<string, FleetEntry>();
        for (const [id, e] of entries) out.set(id, { remainingMs: e.until - t, openMs: e.openMs });
        return out;
      }),
    ready: async () => !fleet.unreachable,
    quit: async () => undefined,
  };
  return fleet;
}
