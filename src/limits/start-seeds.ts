/**
 * A single instance's day/month counters after a start (DESIGN §13 "Limit backends"). The memory
 * backend holds them in process memory only, so a restart would grant every tenant its daily
 * quota and monthly budget afresh. So each tenant's counters are raised to the ledger's figures
 * (src/billing/limit-seeds.ts) before its first reservation with a day/month charge, taking the
 * larger of the counter and the ledger, as the Redis reseed does.
 *
 * One ledger read per tenant at a time (single flight), started by its first such reservation.
 * Reservations of that tenant wait for it at most `waitMs` from the read's start (a slow store
 * must not hold requests for long; later ones do not wait at all); the figures are applied when
 * the read lands, however late. A read that fails is retried by the tenant's first reservation
 * 10 s later; requests meanwhile go ahead on this process's own counts. Once seeded, a tenant
 * costs one Set lookup per reservation and stays synchronous.
 *
 * `ledgerCurrent`: the ledger lacks what the last process left unshipped in the usage spool (a
 * crash) until the shipper has sent it; the read waits for that first.
 */
import type { Logger } from 'pino';
import type { WindowSeed } from './redis-backend.js';
import type { Charge } from './types.js';

/** A backend whose day/month counters can be raised (the memory backend). */
export interface WindowSeedTarget {
  seedWindow(key: string, used: number, resetAt: number): void;
}

export interface StartSeedOptions {
  backend: WindowSeedTarget;
  /** One tenant's day/month usage per counter from the ledger. */
  ledger: (tenantId: string) => Promise<readonly WindowSeed[]>;
  /** Resolves once the ledger holds everything served before this start (the spool's backlog shipped). */
  ledgerCurrent?: () => Promise<void>;
  /** How long a tenant's first reservations wait for its read. Default 1,000 ms. */
  waitMs?: number;
  /** After a failed read, requests go ahead unseeded this long before the next try. Default 10,000 ms. */
  retryMs?: number;
  logger?: Logger;
  now?: () => number;
}

export interface StartSeedStats {
  /** Tenants whose ledger figures were applied. */
  seeded: number;
  /** Ledger reads that failed (each retried later). */
  failures: number;
}

export interface StartSeeder {
  /**
   * undefined when the reservation may go ahead now (no day/month charge, tenant seeded, read
   * recently failed, or its wait is over); else a promise that resolves when it may. Never rejects.
   */
  before(charges: readonly Charge[]): Promise<void> | undefined;
  stats(): StartSeedStats;
}

/** The tenant of a counter key `gh:{<tenant>}:...`, or undefined. */
export function tenantOfKey(key: string): string | undefined {
  const open = key.indexOf('{');
  const close = key.indexOf('}', open);
  return open === -1 || close === -1 ? undefined : key.slice(open + 1, close);
}

interface Seeding {
  /** Resolves when the read landed or `waitMs` passed, whichever is first. */
  gate: Promise<void>;
  waiting: boolean;
}

const MAX_FAILED = 10_000;

export function createStartSeeder(opts: StartSeedOptions): StartSeeder {
  const { backend, ledger, logger } = opts;
  const waitMs = opts.waitMs ?? 1_000;
  const retryMs = opts.retryMs ?? 10_000;
  const now = opts.now ?? Date.now;
  const seeded = new Set<string>();
  const inFlight = new Map<string, Seeding>();
  const failedAt = new Map<string, number>();
  const counts: StartSeedStats = { seeded: 0, failures: 0 };

  function start(tenantId: string): Seeding {
    const read = Promise.resolve()
      .then(() => opts.ledgerCurrent?.())
      .then(() => ledger(tenantId))
      .then(
        (entries) => {
          for (const e of entries) backend.seedWindow(e.key, e.used, e.resetAt);
          seeded.add(tenantId);
          failedAt.delete(tenantId);
          counts.seeded++;
          logger?.debug({ tenant: tenantId, counters: entries.length }, 'limits: day/month counters seeded from the ledger');
        },
        (err: unknown) => {
          counts.failures++;
          if (failedAt.size >= MAX_FAILED) failedAt.clear();
          failedAt.set(tenantId, now());
          logger?.error(
            { tenant: tenantId, err: err instanceof Error ? err.message : String(err) },
            'limits: reading the ledger to seed day/month counters failed; using this process\'s counts',
          );
        },
      )
      .finally(() => inFlight.delete(tenantId));
    let timer: NodeJS.Timeout | undefined;
    const seeding: Seeding = {
      gate: Promise.race([read, new Promise<void>((resolve) => (timer = setTimeout(resolve, waitMs)))]).then(() => {
        clearTimeout(timer);
        seeding.waiting = false;
      }),
      waiting: true,
    };
    inFlight.set(tenantId, seeding);
    return seeding;
  }

  function before(charges: readonly Charge[]): Promise<void> | undefined {
    for (const c of charges) {
      if (c.kind !== 'window') continue;
      const tenantId = tenantOfKey(c.key);
      if (tenantId === undefined || seeded.has(tenantId)) return undefined;
      const seeding = inFlight.get(tenantId);
      if (seeding !== undefined) return seeding.waiting ? seeding.gate : undefined;
      const failed = failedAt.get(tenantId);
      if (failed !== undefined && now() - failed < retryMs) return undefined;
      return start(tenantId).gate;
    }
    return undefined;
  }

  return { before, stats: () => ({ ...counts }) };
}
