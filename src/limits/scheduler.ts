/**
 * Fair scheduling of each deployment's concurrency (DESIGN §4). A deployment serves at most
 * `capacity` upstream requests at once (the adaptive capacity when one is given); a request that
 * finds it full waits in its tenant's queue, and every freed slot goes to the waiting request
 * chosen below. In memory, per replica: with several replicas each schedules only its slice of
 * the capacity (`sliceOf`, replicas.ts), so the fleet together sends at most the capacity.
 * A slice that changes (a replica joined or left) applies at once through `reshare`: a larger
 * one dispatches waiting requests; a smaller one preempts nothing, new requests wait until the
 * slots in flight are back under it.
 *
 * Guaranteed share. A tenant is ACTIVE while it has a request waiting, and for `reserveIdleMs`
 * after its last request arrived or left the queue. Each active tenant t is guaranteed
 *
 *     g(t) = capacity × w(t) / W,   W = Σ w over active tenants
 *
 * concurrent slots, and its unused guarantee is reserved for it: reserve(t) = max(0, g(t) − in(t))
 * where in(t) is its requests in flight. A request of tenant u takes a free slot when
 *   (a) u is under its share: in(u) < g(u); or
 *   (b) u is at or over it (it borrows), and after taking the slot the free slots still cover
 *       every other active tenant's reserve:  free − 1 ≥ Σ_{t≠u} reserve(t).
 * So idle share is lent out (burst), but never a share its tenant wants: a quiet tenant under its
 * share finds its reserve free when it sends, and never waits behind a flood. Nothing is taken
 * back: slots borrowed before a tenant became active come back as the borrower's requests end,
 * and from then on the freed slots go to the tenant under its share. A tenant that goes quiet
 * for `reserveIdleMs` stops reserving, so its share is lent out again.
 *
 * Which waiting request gets a freed slot: among tenants whose head request may take it (rule
 * above), the smallest of (tier, class, virtual time):
 *   tier: tenants under their share first (the guarantee outranks everything else);
 *   class: interactive before batch;
 *   virtual time: start-time fair queuing (SFQ) by weight. Each tenant has a virtual clock; a
 *     tenant whose queue was empty joins at the deployment's virtual time (no credit saved while
 *     idle), and each request it is given advances its clock by 1 / weight. Over a busy period,
 *     tenants that keep waiting get dispatches in proportion to their weights.
 * Within a tenant, each class is FIFO.
 *
 * Cost: a free slot for a tenant under its share is O(1) with no promise (the hot path: one
 * slot object). Borrowing checks a bound first and sums the reserves of active tenants only when
 * the bound is not enough; dispatching a freed slot scans the tenants that have waiting requests.
 */
import { GatewayError } from '../errors.js';
import type { CancelSignal } from '../providers/cancel.js';
import type { AdaptiveCapacity, AdaptiveState } from './adaptive.js';

export type Priority = 'interactive' | 'batch';
export const PRIORITIES: readonly Priority[] = ['interactive', 'batch'];

export interface AcquireRequest {
  deploymentId: string;
  /** Configured capacity of the deployment: max concurrent upstream requests (fleet-wide). */
  capacity: number;
  tenantId: string;
  /** Fair-share weight (> 0), from the tenant's plan. */
  weight: number;
  priority: Priority;
  /** Aborting it while the request waits removes it from the queue. */
  signal: CancelSignal;
  queueTimeoutMs: number;
  /** Max requests of this tenant waiting for this deployment. */
  maxQueueDepth: number;
}

/** What the scheduler (and the adaptive capacity) learns from a finished request. */
export interface SlotOutcome {
  status: number;
  /** ms to the upstream's response headers; undefined when the upstream never answered. */
  upstreamMs: number | undefined;
}

export interface Slot {
  /** Gives the slot back; later calls do nothing. */
  release(outcome: SlotOutcome): void;
}

export interface TenantSchedulingStats {
  tenantId: string;
  weight: number;
  active: boolean;
  inFlight: number;
  queued: number;
  /** Guaranteed share in slots (fractional); 0 when inactive. */
  share: number;
}

export interface DeploymentSchedulingStats {
  deploymentId: string;
  configuredCapacity: number;
  /** This replica's slice of the configured capacity (= configured with one replica). */
  slice: number;
  /** Effective capacity (adaptive), ≤ slice. */
  capacity: number;
  inFlight: number;
  queued: number;
  activeTenants: number;
  activeWeight: number;
  tenants: TenantSchedulingStats[];
}

export interface Scheduler {
  /**
   * A slot at once when the deployment has one this tenant may take, else a promise of one.
   * Throws (or rejects with) a 429 GatewayError when the tenant's queue is full or the wait
   * exceeds queueTimeoutMs, and rejects with the signal's reason when it is aborted meanwhile.
   */
  acquire(req: AcquireRequest): Slot | Promise<Slot>;
  stats(deploymentId: string): DeploymentSchedulingStats | undefined;
  /** Deployments the scheduler has seen, for metrics. */
  deploymentIds(): string[];
  /** Re-reads every deployment's slice (membership changed) and dispatches into room it made. */
  reshare(): void;
}

export interface SchedulerOptions {
  /** Monotonic ms clock; timers (queue timeout, reserve expiry) use setTimeout. */
  now?: () => number;
  /** How long a tenant stays active (keeps its share reserved) after it last wanted a slot. */
  reserveIdleMs?: number;
  /** Adaptive capacity (within the slice); without it the slice is used as is. */
  adaptive?: AdaptiveCapacity;
  /**
   * This replica's part of a deployment's configured capacity (replicas.ts); without it, all of
   * it. Read when a deployment is first seen, when its capacity changes and on `reshare`.
   */
  sliceOf?: (deploymentId: string, capacity: number) => number;
}

const INTERACTIVE = 0;
const BATCH = 1;

interface Waiter {
  readonly tenant: TenantState;
  readonly klass: 0 | 1;
  /** Arrival order, the last tie-break. */
  readonly seq: number;
  readonly signal: CancelSignal;
  prev: Waiter | undefined;
  next: Waiter | undefined;
  resolve: (slot: Slot) => void;
  reject: (err: unknown) => void;
  timer: ReturnType<typeof setTimeout> | undefined;
  onAbort: () => void;
}

interface WaitQueue {
  head: Waiter | undefined;
  tail: Waiter | undefined;
}

interface TenantState {
  readonly id: string;
  weight: number;
  inFlight: number;
  queued: number;
  /** [interactive, batch], FIFO each. */
  readonly queues: [WaitQueue, WaitQueue];
  active: boolean;
  /** Last time a request of this tenant arrived or left the queue (or was still waiting). */
  lastWanted: number;
  /** Active list, ordered by lastWanted (oldest first). */
  prevActive: TenantState | undefined;
  nextActive: TenantState | undefined;
  /** SFQ virtual clock. */
  vt: number;
}

interface DeploymentState {
  readonly id: string;
  configured: number;
  /** This replica's part of `configured`; what adaptive capacity works within. */
  slice: number;
  adaptive: AdaptiveState | undefined;
  inFlight: number;
  queued: number;
  readonly tenants: Map<string, TenantState>;
  activeHead: TenantState | undefined;
  activeTail: TenantState | undefined;
  activeWeight: number;
  activeCount: number;
  /** Tenants with waiting requests. */
  readonly backlog: TenantState[];
  /** SFQ virtual time: the start tag of the last request dispatched from a queue. */
  vtime: number;
  /** Moving average of how long a slot is held, ms (for Retry-After). */
  avgHoldMs: number;
  wake: ReturnType<typeof setTimeout> | undefined;
  wakeAt: number;
}

class HeldSlot implements Slot {
  private released = false;
  constructor(
    private readonly owner: (slot: HeldSlot, outcome: SlotOutcome) => void,
    readonly dep: DeploymentState,
    readonly tenant: TenantState,
    readonly at: number,
  ) {}

  release(outcome: SlotOutcome): void {
    if (this.released) return;
    this.released = true;
    this.owner(this, outcome);
  }
}

const capacityOf = (dep: DeploymentState): number => (dep.adaptive === undefined ? dep.slice : dep.adaptive.effective);

/** in(t) < g(t), multiplied out by W (no division on the hot path). */
const underShare = (t: TenantState, cap: number, W: number): boolean => t.inFlight * W < cap * t.weight;

/** Σ over active tenants of reserve(t) × W. */
function scaledReserves(dep: DeploymentState, cap: number, W: number): number {
  let sum = 0;
  for (let t = dep.activeHead; t !== undefined; t = t.nextActive) {
    const r = cap * t.weight - t.inFlight * W;
    if (r > 0) sum += r;
  }
  return sum;
}

/**
 * Rule (b): may tenant u, at or over its share (so its own reserve is 0), borrow a slot when
 * `free` are free? `reserves` computes Σ reserve × W lazily: the bound Σ_{t≠u} g(t) often settles it.
 */
function mayBorrow(u: TenantState, free: number, cap: number, W: number, reserves: () => number): boolean {
  const left = (free - 1) * W;
  const slack = 1e-9 * cap * W; // weights need not be integers
  if (left + slack >= cap * (W - u.weight)) return true;
  return left + slack >= reserves();
}

function unlinkActive(dep: DeploymentState, t: TenantState): void {
  if (t.prevActive === undefined) dep.activeHead = t.nextActive;
  else t.prevActive.nextActive = t.nextActive;
  if (t.nextActive === undefined) dep.activeTail = t.prevActive;
  else t.nextActive.prevActive = t.prevActive;
  t.prevActive = undefined;
  t.nextActive = undefined;
}

function appendActive(dep: DeploymentState, t: TenantState): void {
  t.prevActive = dep.activeTail;
  t.nextActive = undefined;
  if (dep.activeTail === undefined) dep.activeHead = t;
  else dep.activeTail.nextActive = t;
  dep.activeTail = t;
}

function pushWaiter(q: WaitQueue, w: Waiter): void {
  w.prev = q.tail;
  if (q.tail === undefined) q.head = w;
  else q.tail.next = w;
  q.tail = w;
}

function unlinkWaiter(q: WaitQueue, w: Waiter): void {
  if (w.prev === undefined) q.head = w.next;
  else w.prev.next = w.next;
  if (w.next === undefined) q.tail = w.prev;
  else w.next.prev = w.prev;
  w.prev = undefined;
  w.next = undefined;
}

export function createScheduler(opts: SchedulerOptions = {}): Scheduler {
  const now = opts.now ?? (() => performance.now());
  const idleMs = opts.reserveIdleMs ?? 1000;
  const adaptive = opts.adaptive;
  const sliceOf = opts.sliceOf ?? ((_id: string, capacity: number) => capacity);
  const deployments = new Map<string, DeploymentState>();
  let seq = 0;

  function deploymentOf(id: string, configured: number): DeploymentState {
    let dep = deployments.get(id);
    if (dep === undefined) {
      const slice = sliceOf(id, configured);
      dep = {
        id,
        configured,
        slice,
        adaptive: adaptive?.track(id, slice),
        inFlight: 0,
        queued: 0,
        tenants: new Map(),
        activeHead: undefined,
        activeTail: undefined,
        activeWeight: 0,
        activeCount: 0,
        backlog: [],
        vtime: 0,
        avgHoldMs: 0,
        wake: undefined,
        wakeAt: 0,
      };
      deployments.set(id, dep);
    } else if (dep.configured !== configured) {
      // New configuration: slots in flight stay counted, so nothing is lost or doubled.
      dep.configured = configured;
      resize(dep, sliceOf(id, configured));
    }
    return dep;
  }

  /** A new slice; adaptive capacity follows it (a throttled deployment stays throttled). */
  function resize(dep: DeploymentState, slice: number): boolean {
    if (dep.slice === slice) return false;
    dep.slice = slice;
    dep.adaptive = adaptive?.track(dep.id, slice);
    return true;
  }

  function tenantOf(dep: DeploymentState, id: string, weight: number): TenantState {
    let t = dep.tenants.get(id);
    if (t === undefined) {
      t = {
        id,
        weight,
        inFlight: 0,
        queued: 0,
        queues: [
          { head: undefined, tail: undefined },
          { head: undefined, tail: undefined },
        ],
        active: false,
        lastWanted: 0,
        prevActive: undefined,
        nextActive: undefined,
        vt: 0,
      };
      dep.tenants.set(id, t);
    }
    return t;
  }

  /** The tenant wants capacity at `at`: active from now on, its share reserved. */
  function touch(dep: DeploymentState, t: TenantState, weight: number, at: number): void {
    if (t.active) {
      if (t.weight !== weight) dep.activeWeight += weight - t.weight;
      unlinkActive(dep, t);
    } else {
      t.active = true;
      dep.activeWeight += weight;
      dep.activeCount += 1;
    }
    t.weight = weight;
    t.lastWanted = at;
    appendActive(dep, t);
  }

  /** Ends the activity of tenants idle for reserveIdleMs; a tenant still waiting stays active. */
  function expire(dep: DeploymentState, at: number): void {
    // Bounded by the count: with reserveIdleMs 0 a re-appended waiting tenant is expired again.
    for (let n = dep.activeCount; n > 0; n -= 1) {
      const t = dep.activeHead;
      if (t === undefined || at - t.lastWanted < idleMs) return;
      unlinkActive(dep, t);
      if (t.queued > 0) {
        t.lastWanted = at;
        appendActive(dep, t);
        continue;
      }
      t.active = false;
      dep.activeCount -= 1;
      dep.activeWeight = dep.activeCount === 0 ? 0 : dep.activeWeight - t.weight;
      if (t.inFlight === 0) dep.tenants.delete(t.id);
    }
  }

  function grant(dep: DeploymentState, t: TenantState, at: number): HeldSlot {
    dep.inFlight += 1;
    t.inFlight += 1;
    return new HeldSlot(release, dep, t, at);
  }

  function release(slot: HeldSlot, outcome: SlotOutcome): void {
    const { dep, tenant: t } = slot;
    const at = now();
    dep.inFlight -= 1;
    t.inFlight -= 1;
    const held = at - slot.at;
    dep.avgHoldMs = dep.avgHoldMs === 0 ? held : dep.avgHoldMs + 0.1 * (held - dep.avgHoldMs);
    if (dep.adaptive !== undefined) adaptive?.observe(dep.adaptive, outcome);
    if (t.inFlight === 0 && !t.active && t.queued === 0) dep.tenants.delete(t.id);
    if (dep.queued > 0) dispatch(dep, at);
  }

  /** Rule (a) or (b) for the tenant's next request, given the slots free now. */
  function mayTake(dep: DeploymentState, t: TenantState): boolean {
    const cap = capacityOf(dep);
    const free = cap - dep.inFlight;
    if (free <= 0) return false;
    const W = dep.activeWeight;
    if (underShare(t, cap, W)) return true;
    return mayBorrow(t, free, cap, W, () => scaledReserves(dep, cap, W));
  }

  /** The waiting request that gets the next free slot, or undefined if none may take it. */
  function choose(dep: DeploymentState): Waiter | undefined {
    const cap = capacityOf(dep);
    const free = cap - dep.inFlight;
    if (free <= 0) return undefined;
    const W = dep.activeWeight;
    let reserves: number | undefined;
    const lazyReserves = () => (reserves ??= scaledReserves(dep, cap, W));
    let best: Waiter | undefined;
    let bestTier = 2;
    for (const t of dep.backlog) {
      const head = t.queues[INTERACTIVE].head ?? t.queues[BATCH].head;
      if (head === undefined) continue;
      const tier = underShare(t, cap, W) ? 0 : 1;
      if (tier === 1 && !mayBorrow(t, free, cap, W, lazyReserves)) continue;
      if (
        best === undefined ||
        tier < bestTier ||
        (tier === bestTier &&
          (head.klass < best.klass ||
            (head.klass === best.klass && (t.vt < best.tenant.vt || (t.vt === best.tenant.vt && head.seq < best.seq)))))
      ) {
        best = head;
        bestTier = tier;
      }
    }
    return best;
  }

  /** Takes a waiter out of its queue (granted, timed out or aborted). */
  function dequeue(dep: DeploymentState, w: Waiter): void {
    const t = w.tenant;
    unlinkWaiter(t.queues[w.klass], w);
    t.queued -= 1;
    dep.queued -= 1;
    if (t.queued === 0) {
      const i = dep.backlog.indexOf(t);
      if (i !== -1) dep.backlog.splice(i, 1);
    }
    if (w.timer !== undefined) clearTimeout(w.timer);
    w.signal.removeEventListener('abort', w.onAbort);
  }

  function dispatch(dep: DeploymentState, at: number): void {
    expire(dep, at);
    serve(dep, at);
  }

  /** Gives free slots to waiting requests, in order, while any of them may take one. */
  function serve(dep: DeploymentState, at: number): void {
    while (dep.queued > 0) {
      const w = choose(dep);
      if (w === undefined) break;
      const t = w.tenant;
      dequeue(dep, w);
      dep.vtime = t.vt;
      t.vt += 1 / t.weight;
      touch(dep, t, t.weight, at);
      w.resolve(grant(dep, t, at));
    }
    if (dep.queued > 0 && dep.inFlight < capacityOf(dep)) scheduleWake(dep);
  }

  /**
   * Free slots but nobody may take them: they are reserved for active tenants that are not
   * sending. Look again when the oldest of those stops being active.
   */
  function scheduleWake(dep: DeploymentState): void {
    let t = dep.activeHead;
    while (t !== undefined && t.queued > 0) t = t.nextActive;
    if (t === undefined) return;
    const at = t.lastWanted + idleMs;
    if (dep.wake !== undefined) {
      if (dep.wakeAt <= at) return;
      clearTimeout(dep.wake);
    }
    dep.wakeAt = at;
    dep.wake = setTimeout(
      () => {
        dep.wake = undefined;
        dispatch(dep, now());
      },
      Math.max(0, Math.ceil(at - now())),
    );
    dep.wake.unref?.(); // waiting requests keep the server busy; this timer alone must not
  }

  /** Seconds until this tenant's queue has likely moved: its queue at its share's pace. */
  function retryAfter(dep: DeploymentState, t: TenantState): string {
    const cap = capacityOf(dep);
    const W = dep.activeWeight > 0 ? dep.activeWeight : t.weight;
    const slots = Math.max(1, Math.floor((cap * t.weight) / W));
    const ms = (dep.avgHoldMs * (t.queued + 1)) / slots;
    return String(Math.min(60, Math.max(1, Math.ceil(ms / 1000))));
  }

  function enqueue(dep: DeploymentState, t: TenantState, req: AcquireRequest): Promise<Slot> {
    if (t.queued >= req.maxQueueDepth) {
      throw new GatewayError(
        'rate_limit_exceeded',
        `Too many requests waiting: this tenant's queue for this model is full (${req.maxQueueDepth} waiting). Retry later.`,
        { headers: { 'retry-after': retryAfter(dep, t) } },
      );
    }
    const signal = req.signal;
    if (signal.aborted) throw signal.reason ?? new Error('aborted');
    return new Promise<Slot>((resolve, reject) => {
      const w: Waiter = {
        tenant: t,
        klass: req.priority === 'batch' ? BATCH : INTERACTIVE,
        seq: (seq += 1),
        signal,
        prev: undefined,
        next: undefined,
        resolve,
        reject,
        timer: undefined,
        onAbort: () => {
          dequeue(dep, w);
          touch(dep, t, t.weight, now());
          reject(signal.reason ?? new Error('aborted'));
        },
      };
      pushWaiter(t.queues[w.klass], w);
      t.queued += 1;
      dep.queued += 1;
      if (t.queued === 1) {
        // Joins at the current virtual time: no credit saved up while it was not waiting.
        if (t.vt < dep.vtime) t.vt = dep.vtime;
        dep.backlog.push(t);
      }
      w.timer = setTimeout(() => {
        dequeue(dep, w);
        touch(dep, t, t.weight, now());
        reject(
          new GatewayError(
            'rate_limit_exceeded',
            `The request waited ${req.queueTimeoutMs} ms in this tenant's queue for this model without getting a slot. Retry later.`,
            { headers: { 'retry-after': retryAfter(dep, t) } },
          ),
        );
      }, req.queueTimeoutMs);
      signal.addEventListener('abort', w.onAbort, { once: true });
      if (dep.inFlight < capacityOf(dep)) scheduleWake(dep);
    });
  }

  return {
    acquire(req) {
      const at = now();
      const weight = req.weight > 0 ? req.weight : 1;
      const dep = deploymentOf(req.deploymentId, req.capacity);
      // Expire before looking up the tenant: expiry drops the state of idle tenants, and this
      // request's tenant must keep one state object (its counts) until it is granted or queued.
      expire(dep, at);
      const t = tenantOf(dep, req.tenantId, weight);
      touch(dep, t, weight, at);
      // Waiters first: expiries since the last look, or a larger capacity, may let them in.
      if (dep.queued > 0) serve(dep, at);
      if (t.queued === 0 && mayTake(dep, t)) return grant(dep, t, at);
      return enqueue(dep, t, req);
    },

    stats(deploymentId) {
      const dep = deployments.get(deploymentId);
      if (dep === undefined) return undefined;
      expire(dep, now());
      const cap = capacityOf(dep);
      return {
        deploymentId,
        configuredCapacity: dep.configured,
        slice: dep.slice,
        capacity: cap,
        inFlight: dep.inFlight,
        queued: dep.queued,
        activeTenants: dep.activeCount,
        activeWeight: dep.activeWeight,
        tenants: [...dep.tenants.values()].map((t) => ({
          tenantId: t.id,
          weight: t.weight,
          active: t.active,
          inFlight: t.inFlight,
          queued: t.queued,
          share: t.active && dep.activeWeight > 0 ? (cap * t.weight) / dep.activeWeight : 0,
        })),
      };
    },

    deploymentIds() {
      return [...deployments.keys()];
    },

    reshare() {
      const at = now();
      for (const dep of deployments.values()) {
        // Shrunk: nothing is preempted; choose() finds no free slot until enough are released.
        if (resize(dep, sliceOf(dep.id, dep.configured)) && dep.queued > 0) dispatch(dep, at);
      }
    },
  };
}
