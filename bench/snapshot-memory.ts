/**
 * DESIGN §9 "10,000 tenants and 100,000 keys": what the hot-path snapshot costs in memory and
 * time, and whether key lookup stays flat as keys grow. See bench/README.md, "Snapshot memory".
 *
 *   npm run build && node --expose-gc dist/bench/snapshot-memory.js [--tenants N] [--keys N] [--no-gateway] [--no-throughput]
 *
 * 1. In process: key records shaped exactly as the store's snapshot query hands them over
 *    (fresh strings, a Buffer per hash), made lean as the loader makes them, then buildSnapshot;
 *    heap, external and RSS deltas after a forced GC, the build time, the time to patch one
 *    tenant into the 100,000-key snapshot, and the peak while a full reload (page by page,
 *    reusing unchanged records) holds the old and the new snapshot at once.
 * 2. The authenticate stage (keyed hash + map lookup) on that snapshot against a one-key one.
 * 3. With PostgreSQL on 127.0.0.1:5432: the real gateway (`dist/src/cli/run.js`) on a database
 *    seeded with those tenants and keys, against the same gateway on an empty database: its
 *    resident memory (VmRSS, peak VmHWM) after start, after traffic and after a full reload,
 *    and how long a new key takes to become usable at that size. Then both gateways at once,
 *    once their start-up background work is over (its CPU is reported): throughput of
 *    `GET /v1/models` under autocannon in alternating rounds, the gateway's CPU time per
 *    request, and resident memory after the rounds.
 */
import type { IncomingMessage } from 'node:http';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { parseArgs } from 'node:util';
import autocannon from 'autocannon';
import { request } from 'undici';
import { generateApiKey, hashApiKey, keyPrefix, randomBase62 } from '../src/crypto/keys.js';
import { deriveKey } from '../src/crypto/master-key.js';
import { authenticate } from '../src/pipeline/authenticate.js';
import type { RequestContext } from '../src/pipeline/context.js';
import { Cancellation } from '../src/providers/cancel.js';
import { apiKeysRepo, openStore, tenantsRepo, type Store } from '../src/store/index.js';
import { createPostgresTestDatabase } from '../src/store/testing.js';
import { createSnapshotBuilder, patchSnapshot } from '../src/tenancy/snapshot-build.js';
import { KEY_PAGE, keyPageMaker, loadSnapshot } from '../src/tenancy/snapshot-load.js';
import { buildSnapshot, createRegistry, type Snapshot } from '../src/tenancy/snapshot.js';
import type { ApiKeyRecord, Tenant } from '../src/tenancy/types.js';
import { freePort, startChild, stopChild, waitForHttp200, type Child } from './lib/children.js';
import { cpuSeconds } from './lib/cpu.js';
import { summarize } from './lib/stats.js';
import { fmt, markdownTable } from './lib/table.js';

const { values: flags } = parseArgs({
  options: {
    tenants: { type: 'string', default: '10000' },
    keys: { type: 'string', default: '100000' },
    'no-gateway': { type: 'boolean', default: false },
    'no-throughput': { type: 'boolean', default: false },
    database: { type: 'string', default: process.env.DATABASE_URL_TEST ?? 'postgres://root@127.0.0.1:5432/test' },
  },
});
const TENANTS = Number(flags.tenants);
const KEYS = Number(flags.keys);
const MASTER_HEX = '5b'.repeat(32);
const PEPPER = deriveKey(Buffer.from(MASTER_HEX, 'hex'), 'api-key-hash');
const MB = 1024 * 1024;

const gc: () => void =
  typeof globalThis.gc === 'function' ? globalThis.gc : () => console.warn('run with node --expose-gc: deltas include garbage');

interface Mem {
  heap: number;
  external: number;
  rss: number;
}
/** After full collections with turns of the event loop between, so finalizers (Hmac objects) ran. */
async function mem(): Promise<Mem> {
  for (let i = 0; i < 3; i++) {
    gc();
    await new Promise((r) => setImmediate(r));
  }
  const m = process.memoryUsage();
  return { heap: m.heapUsed, external: m.external, rss: m.rss };
}
const delta = (a: Mem, b: Mem): Mem => ({ heap: b.heap - a.heap, external: b.external - a.external, rss: b.rss - a.rss });

/** A new string with the same text, as a driver makes one per row (no sharing with `s`). */
const fresh = (s: string): string => Buffer.from(s, 'latin1').toString('latin1');

/** Tenants as tenantsRepo.listForSnapshot builds them from rows. */
function tenantRecords(count: number): Tenant[] {
  const tenants: Tenant[] = [];
  for (let i = 0; i < count; i++) {
    const slug = `tenant-${String(i).padStart(5, '0')}`;
    // One tenant in ten has a custom domain, as a guess at a real fleet.
    tenants.push({ id: fresh(crypto.randomUUID()), slug, name: `Tenant ${i}`, status: 'active', domains: i % 10 === 0 ? [`${slug}.example.com`] : [], allowedModels: '*', regions: [] });
  }
  return tenants;
}

/** The fleet's keys: ids, prefixes and hashes fixed once, so a second read is the same keys. */
interface Fleet {
  tenants: Tenant[];
  ids: string[];
  prefixes: string[];
  hashes: string[];
}

function fleet(tenantCount: number, keyCount: number): Fleet {
  const ids: string[] = [];
  const prefixes: string[] = [];
  const hashes: string[] = [];
  for (let i = 0; i < keyCount; i++) {
    // Flat strings, as a driver's are (randomBase62 builds a chain of concatenations, whose
    // flattening later would free memory in the middle of a measurement).
    const prefix = fresh(`ghk_${randomBase62(8)}`);
    ids.push(fresh(crypto.randomUUID())); // randomUUID returns a concatenation too
    prefixes.push(prefix);
    hashes.push(hashApiKey(`${prefix}_${i}`, PEPPER).toString('hex'));
  }
  return { tenants: tenantRecords(tenantCount), ids, prefixes, hashes };
}

/**
 * Keys `from`..`to` as apiKeysRepo.pageForSnapshot hands them over: fresh strings and a scopes
 * array per row, a Buffer per hash decoded from hex (bytea arrives as hex text), epoch ms.
 */
function readKeys(f: Fleet, from: number, to: number): ApiKeyRecord[] {
  const out: ApiKeyRecord[] = [];
  for (let i = from; i < to; i++) {
    out.push({
      id: fresh(f.ids[i] ?? ''),
      // Pages come ordered by tenant, as the store's query returns them.
      tenantId: fresh(f.tenants[Math.floor((i * f.tenants.length) / f.ids.length)]?.id ?? ''),
      teamId: null,
      prefix: fresh(f.prefixes[i] ?? ''),
      hash: Buffer.from(f.hashes[i] ?? '', 'hex'),
      scopes: ['inference', 'models:read'],
      allowedModels: null,
      expiresAt: null,
      revoked: false,
      revokedAtMs: null,
      allowedCidrs: null,
    });
  }
  return out;
}

/** ns per authenticate call with a valid key, and per raw prefix lookup, on `snapshot`. */
function lookupCost(snapshot: Snapshot, key: string, iterations: number): { stageNs: number; mapNs: number } {
  const stage = authenticate({ registry: createRegistry(snapshot), pepper: PEPPER });
  const ctx: RequestContext = {
    requestId: 'bench',
    startedAt: 0n,
    method: 'GET',
    path: '/v1/models',
    headers: {},
    remoteAddress: '127.0.0.1',
    endpoint: { op: 'models.list' },
    pathTenant: undefined,
    signal: new Cancellation(),
    req: Readable.from([]) as unknown as IncomingMessage, // never read by authenticate
    credential: key,
  };
  let t = process.hrtime.bigint();
  for (let i = 0; i < iterations; i++) void stage(ctx);
  const stageNs = Number(process.hrtime.bigint() - t) / iterations;
  if (ctx.principal === undefined) throw new Error('the probe key did not authenticate');
  const prefixes = [...snapshot.keysByPrefix.keys()].slice(0, 1024);
  let found = 0;
  t = process.hrtime.bigint();
  for (let i = 0; i < iterations; i++) found += snapshot.keysByPrefix.get(prefixes[i & 1023] ?? prefixes[0] ?? '')?.length ?? 0;
  const mapNs = Number(process.hrtime.bigint() - t) / iterations;
  if (found === 0) throw new Error('no lookups hit');
  return { stageNs, mapNs };
}

async function inProcess(): Promise<string[]> {
  const out: string[] = [];
  const f = fleet(TENANTS, KEYS);
  const probe = generateApiKey().key;
  const probeRead = (tenant: Tenant): ApiKeyRecord => ({ ...(readKeys(f, 0, 1)[0] as ApiKeyRecord), id: crypto.randomUUID(), tenantId: tenant.id, prefix: keyPrefix(probe), hash: hashApiKey(probe, PEPPER) });
  const m0 = await mem();
  // As loadTenancy at start-up: every page read and made lean.
  const tenants = f.tenants;
  const idOf = new Map(tenants.map((t) => [t.id, t.id]));
  const make = keyPageMaker({ tenantId: (id) => idOf.get(id) });
  let lean: ApiKeyRecord[] | undefined = [];
  for (let at = 0; at < KEYS; at += KEY_PAGE) lean.push(...make(readKeys(f, at, Math.min(KEYS, at + KEY_PAGE))));
  lean.push(...make([probeRead(tenants[0] as Tenant)]));
  const m1 = await mem();
  let t = performance.now();
  const first = buildSnapshot({ tenants, keys: lean, deployments: [] });
  const buildMs = performance.now() - t;
  lean = undefined; // the snapshot holds the records; nothing else does, as in the gateway
  const m2 = await mem();
  // A whole rebuild, pages read and indexed one by one, unchanged records taken from the
  // snapshot being replaced, which serves requests meanwhile (the gateway's full reload goes
  // further: it patches only the tenants that differ, measured in part 3).
  const reload = (previous: Snapshot): Snapshot => {
    const builder = createSnapshotBuilder({ tenants: tenants.map((x) => ({ ...x, id: fresh(x.id) })), deployments: [] });
    const pageOf = keyPageMaker({ tenantId: (id) => builder.tenantId(id), previous });
    for (let at = 0; at < KEYS; at += KEY_PAGE) builder.addKeys(pageOf(readKeys(f, at, Math.min(KEYS, at + KEY_PAGE))));
    builder.addKeys(pageOf([probeRead(tenants[0] as Tenant)]));
    return builder.finish();
  };
  const second = reload(first);
  const m3 = await mem();
  void first; // kept alive up to here: the old snapshot serves requests during a reload
  const builds: number[] = [];
  for (let i = 0; i < 5; i++) {
    t = performance.now();
    buildSnapshot({ tenants, keys: [...second.keysByPrefix.values()].flat(), deployments: [] });
    builds.push(performance.now() - t);
  }
  // A notification naming one tenant: its 10 keys and one new one patched in.
  const patches: number[] = [];
  let patched = second;
  for (let i = 0; i < 20; i++) {
    const tenant = tenants[i % tenants.length] as Tenant;
    const keys = [...(patched.entries.get(tenant.id)?.keys ?? []), { ...probeRead(tenant), id: crypto.randomUUID(), prefix: `ghk_${randomBase62(8)}` }];
    t = performance.now();
    patched = patchSnapshot(patched, { tenants: [{ tenantId: tenant.id, tenant, keys, issuers: [], limitSource: null }] });
    patches.push(performance.now() - t);
  }

  const row = (label: string, d: Mem): string[] => [label, fmt(d.heap / MB, 1), fmt(d.external / MB, 1), fmt(d.rss / MB, 1)];
  out.push(`### In process: ${TENANTS} tenants, ${KEYS} keys\n`);
  out.push(
    markdownTable(
      ['what (deltas after forced GC)', 'heap MB', 'external MB', 'RSS MB'],
      [
        row('lean records (as loaded from the store)', delta(m0, m1)),
        row('+ snapshot indexes (records kept by it)', delta(m1, m2)),
        row('snapshot total, steady state', delta(m0, m2)),
        row('peak while a whole rebuild holds old + new', delta(m0, m3)),
      ],
    ),
  );
  const b = summarize(builds);
  const p = summarize(patches);
  out.push(
    `\nbuildSnapshot (whole, ${KEYS} keys): first ${fmt(buildMs, 0)} ms; then p50 ${fmt(b.p50, 0)} ms, max ${fmt(b.max, 0)} ms over ${b.n} builds. ` +
      `patchSnapshot (one tenant, 11 keys, into the ${KEYS}-key snapshot): p50 ${fmt(p.p50, 2)} ms, max ${fmt(p.max, 2)} ms over ${p.n} patches. ` +
      `Both synchronous: the event loop is blocked that long.\n`,
  );

  const small = buildSnapshot({ tenants: tenants.slice(0, 1), keys: [probeRead(tenants[0] as Tenant)], deployments: [] });
  const rounds: { big: number[]; one: number[]; bigMap: number[]; oneMap: number[] } = { big: [], one: [], bigMap: [], oneMap: [] };
  lookupCost(second, probe, 20_000); // warm up both paths
  lookupCost(small, probe, 20_000);
  for (let r = 0; r < 5; r++) {
    // Alternate which goes first so drift on a shared machine lands on both.
    const order = r % 2 === 0 ? ['big', 'one'] : ['one', 'big'];
    for (const which of order) {
      const c = lookupCost(which === 'big' ? second : small, probe, 100_000);
      (which === 'big' ? rounds.big : rounds.one).push(c.stageNs);
      (which === 'big' ? rounds.bigMap : rounds.oneMap).push(c.mapNs);
    }
  }
  const p50 = (xs: number[]) => summarize(xs).p50;
  out.push(
    markdownTable(
      ['lookup (p50 of 5 rounds × 100k calls)', `${KEYS} keys ns`, '1 key ns', 'ratio'],
      [
        ['authenticate stage (HMAC + map + checks)', fmt(p50(rounds.big), 0), fmt(p50(rounds.one), 0), fmt(p50(rounds.big) / p50(rounds.one), 2)],
        ['keysByPrefix.get alone', fmt(p50(rounds.bigMap), 0), fmt(p50(rounds.oneMap), 0), fmt(p50(rounds.bigMap) / p50(rounds.oneMap), 2)],
      ],
    ),
  );
  return out;
}

/** 10,000 tenants and 100,000 keys in two statements (the triggers announce them; no one listens yet). */
async function seed(store: Store): Promise<void> {
  await store.admin(async (tx) => {
    await tx.query(
      `INSERT INTO tenants (slug, name) SELECT 'bench-' || lpad(i::text, 5, '0'), 'Bench tenant ' || i FROM generate_series(1, $1::int) i`,
      [TENANTS],
    );
    await tx.query(
      `INSERT INTO api_keys (tenant_id, name, prefix, key_hash, scopes)
       SELECT t.id, 'key ' || k, 'ghk_' || substr(md5(t.id::text || k), 1, 8),
              decode(md5(t.id::text || k) || md5(k || t.id::text), 'hex'), ARRAY['inference', 'models:read']
       FROM (SELECT id, row_number() OVER (ORDER BY slug) AS n FROM tenants) t,
            generate_series(1, $1::int) k
       WHERE (t.n - 1) * $1::int + k <= $2::int`,
      [Math.ceil(KEYS / TENANTS), KEYS],
    );
  });
}

function procStatus(pid: number): { rss: number; hwm: number } {
  const text = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(text)?.[1] ?? NaN);
  return { rss: kb('VmRSS') * 1024, hwm: kb('VmHWM') * 1024 };
}

async function models(url: string, key: string): Promise<number> {
  const res = await request(`${url}/v1/models`, { headers: { authorization: `Bearer ${key}` } });
  await res.body.dump();
  return res.statusCode;
}

interface GatewayFigures {
  startMs: number;
  started: { rss: number; hwm: number };
  warm: { rss: number; hwm: number };
  patched: { rss: number; hwm: number };
  reloaded: { rss: number; hwm: number };
  p50us: number;
  newKeyMs: number;
  /** From the commit of a key and a full-reload notification (one transaction) to the key working. */
  fullReloadMs: number;
  /** From ready to the start-up reload being done (a key created at ready works). */
  settleMs: number;
}

/**
 * Commits a new key of the tenant (with a full-reload notification in the same transaction when
 * `full`) and polls until the gateway accepts it: ms from commit to the first 200.
 */
async function keyUsable(url: string, store: Store, tenantId: string, name: string, full: boolean): Promise<number> {
  const key = generateApiKey().key;
  await store.withTenant(tenantId, async (tx) => {
    await apiKeysRepo.insert(tx, { name: 'fresh', prefix: keyPrefix(key), hash: hashApiKey(key, PEPPER), scopes: ['models:read'] });
    if (full) await tx.query('SELECT pg_notify($1, $2)', ['gatehouse_config', '{"op":"truncate","table":"api_keys","tenant_id":null}']);
  });
  const t = performance.now();
  while ((await models(url, key)) !== 200) {
    if (performance.now() - t > 120_000) throw new Error(`${name}: the new key never became usable`);
    await new Promise((r) => setTimeout(r, 5));
  }
  return performance.now() - t;
}

/** Starts the built gateway on `url`, measures it, stops it. */
async function measureGateway(dbUrl: string, store: Store, dir: string, name: string): Promise<GatewayFigures> {
  const demoKey = generateApiKey().key;
  const port = await freePort();
  const t0 = performance.now();
  const child: Child = startChild({
    name,
    script: join(import.meta.dirname, '..', 'src', 'cli', 'run.js'),
    env: { DATABASE_URL: dbUrl, GATEHOUSE_MASTER_KEY: MASTER_HEX, GATEHOUSE_DEMO_KEY: demoKey, GATEHOUSE_PORT: String(port), GATEHOUSE_HOST: '127.0.0.1', GATEHOUSE_LOG_LEVEL: 'warn', GATEHOUSE_DATA_DIR: join(dir, name) },
    logFile: join(dir, `${name}.log`),
  });
  try {
    const url = `http://127.0.0.1:${port}`;
    await waitForHttp200(child, `${url}/readyz`, 180_000);
    const startMs = performance.now() - t0;
    const demoId = (await store.platform((tx) => tenantsRepo.findIdBySlug(tx, 'demo'))) ?? '';
    // The refresher's start-up reload runs after ready; a key made now is patched in behind it,
    // so once it works the start-up reload is over.
    const settleMs = await keyUsable(url, store, demoId, name, false);
    await new Promise((r) => setTimeout(r, 2_000));
    const started = procStatus(child.pid);
    const samples: number[] = [];
    for (let i = 0; i < 3_000; i++) {
      const t = process.hrtime.bigint();
      if ((await models(url, demoKey)) !== 200) throw new Error(`${name}: the demo key was refused`);
      samples.push(Number(process.hrtime.bigint() - t) / 1_000);
    }
    const warm = procStatus(child.pid);
    // A change naming one tenant: every replica patches that tenant in; time until the new key works.
    const newKeyMs = await keyUsable(url, store, demoId, name, false);
    await new Promise((r) => setTimeout(r, 2_000));
    const patched = procStatus(child.pid);
    // What a TRUNCATE announces: every replica reloads everything (as after a reconnect, or the
    // periodic safety net). A key committed with it becomes usable when that reload is done.
    const fullReloadMs = await keyUsable(url, store, demoId, name, true);
    await new Promise((r) => setTimeout(r, 2_000));
    return { startMs, settleMs, started, warm, patched, reloaded: procStatus(child.pid), p50us: summarize(samples).p50, newKeyMs, fullReloadMs };
  } finally {
    await stopChild(child, 5_000);
  }
}

async function withDatabase<T>(fn: (url: string, store: Store) => Promise<T>, seeded: boolean): Promise<T> {
  const db = await createPostgresTestDatabase(flags.database);
  const store = await openStore({ databaseUrl: db.url, poolSize: 2 });
  try {
    await store.migrate();
    if (seeded) await seed(store);
    return await fn(db.url, store);
  } finally {
    await db.drop(store);
  }
}

interface Throughput {
  rps: number[];
  cpuUsPerRequest: number[];
  non2xx: number;
  /** The start-up's background work (usage upkeep, the first alert round): CPU seconds, and how long until quiet. */
  startupCpuS: number;
  startupMs: number;
  /** Resident memory after the load rounds. */
  rssAfterLoad: number;
}

/**
 * Waits until the gateway's own background work after start is over: its CPU below 10 % over 2 s
 * (at most `maxMs`). With 10,000 tenants a start runs the usage upkeep and the first alert round
 * over every tenant (~10 s of CPU, bench/README.md); the rounds below measure the request path
 * in steady state, and this start-up work is reported on its own.
 */
async function quiet(pid: number, maxMs = 180_000): Promise<{ cpuS: number; ms: number }> {
  const t0 = performance.now();
  const cpu0 = cpuSeconds(pid);
  let last = cpu0;
  for (;;) {
    await new Promise((r) => setTimeout(r, 2_000));
    const now = cpuSeconds(pid);
    if (now - last < 0.2 || performance.now() - t0 > maxMs) return { cpuS: now - cpu0, ms: performance.now() - t0 };
    last = now;
  }
}

/**
 * Both gateways at once (empty database, seeded database), GET /v1/models with the demo key
 * under autocannon, rounds alternating which goes first so drift on a shared machine lands on
 * both. The gateway's CPU time per request is the figure noise disturbs least.
 */
async function throughput(
  urls: { empty: string; full: string },
  stores: { empty: Store; full: Store },
  dir: string,
): Promise<{ empty: Throughput; full: Throughput }> {
  const demoKey = generateApiKey().key;
  const start = async (name: 'empty' | 'full'): Promise<{ child: Child; url: string }> => {
    const port = await freePort();
    const child = startChild({
      name: `${name}-load`,
      script: join(import.meta.dirname, '..', 'src', 'cli', 'run.js'),
      env: { DATABASE_URL: urls[name], GATEHOUSE_MASTER_KEY: MASTER_HEX, GATEHOUSE_DEMO_KEY: demoKey, GATEHOUSE_PORT: String(port), GATEHOUSE_HOST: '127.0.0.1', GATEHOUSE_LOG_LEVEL: 'warn', GATEHOUSE_DATA_DIR: join(dir, `${name}-load`) },
      logFile: join(dir, `${name}-load.log`),
    });
    const url = `http://127.0.0.1:${port}`;
    await waitForHttp200(child, `${url}/readyz`, 180_000);
    // Its start-up reload done (seconds at this size), so no round measures it.
    const demoId = (await stores[name].platform((tx) => tenantsRepo.findIdBySlug(tx, 'demo'))) ?? '';
    await keyUsable(url, stores[name], demoId, name, false);
    return { child, url };
  };
  const gateways = { empty: await start('empty'), full: await start('full') };
  try {
    const [quietEmpty, quietFull] = await Promise.all([quiet(gateways.empty.child.pid), quiet(gateways.full.child.pid)]);
    const fresh = (q: { cpuS: number; ms: number }): Throughput => ({ rps: [], cpuUsPerRequest: [], non2xx: 0, startupCpuS: q.cpuS, startupMs: q.ms, rssAfterLoad: NaN });
    const out = { empty: fresh(quietEmpty), full: fresh(quietFull) };
    const round = async (name: 'empty' | 'full', seconds: number, record: boolean): Promise<void> => {
      const g = gateways[name];
      const cpu0 = cpuSeconds(g.child.pid);
      const r = await autocannon({ url: `${g.url}/v1/models`, headers: { authorization: `Bearer ${demoKey}` }, connections: 16, duration: seconds });
      const cpu = cpuSeconds(g.child.pid) - cpu0;
      if (!record) return;
      const ok = r['2xx'];
      out[name].rps.push(ok / r.duration);
      out[name].cpuUsPerRequest.push(ok > 0 ? (cpu * 1e6) / ok : NaN);
      out[name].non2xx += r.non2xx;
    };
    await round('empty', 2, false); // warm-up (JIT) of both
    await round('full', 2, false);
    for (let i = 0; i < 6; i++) {
      const order: ('empty' | 'full')[] = i % 2 === 0 ? ['empty', 'full'] : ['full', 'empty'];
      for (const name of order) await round(name, 4, true);
    }
    out.empty.rssAfterLoad = procStatus(gateways.empty.child.pid).rss;
    out.full.rssAfterLoad = procStatus(gateways.full.child.pid).rss;
    return out;
  } finally {
    await Promise.all([stopChild(gateways.empty.child, 5_000), stopChild(gateways.full.child, 5_000)]);
  }
}

async function gateway(): Promise<string[]> {
  const dir = await mkdtemp(join(tmpdir(), 'gatehouse-snapmem-'));
  try {
    return await withDatabase(
      (emptyUrl, emptyStore) =>
        withDatabase(async (fullUrl, fullStore) => {
          const empty = await measureGateway(emptyUrl, emptyStore, dir, 'empty');
          // What one full reload costs at this size, measured here in process, as the refresher
          // runs it: the first builds whole (keys read page by page, indexed as pages arrive);
          // the others compare each tenant's key digest and read only the tenants that differ.
          const reloadMs: number[] = [];
          let previous: Snapshot | undefined;
          for (let i = 0; i < 3; i++) {
            const t = performance.now();
            previous = await loadSnapshot(fullStore, { deployments: [], previous });
            reloadMs.push(performance.now() - t);
          }
          previous = undefined;
          const full = await measureGateway(fullUrl, fullStore, dir, 'full');
          const tput = flags['no-throughput'] ? undefined : await throughput({ empty: emptyUrl, full: fullUrl }, { empty: emptyStore, full: fullStore }, dir);
          return table(empty, full, reloadMs, tput);
        }, true),
      false,
    );
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

function table(empty: GatewayFigures, full: GatewayFigures, reloadMs: number[], tput: { empty: Throughput; full: Throughput } | undefined): string[] {
  const r = (g: GatewayFigures, k: 'started' | 'warm' | 'patched' | 'reloaded') => fmt(g[k].rss / MB, 0);
  const d = (k: 'started' | 'warm' | 'patched' | 'reloaded') => fmt((full[k].rss - empty[k].rss) / MB, 0);
  const rows = [
    ['start to ready (ms)', fmt(empty.startMs, 0), fmt(full.startMs, 0), fmt(full.startMs - empty.startMs, 0)],
    ['ready to start-up reload done (ms)', fmt(empty.settleMs, 0), fmt(full.settleMs, 0), fmt(full.settleMs - empty.settleMs, 0)],
    ['RSS after start, start-up reload done (MB)', r(empty, 'started'), r(full, 'started'), d('started')],
    ['RSS after 3,000 requests (MB)', r(empty, 'warm'), r(full, 'warm'), d('warm')],
    ['RSS after a key change (tenant patch) (MB)', r(empty, 'patched'), r(full, 'patched'), d('patched')],
    ['RSS after a full reload (MB)', r(empty, 'reloaded'), r(full, 'reloaded'), d('reloaded')],
    ['peak RSS, VmHWM (MB)', fmt(empty.reloaded.hwm / MB, 0), fmt(full.reloaded.hwm / MB, 0), fmt((full.reloaded.hwm - empty.reloaded.hwm) / MB, 0)],
    ['GET /v1/models p50, sequential (µs)', fmt(empty.p50us, 0), fmt(full.p50us, 0), fmt(full.p50us - empty.p50us, 0)],
    ['new key usable on the gateway after commit (ms)', fmt(empty.newKeyMs, 0), fmt(full.newKeyMs, 0), fmt(full.newKeyMs - empty.newKeyMs, 0)],
    ['full reload: key usable after commit (ms)', fmt(empty.fullReloadMs, 0), fmt(full.fullReloadMs, 0), fmt(full.fullReloadMs - empty.fullReloadMs, 0)],
  ];
  if (tput !== undefined) {
    const p50 = (xs: number[]) => summarize(xs).p50;
    rows.push(
      ['GET /v1/models under load, req/s (median of 6 × 4 s)', fmt(p50(tput.empty.rps), 0), fmt(p50(tput.full.rps), 0), `${fmt((p50(tput.full.rps) / p50(tput.empty.rps)) * 100, 1)} %`],
      ['gateway CPU per request under load (µs, median)', fmt(p50(tput.empty.cpuUsPerRequest), 1), fmt(p50(tput.full.cpuUsPerRequest), 1), `${fmt((p50(tput.full.cpuUsPerRequest) / p50(tput.empty.cpuUsPerRequest)) * 100, 1)} %`],
      ['non-2xx answers under load', String(tput.empty.non2xx), String(tput.full.non2xx), ''],
      ['RSS after the load rounds (MB)', fmt(tput.empty.rssAfterLoad / MB, 0), fmt(tput.full.rssAfterLoad / MB, 0), fmt((tput.full.rssAfterLoad - tput.empty.rssAfterLoad) / MB, 0)],
      [
        'start-up background work before the rounds: CPU s (until quiet, s)',
        `${fmt(tput.empty.startupCpuS, 1)} (${fmt(tput.empty.startupMs / 1000, 0)})`,
        `${fmt(tput.full.startupCpuS, 1)} (${fmt(tput.full.startupMs / 1000, 0)})`,
        '',
      ],
    );
  }
  return [
    `### The gateway process on PostgreSQL (\`dist/src/cli/run.js\`)\n`,
    markdownTable(['figure', 'empty database', `${TENANTS} tenants, ${KEYS} keys`, 'full vs empty'], rows),
    `\nloadSnapshot over PostgreSQL in process at this size, the first whole (every key read page by page), then full reloads (key digests compared, nothing changed): ${reloadMs.map((x) => fmt(x, 0)).join(', ')} ms.\n`,
  ];
}

const lines = [`## Snapshot memory (${new Date().toISOString()}, Node ${process.version})\n`, ...(await inProcess()), ''];
if (!flags['no-gateway']) {
  try {
    lines.push(...(await gateway()));
  } catch (err) {
    lines.push(`Gateway figures not available: ${err instanceof Error ? err.message : String(err)}`);
  }
}
console.log(lines.join('\n'));
