/**
 * Usage event ids are UUIDv7 (RFC 9562 §5.7): 48 bits of Unix milliseconds, then 74 random bits.
 * Time-ordered ids make the usage table's unique index (tenant, event id, time) grow at its
 * right edge, so ingest touches a few hot index pages instead of random ones across the whole
 * index: with random ids every page of the index is in the working set, which on the embedded
 * store's small buffer pool meant re-reading it. The random part keeps ids unguessable and
 * unique across replicas; ids only need to be unique, so two in one millisecond need no order.
 */
import { randomFillSync } from 'node:crypto';

const POOL_IDS = 256;
const RANDOM_BYTES = 10;
const pool = Buffer.allocUnsafe(POOL_IDS * RANDOM_BYTES);
let next = POOL_IDS;

const VARIANT = '89ab';
let lastMs = -1;
let prefix = '';

/** A UUIDv7 for the instant `ms` (epoch milliseconds). */
export function uuidV7(ms: number): string {
  if (ms !== lastMs) {
    lastMs = ms;
    const t = Math.max(0, Math.floor(ms)).toString(16).padStart(12, '0').slice(-12);
    prefix = `${t.slice(0, 8)}-${t.slice(8, 12)}-7`;
  }
  if (next === POOL_IDS) {
    randomFillSync(pool);
    next = 0;
  }
  const r = next++ * RANDOM_BYTES;
  // 20 random hex digits: 3 after the version digit, the variant digit (2 random bits), 15 more.
  const h = pool.toString('hex', r, r + RANDOM_BYTES);
  return `${prefix}${h.slice(0, 3)}-${VARIANT[parseInt(h[3] as string, 16) & 3] as string}${h.slice(4, 7)}-${h.slice(7, 19)}`;
}
