/**
 * The undici pools every adapter sends through, and the one place where a deployment's
 * connect-time address rules (`Deployment.outbound`, src/routing/ssrf.ts) are applied. Adapters
 * ask for a deployment's slot with `forDeployment`, so none of them can open a connection to a
 * tenant-set address without the guard: the guard's `lookup` resolves the name, checks every
 * address and hands the socket exactly the checked one (DNS rebinding fails), and an IP-literal
 * host, for which Node does no lookup, is checked here before a pool is made.
 */
import { Pool } from 'undici';
import { GatewayError } from '../errors.js';
import type { Deployment, OutboundGuard } from './types.js';

export interface PoolSlot {
  pool: Pool;
  connections: number;
}

/**
 * One undici Pool per origin (and guard), created lazily, keep-alive on (undici's default). A
 * pool cannot be resized, so when a deployment with a larger capacity appears the slot gets a
 * larger pool and the old one drains its in-flight requests and closes.
 */
export class PoolRegistry {
  private readonly slots = new Map<string, PoolSlot>();

  /**
   * The slot a deployment's requests go through. `baseUrl` is the URL actually called, when the
   * adapter fills in a default for an empty `d.baseUrl`. Throws `upstream_unavailable` when the
   * deployment is guarded and its host is an IP literal the rules refuse.
   */
  forDeployment(d: Deployment, baseUrl: string = d.baseUrl): PoolSlot {
    const refused = d.outbound?.refuses(baseUrl);
    if (refused !== undefined) throw new GatewayError('upstream_unavailable', `Deployment ${d.id} is not reachable: its base URL ${refused}.`);
    return this.slot(new URL(baseUrl).origin, Math.max(1, d.capacity), d.timeoutMs, d.outbound);
  }

  slot(origin: string, connections: number, connectTimeoutMs: number, guard?: OutboundGuard): PoolSlot {
    // A guarded pool resolves through the guard: never shared with a trusted deployment's pool,
    // whose kept-alive connections were opened without the check.
    const key = guard === undefined ? origin : `${origin}#${guard.id}`;
    const slot = this.slots.get(key);
    if (slot !== undefined && slot.connections >= connections) return slot;
    // Bounded by the deployment timeout so a black-holed host fails about as fast as a slow one.
    const timeout = Math.min(connectTimeoutMs, 10_000);
    const pool = new Pool(origin, {
      connections,
      pipelining: 1,
      connect: guard === undefined ? { timeout } : { timeout, lookup: guard.lookup },
    });
    if (slot === undefined) {
      const created = { pool, connections };
      this.slots.set(key, created);
      return created;
    }
    const old = slot.pool;
    slot.pool = pool;
    slot.connections = connections;
    old.close().catch(() => undefined);
    return slot;
  }

  /** Lets in-flight requests finish for up to `graceMs`, then cuts what is left. */
  async close(graceMs = 5_000): Promise<void> {
    const slots = [...this.slots.values()];
    this.slots.clear();
    await Promise.all(slots.map((s) => closePool(s.pool, graceMs)));
  }
}

async function closePool(pool: Pool, graceMs: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<'late'>((resolve) => {
    timer = setTimeout(resolve, graceMs, 'late');
  });
  const outcome = await Promise.race([pool.close().then(() => 'closed' as const, () => 'late' as const), late]);
  clearTimeout(timer);
  if (outcome === 'late') await pool.destroy().catch(() => undefined);
}
