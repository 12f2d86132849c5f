/**
 * A string-keyed map for the snapshot's large indexes (100,000 keys) that can be changed without
 * copying it: entries live in 256 shards, and an edit copies only the shards it writes to, so a
 * new snapshot shares every untouched shard with the one requests are reading. The old map is
 * never modified, which is what lets the request path hold one consistent snapshot while the
 * refresher patches a tenant's entries (src/tenancy/snapshot-patch.ts). Copying one whole
 * 100,000-entry Map costs 20-130 ms on this machine; a shard holds ~400 entries at that size.
 */

const SHARD_BITS = 8;
const SHARDS = 1 << SHARD_BITS;
const MASK = SHARDS - 1;

/**
 * The shard of a key, from four characters (first, middle, last two) rather than all of them: a
 * full FNV over a 36-character id cost ~150 ns per lookup here, this a few. Ids and key prefixes
 * are random in those places; a poor spread (host names sharing a long suffix) only makes a
 * patch copy larger shards, it never changes an answer.
 */
export function shardOf(key: string): number {
  const n = key.length;
  if (n === 0) return 0;
  const h = key.charCodeAt(0) + 31 * key.charCodeAt(n - 1) + 961 * key.charCodeAt(n > 1 ? n - 2 : 0) + 29_791 * key.charCodeAt(n >> 1);
  return (h ^ (h >>> SHARD_BITS) ^ (h >>> (2 * SHARD_BITS))) & MASK;
}

type Shards<V> = readonly (ReadonlyMap<string, V> | undefined)[];

/** Read like a ReadonlyMap (get, has, size, iteration); changed only through edit(). */
export class CowMap<V> {
  static empty<V>(): CowMap<V> {
    return new CowMap<V>(new Array<undefined>(SHARDS).fill(undefined), 0);
  }

  static from<V>(entries: Iterable<readonly [string, V]>): CowMap<V> {
    const draft = CowMap.empty<V>().edit();
    for (const [k, v] of entries) draft.set(k, v);
    return draft.done();
  }

  private constructor(
    private readonly shards: Shards<V>,
    readonly size: number,
  ) {}

  get(key: string): V | undefined {
    // Most of the sparse indexes (allow-lists, revoked keys) are empty: no hashing then.
    if (this.size === 0) return undefined;
    return this.shards[shardOf(key)]?.get(key);
  }

  has(key: string): boolean {
    if (this.size === 0) return false;
    return this.shards[shardOf(key)]?.has(key) ?? false;
  }

  *entries(): IterableIterator<[string, V]> {
    for (const shard of this.shards) if (shard !== undefined) yield* shard.entries();
  }

  *keys(): IterableIterator<string> {
    for (const shard of this.shards) if (shard !== undefined) yield* shard.keys();
  }

  *values(): IterableIterator<V> {
    for (const shard of this.shards) if (shard !== undefined) yield* shard.values();
  }

  [Symbol.iterator](): IterableIterator<[string, V]> {
    return this.entries();
  }

  /** A draft sharing every shard with this map; its first write to a shard copies that shard. */
  edit(): CowDraft<V> {
    return new CowDraft<V>(this.shards, this.size);
  }

  /** @internal for CowDraft: wraps shards that nobody will write to any more. */
  static seal<V>(shards: Shards<V>, size: number): CowMap<V> {
    return new CowMap<V>(shards, size);
  }
}

/**
 * Changes to a CowMap that become a new CowMap with done(). The draft writes in place to the
 * shards it copied, so building 100,000 entries through one draft copies nothing.
 */
export class CowDraft<V> {
  private readonly shards: (ReadonlyMap<string, V> | undefined)[];
  /** 1 for the shards this draft copied (and so may write to in place). */
  private readonly owned = new Uint8Array(SHARDS);
  private finished = false;

  constructor(
    base: Shards<V>,
    private count: number,
  ) {
    this.shards = [...base];
  }

  get size(): number {
    return this.count;
  }

  get(key: string): V | undefined {
    return this.shards[shardOf(key)]?.get(key);
  }

  has(key: string): boolean {
    return this.shards[shardOf(key)]?.has(key) ?? false;
  }

  *values(): IterableIterator<V> {
    for (const shard of this.shards) if (shard !== undefined) yield* shard.values();
  }

  set(key: string, value: V): this {
    const shard = this.writable(shardOf(key));
    const before = shard.size;
    shard.set(key, value);
    this.count += shard.size - before;
    return this;
  }

  delete(key: string): boolean {
    const i = shardOf(key);
    if (!(this.shards[i]?.has(key) ?? false)) return false;
    this.writable(i).delete(key);
    this.count -= 1;
    return true;
  }

  /** The new map. The draft is spent: its shards are shared from now on. */
  done(): CowMap<V> {
    if (this.finished) throw new Error('this draft was already turned into a map');
    this.finished = true;
    // An emptied shard is dropped, so iteration and memory do not keep it.
    for (let i = 0; i < SHARDS; i++) if (this.owned[i] === 1 && this.shards[i]?.size === 0) this.shards[i] = undefined;
    return CowMap.seal(this.shards, this.count);
  }

  private writable(i: number): Map<string, V> {
    if (this.finished) throw new Error('this draft was already turned into a map');
    const shard = this.shards[i];
    if (this.owned[i] === 1) return shard as Map<string, V>;
    const copy = new Map<string, V>(shard);
    this.shards[i] = copy;
    this.owned[i] = 1;
    return copy;
  }
}
