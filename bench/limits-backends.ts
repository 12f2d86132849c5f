/**
 * Micro-benchmark of the limit backends: reserve + settle of the 4 charges a typical request
 * carries (requests/minute and tokens/minute buckets, a daily cost window, a concurrency cap).
 * Not wired into `npm run bench` yet; call benchLimits() from there, or run this file after a
 * build: `node dist/bench/limits-backends.js`.
 *
 * memory: ns per reserve+settle, best of many short batches (robust on a busy machine).
 * Redis: µs per request as admission sees it: the reserve is awaited (its one round trip), the
 * settle is sent without waiting, as the gateway does; NaN when Redis is unreachable.
 */
import { randomUUID } from 'node:crypto';
import { pathToFileURL } from 'node:url';
import { Redis } from 'ioredis';
import { createMemoryBackend } from '../src/limits/memory-backend.js';
import { createRedisBackend } from '../src/limits/redis-backend.js';
import type { Charge } from '../src/limits/types.js';

export interface LimitsBenchResult {
  memoryNsPerReserve: number;
  redisUsPerReserve: number;
  /** A sequential PING on the same machine: the round trip a reserve cannot beat. */
  redisPingUs: number;
}

function charges(tenant: string): Charge[] {
  return [
    { kind: 'bucket', key: `gh:{${tenant}}:rpm:key:k1`, limit: 1e9, burst: 1e9, periodMs: 60_000, amount: 1 },
    { kind: 'bucket', key: `gh:{${tenant}}:tpm:key:k1`, limit: 1e12, burst: 1e12, periodMs: 60_000, amount: 900 },
    { kind: 'window', key: `gh:{${tenant}}:cost:tenant:d:2026-11-23`, limit: 1e15, resetAt: Date.now() + 86_400_000, amount: 5_000 },
    { kind: 'concurrency', key: `gh:{${tenant}}:conc:tenant`, limit: 1e6, amount: 1 },
  ];
}
const USED = [1, 700, 4_000, 1];

function benchMemory(batches: number, perBatch: number): number {
  const backend = createMemoryBackend();
  const c = charges('bench');
  let seq = 0;
  const run = (n: number) => {
    for (let i = 0; i < n; i++) {
      const id = `req-${seq++}`;
      if (!backend.reserve(id, c, 60_000).ok) throw new Error('limits bench: refused');
      backend.settle(id, c, USED);
    }
  };
  run(20_000);
  let best = Infinity;
  for (let b = 0; b < batches; b++) {
    const start = process.hrtime.bigint();
    run(perBatch);
    best = Math.min(best, Number(process.hrtime.bigint() - start) / perBatch);
  }
  return best;
}

async function benchPing(url: string, iterations: number): Promise<number> {
  const client = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 0 });
  try {
    await client.connect();
    for (let i = 0; i < 200; i++) await client.ping();
    const start = process.hrtime.bigint();
    for (let i = 0; i < iterations; i++) await client.ping();
    return Number(process.hrtime.bigint() - start) / iterations / 1_000;
  } catch {
    return Number.NaN;
  } finally {
    client.disconnect();
  }
}

async function benchRedis(url: string, iterations: number): Promise<number> {
  const prefix = `gh-bench-${randomUUID().slice(0, 8)}:`;
  const backend = createRedisBackend({ url, keyPrefix: prefix, commandTimeoutMs: 5_000 });
  try {
    await backend.ready();
  } catch {
    await backend.close();
    return Number.NaN;
  }
  const c = charges(randomUUID());
  const settles: Promise<void>[] = [];
  const once = async (i: number) => {
    const id = `req-${i}`;
    if (!(await backend.reserve(id, c, 60_000)).ok) throw new Error('limits bench: refused');
    settles.push(backend.settle(id, c, USED));
  };
  for (let i = 0; i < 200; i++) await once(i);
  const start = process.hrtime.bigint();
  for (let i = 0; i < iterations; i++) await once(1_000 + i);
  const us = Number(process.hrtime.bigint() - start) / iterations / 1_000;
  await Promise.all(settles);
  await backend.close();
  const admin = new Redis(url);
  try {
    const keys = await admin.keys(`${prefix}*`);
    if (keys.length > 0) await admin.del(...keys);
  } finally {
    await admin.quit();
  }
  return us;
}

export async function benchLimits(
  opts: { redisUrl?: string; memoryBatches?: number; redisIterations?: number } = {},
): Promise<LimitsBenchResult> {
  const memoryNsPerReserve = benchMemory(opts.memoryBatches ?? 100, 2_000);
  const url = opts.redisUrl ?? process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
  const redisPingUs = await benchPing(url, opts.redisIterations ?? 2_000);
  const redisUsPerReserve = await benchRedis(url, opts.redisIterations ?? 2_000);
  return { memoryNsPerReserve, redisUsPerReserve, redisPingUs };
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const r = await benchLimits();
  process.stdout.write(
    `limits: memory ${r.memoryNsPerReserve.toFixed(0)} ns per reserve+settle (4 charges); ` +
      `Redis ${r.redisUsPerReserve.toFixed(1)} µs per reserve (settle not awaited; a PING takes ${r.redisPingUs.toFixed(1)} µs)\n`,
  );
}
