/**
 * Shared circuit breakers as two replicas see them (src/routing/shared-breakers.ts): two breaker
 * sets, each with its own fleet client, on one fleet (Redis, or its in-process double). Real
 * time with short cool-downs; margins are generous for a busy machine.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { Logger } from '../../../src/observability/logger.js';
import { createRouter } from '../../../src/routing/router.js';
import type { BreakerTransition } from '../../../src/routing/breaker.js';
import { createSharedBreakers, type BreakerFleet, type SharedBreakerSet } from '../../../src/routing/shared-breakers.js';
import { DEFAULT_ROUTING, type BreakerPolicy } from '../../../src/routing/types.js';
import { makeDeployment } from '../../unit/pipeline/fixtures.js';

export interface FleetFactory {
  label: string;
  skip?: boolean;
  /** Two clients of one fresh fleet. */
  pair(): Promise<[BreakerFleet, BreakerFleet]>;
  /** A client that cannot reach its fleet; `heal` (when it can) makes it reachable, on the same fleet as `pair`'s. */
  unreachable(): Promise<{ fleet: BreakerFleet; heal?: () => void; other?: BreakerFleet }>;
}

const POLICY: BreakerPolicy = { consecutiveFailures: 2, failureRate: 0.5, minRequests: 100, windowMs: 5_000, openMs: 300, maxOpenMs: 1_200 };

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function until(cond: () => boolean, timeoutMs: number): Promise<number> {
  const started = performance.now();
  while (!cond()) {
    if (performance.now() - started > timeoutMs) throw new Error(`not within ${timeoutMs} ms`);
    await sleep(10);
  }
  return performance.now() - started;
}

/** A logger that keeps its messages. */
function capture(): { warn: string[]; info: string[]; logger: Pick<Logger, 'warn' | 'info'> } {
  const warn: string[] = [];
  const info: string[] = [];
  const line = (o: unknown, m?: string): string => (typeof o === 'string' ? o : (m ?? ''));
  const logger = { warn: (o: unknown, m?: string) => void warn.push(line(o, m)), info: (o: unknown, m?: string) => void info.push(line(o, m)) };
  return { warn, info, logger: logger as unknown as Pick<Logger, 'warn' | 'info'> };
}

export function sharedBreakersContract(factory: FleetFactory): void {
  describe.skipIf(factory.skip === true)(`shared circuit breakers [${factory.label}]`, () => {
    const open: SharedBreakerSet[] = [];
    afterEach(async () => {
      await Promise.all(open.splice(0).map((s) => s.close()));
    });

    async function replicas(syncMs = 50, policy = POLICY): Promise<{ a: SharedBreakerSet; b: SharedBreakerSet; seenByB: BreakerTransition[] }> {
      const [fa, fb] = await factory.pair();
      const seenByB: BreakerTransition[] = [];
      const a = createSharedBreakers({ policy, fleet: fa, syncMs });
      const b = createSharedBreakers({ policy, fleet: fb, syncMs, onChange: (t) => seenByB.push(t) });
      open.push(a, b);
      await Promise.all([a.start(), b.start()]);
      return { a, b, seenByB };
    }

    async function tripped(a: SharedBreakerSet, b: SharedBreakerSet, id = 'd'): Promise<void> {
      a.get(id).failure();
      a.get(id).failure();
      expect(a.get(id).state()).toBe('open');
      await until(() => b.find(id)?.state() === 'open', 2_000);
    }

    it("one replica's trip is seen by the other within a second, with the cool-down left", async () => {
      const { a, b, seenByB } = await replicas(500, { ...POLICY, openMs: 5_000, maxOpenMs: 10_000 }); // the default sync interval
      a.get('d').failure();
      expect(b.find('d')).toBeUndefined();
      a.get('d').failure();
      const ms = await until(() => b.find('d')?.state() === 'open', 2_000);
      console.log(`[${factory.label}] a trip reached the other replica in ${ms.toFixed(0)} ms`);
      expect(ms).toBeLessThan(1_000);
      expect(b.get('d').available()).toBe(false);
      expect(b.get('d').retryInMs()).toBeLessThanOrEqual(5_000);
      expect(b.get('d').retryInMs()).toBeGreaterThan(5_000 - ms - 500);
      expect(seenByB).toContainEqual({ deploymentId: 'd', from: 'closed', to: 'open' });
    });

    it('after the cool-down exactly one replica in the fleet gets the probe; its success closes the breaker everywhere', async () => {
      const { a, b } = await replicas();
      await tripped(a, b);
      await sleep(POLICY.openMs + 50);
      expect([a.get('d').state(), b.get('d').state()]).toEqual(['half-open', 'half-open']);
      // Half-open and shared: nobody may send until it has won the fleet's probe.
      expect(a.get('d').available()).toBe(false);
      await Promise.all([a.get('d').claim?.(), b.get('d').claim?.()]);
      const winners = [a, b].filter((s) => s.get('d').tryAcquire());
      expect(winners).toHaveLength(1);
      const winner = winners[0] as SharedBreakerSet;
      const loser = winner === a ? b : a;
      expect(loser.get('d').available()).toBe(false);
      expect(loser.get('d').tryAcquire()).toBe(false);
      expect(winner.get('d').tryAcquire()).toBe(false); // one probe, not one per request

      winner.get('d').success();
      expect(winner.get('d').state()).toBe('closed');
      await until(() => loser.find('d')?.state() === 'closed', 2_000);
      expect(loser.get('d').tryAcquire()).toBe(true);
    });

    it('a failed probe re-opens the breaker everywhere with the cool-down doubled', async () => {
      const { a, b } = await replicas();
      await tripped(a, b);
      await sleep(POLICY.openMs + 50);
      await a.get('d').claim?.();
      expect(a.get('d').tryAcquire()).toBe(true);
      a.get('d').failure();
      expect(a.get('d').state()).toBe('open');
      expect(a.get('d').retryInMs()).toBeGreaterThan(POLICY.openMs);
      expect(a.get('d').retryInMs()).toBeLessThanOrEqual(2 * POLICY.openMs);
      await until(() => b.find('d')?.state() === 'open', 2_000);
      expect(b.get('d').retryInMs()).toBeGreaterThan(POLICY.openMs - 100);
    });

    it('a probe lease won but never used goes back to the fleet, and another replica gets it', async () => {
      const { a, b } = await replicas();
      await tripped(a, b);
      await sleep(POLICY.openMs + 50);
      await a.get('d').claim?.(); // a wins and has no request to send
      await b.get('d').claim?.();
      expect(b.get('d').tryAcquire()).toBe(false);
      const ms = await until(() => {
        void b.get('d').claim?.();
        return b.get('d').available();
      }, 4_000);
      expect(ms).toBeLessThan(3_000);
      expect(b.get('d').tryAcquire()).toBe(true);
      expect(a.get('d').tryAcquire()).toBe(false);
    });

    it('in half-open, only the probe closes it: a request sent before the trip that succeeds late does not', async () => {
      const { a, b } = await replicas();
      await tripped(a, b);
      await sleep(POLICY.openMs + 50);
      b.get('d').success(); // a straggler on b
      expect(b.get('d').state()).toBe('half-open');
      await b.sync();
      expect(b.get('d').state()).toBe('half-open');
    });

    it('a router waits for the claim when every deployment is half-open, and the winner sends the probe', async () => {
      const { a, b } = await replicas();
      const d = makeDeployment('m', { id: 'd' });
      await tripped(a, b);
      await sleep(POLICY.openMs + 50);
      const routerA = createRouter({ config: { ...DEFAULT_ROUTING, breaker: POLICY }, breakers: a });
      const routerB = createRouter({ config: { ...DEFAULT_ROUTING, breaker: POLICY }, breakers: b });
      const [pa, pb] = [routerA.pick('m', [d]), routerB.pick('m', [d])];
      expect(pa.deployment).toBeUndefined();
      expect(pa.claiming).toBeInstanceOf(Promise);
      await Promise.all([pa.claiming, pb.claiming]);
      const picks = [routerA.pick('m', [d]), routerB.pick('m', [d])];
      expect(picks.filter((p) => p.deployment !== undefined)).toHaveLength(1);
      const loser = picks.find((p) => p.deployment === undefined);
      expect(loser?.unavailableMs).toBeGreaterThan(0);
    });

    it('an unreachable fleet leaves each replica its own breakers, logged once', async () => {
      const { fleet, heal, other } = await factory.unreachable();
      const log = capture();
      const alone = createSharedBreakers({ policy: POLICY, fleet, syncMs: 50, logger: log.logger });
      open.push(alone);
      await alone.start(300);
      expect(alone.fleetState()).toBe('down');
      expect(log.warn.filter((m) => m.includes('unreachable'))).toHaveLength(1);
      alone.get('d').failure();
      alone.get('d').failure();
      expect(alone.get('d').state()).toBe('open');
      await sleep(POLICY.openMs + 50);
      // The local breaker's own probe, no fleet to ask.
      expect(alone.get('d').claim?.()).toBeUndefined();
      expect(alone.get('d').tryAcquire()).toBe(true);
      alone.get('d').failure(); // the probe failed: open again, locally
      expect(alone.get('d').state()).toBe('open');
      await sleep(200);
      expect(log.warn.filter((m) => m.includes('unreachable'))).toHaveLength(1);
      if (heal === undefined || other === undefined) return;

      // Back: the trip made alone goes to the fleet, and the others see it.
      heal();
      await until(() => alone.fleetState() === 'up', 2_000);
      expect(log.info.some((m) => m.includes('answers again'))).toBe(true);
      const peer = createSharedBreakers({ policy: POLICY, fleet: other, syncMs: 50 });
      open.push(peer);
      await peer.start();
      await until(() => peer.find('d')?.state() === 'open', 2_000);
    });
  });
}
