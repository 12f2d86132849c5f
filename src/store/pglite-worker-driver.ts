/**
 * PGlite in a worker thread, as a Driver. PGlite is PostgreSQL compiled to WebAssembly and runs
 * synchronously on whatever thread calls it: in process, a batch of 1,000 usage events blocks the
 * gateway's event loop for ~60 ms and every admin query, snapshot reload and alert job stalls the
 * requests in flight. Here the database lives on its own thread and the request thread only
 * posts messages, so a slow statement delays other statements, never a proxied request.
 *
 * The protocol is one transaction at a time, as in process (PGlite's transaction() holds a
 * mutex): `begin` replies once the worker is inside a transaction; `query`/`exec` run in it;
 * `end` commits or rolls back and replies with the outcome. Errors cross the thread boundary as
 * plain objects carrying PostgreSQL's fields (`code`, `constraint`, ...), so sqlState() and the
 * repositories see them as they would in process. bytea comes back as Buffer and int8 as string,
 * as node-postgres returns them (pglite-driver.ts).
 */
import { createRequire } from 'node:module';
import { pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import type { Driver, SqlSession } from './driver.js';
import { checkChannel, ListenerClosedError, type NotificationHandler, type Unlisten } from './notify.js';
import { embeddedStartParams } from './pglite-settings.js';
import type { QueryResult } from './types.js';

/**
 * The worker's code. An eval'd CommonJS script rather than a module file, so that it starts the
 * same way from the compiled tree and from the TypeScript sources under the test runner; it
 * imports PGlite from the URL the parent resolved. Kept to the protocol: no logic of the store.
 */
const WORKER_SOURCE = String.raw`
const { parentPort, workerData } = require('node:worker_threads');
const ERROR_FIELDS = ['code', 'detail', 'hint', 'constraint', 'table', 'column', 'schema', 'severity', 'position', 'where', 'routine', 'dataType'];
const plainError = (err) => {
  const out = { name: err && err.name ? String(err.name) : 'Error', message: err && err.message ? String(err.message) : String(err) };
  if (err && typeof err === 'object') for (const f of ERROR_FIELDS) if (err[f] !== undefined) out[f] = err[f];
  return out;
};
(async () => {
  const { PGlite } = await import(workerData.pgliteUrl);
  const parsers = { 17: (t) => Buffer.from(t.slice(2), 'hex'), 20: (t) => t };
  // json parameters in binary format (the text itself): see pglite-driver.ts.
  const serializers = { 114: (v) => Buffer.from(typeof v === 'string' ? v : JSON.stringify(v)) };
  const options = { parsers, serializers, startParams: workerData.startParams };
  if (workerData.dataDir !== undefined) options.dataDir = workerData.dataDir;
  if (workerData.loadDataDir !== undefined) options.loadDataDir = new Blob([workerData.loadDataDir]);
  const db = await PGlite.create(options);
  // enableFsync() of pglite-settings.ts: NODEFS gets the fsync PostgreSQL's commits need.
  const fsOps = db.Module.NODEFS && db.Module.NODEFS.stream_ops;
  if (fsOps) {
    const { fsyncSync } = require('node:fs');
    fsOps.fsync = (stream) => {
      if (stream.nfd === undefined) return;
      try { fsyncSync(stream.nfd); } catch { throw new db.Module.FS.ErrnoError(29); }
    };
  }
  const txs = new Map();
  const listeners = new Map();
  const reply = (id, body) => parentPort.postMessage({ id, ...body });
  parentPort.on('message', (m) => {
    const fail = (err) => reply(m.id, { ok: false, error: plainError(err) });
    switch (m.op) {
      case 'begin': {
        let finish;
        const ended = new Promise((resolve, reject) => { finish = (commit) => (commit ? resolve() : reject(Object.assign(new Error('rollback'), { __rollback: true }))); });
        const outcome = db.transaction((tx) => { txs.set(m.tx, { tx, finish, outcome: undefined }); reply(m.id, { ok: true }); return ended; });
        outcome.then(
          () => { const s = txs.get(m.tx); txs.delete(m.tx); if (s && s.endId !== undefined) reply(s.endId, { ok: true }); },
          (err) => {
            const s = txs.get(m.tx); txs.delete(m.tx);
            if (s === undefined) { fail(err); return; }
            if (s.endId !== undefined) reply(s.endId, err && err.__rollback ? { ok: true } : { ok: false, error: plainError(err) });
          },
        );
        return;
      }
      case 'query': {
        const s = txs.get(m.tx);
        if (s === undefined) { fail(new Error('no such transaction')); return; }
        s.tx.query(m.sql, m.params).then((r) => reply(m.id, { ok: true, rows: r.rows, rowCount: r.rowCount ?? r.rows.length }), fail);
        return;
      }
      case 'exec': {
        const s = txs.get(m.tx);
        if (s === undefined) { fail(new Error('no such transaction')); return; }
        s.tx.exec(m.sql).then(() => reply(m.id, { ok: true }), fail);
        return;
      }
      case 'end': {
        const s = txs.get(m.tx);
        if (s === undefined) { fail(new Error('no such transaction')); return; }
        s.endId = m.id;
        s.finish(m.commit);
        return;
      }
      case 'listen': {
        db.listen(m.channel, (payload) => parentPort.postMessage({ notify: m.lid, payload })).then(
          (remove) => { listeners.set(m.lid, remove); reply(m.id, { ok: true }); }, fail);
        return;
      }
      case 'unlisten': {
        const remove = listeners.get(m.lid);
        listeners.delete(m.lid);
        Promise.resolve(remove && !db.closed ? remove() : undefined).then(() => reply(m.id, { ok: true }), fail);
        return;
      }
      case 'close': {
        (db.closed ? Promise.resolve() : db.close()).then(() => reply(m.id, { ok: true }), fail);
        return;
      }
      default:
        fail(new Error('unknown operation ' + String(m.op)));
    }
  });
  parentPort.postMessage({ ready: true });
})().catch((err) => parentPort.postMessage({ fatal: plainError(err) }));
`;

type Request =
  | { op: 'begin'; tx: number }
  | { op: 'query'; tx: number; sql: string; params: unknown[] }
  | { op: 'exec'; tx: number; sql: string }
  | { op: 'end'; tx: number; commit: boolean }
  | { op: 'listen'; channel: string; lid: number }
  | { op: 'unlisten'; lid: number }
  | { op: 'close' };

interface PlainError {
  name: string;
  message: string;
  [field: string]: unknown;
}

type Reply = { id: number; ok: true; rows?: unknown[]; rowCount?: number } | { id: number; ok: false; error: PlainError };
type Incoming = Reply | { notify: number; payload: string } | { ready: true } | { fatal: PlainError };

export interface PgliteWorkerOptions {
  /** Where PGlite keeps its files; in memory without one. */
  dataDir?: string;
  /** A `dumpDataDir()` tarball to start from (in-memory databases of tests). */
  loadDataDir?: Blob;
}

function toError(e: PlainError): Error {
  const { name, message, ...fields } = e;
  const err = Object.assign(new Error(message), fields);
  err.name = name;
  return err;
}

/** Rows as node-postgres shapes them: bytea values arrive as Uint8Array after the clone. */
function withBuffers(rows: unknown[]): void {
  for (const row of rows) {
    if (typeof row !== 'object' || row === null) continue;
    const r = row as Record<string, unknown>;
    for (const k in r) {
      const v = r[k];
      if (v instanceof Uint8Array && !Buffer.isBuffer(v)) r[k] = Buffer.from(v.buffer, v.byteOffset, v.byteLength);
    }
  }
}

export async function pgliteWorkerDriver(opts: PgliteWorkerOptions, onClose: () => Promise<void> = async () => {}): Promise<Driver> {
  const pgliteUrl = pathToFileURL(createRequire(import.meta.url).resolve('@electric-sql/pglite')).href;
  const loadDataDir = opts.loadDataDir === undefined ? undefined : await opts.loadDataDir.arrayBuffer();
  const worker = new Worker(WORKER_SOURCE, {
    eval: true,
    workerData: { pgliteUrl, dataDir: opts.dataDir, loadDataDir, startParams: embeddedStartParams() },
    transferList: loadDataDir === undefined ? [] : [loadDataDir],
    // The thread's own JavaScript is little (a batch's JSON string, which lives in the large-object
    // space, and query results), but V8 sizes its young generation as for the request thread, up
    // to 32 MB resident while it ships. 8 MB: ~20 MB less resident at the same CPU per event
    // (bench/README.md "Resident memory").
    resourceLimits: { maxYoungGenerationSizeMb: 8 },
  });
  const pending = new Map<number, { resolve: (r: Reply & { ok: true }) => void; reject: (e: Error) => void }>();
  const notifyHandlers = new Map<number, NotificationHandler>();
  let nextId = 1;
  let dead: Error | undefined;

  const failAll = (err: Error) => {
    dead ??= err;
    for (const p of pending.values()) p.reject(err);
    pending.clear();
  };

  await new Promise<void>((resolve, reject) => {
    const onMessage = (m: Incoming) => {
      if ('ready' in m) resolve();
      else if ('fatal' in m) reject(toError(m.fatal));
    };
    worker.once('message', onMessage);
    worker.once('error', reject);
  }).catch(async (err: unknown) => {
    await worker.terminate();
    throw err;
  });

  worker.on('message', (m: Incoming) => {
    if ('notify' in m) {
      const handler = notifyHandlers.get(m.notify);
      if (handler === undefined) return;
      try {
        handler(m.payload);
      } catch {
        // The subscriber's own bug must not surface in someone else's transaction.
      }
      return;
    }
    if (!('id' in m)) return;
    const p = pending.get(m.id);
    if (p === undefined) return;
    pending.delete(m.id);
    if (m.ok) p.resolve(m);
    else p.reject(toError(m.error));
  });
  worker.on('error', (err) => failAll(err));
  worker.on('exit', (code) => failAll(new Error(`the embedded database thread exited (code ${code})`)));

  const call = (req: Request): Promise<Reply & { ok: true }> => {
    if (dead !== undefined) return Promise.reject(dead);
    const id = nextId++;
    return new Promise((resolve, reject) => {
      pending.set(id, { resolve, reject });
      worker.postMessage({ id, ...req });
    });
  };

  let nextTx = 1;
  let nextListener = 1;
  const unlistens = new Set<Unlisten>();
  let closed = false;

  return {
    kind: 'embedded',

    async transaction<T>(fn: (session: SqlSession) => Promise<T>): Promise<T> {
      const tx = nextTx++;
      await call({ op: 'begin', tx });
      const session: SqlSession = {
        async query<R>(sql: string, params: readonly unknown[]): Promise<QueryResult<R>> {
          const r = await call({ op: 'query', tx, sql, params: [...params] });
          const rows = (r.rows ?? []) as R[];
          withBuffers(rows);
          return { rows, rowCount: r.rowCount ?? rows.length };
        },
        async exec(sql: string): Promise<void> {
          await call({ op: 'exec', tx, sql });
        },
      };
      let result: T;
      try {
        result = await fn(session);
      } catch (err) {
        await call({ op: 'end', tx, commit: false }).catch(() => {});
        throw err;
      }
      await call({ op: 'end', tx, commit: true });
      return result;
    },

    async listen(channel, onMessage): Promise<Unlisten> {
      checkChannel(channel);
      if (closed || dead !== undefined) throw new ListenerClosedError('the store is closed');
      const lid = nextListener++;
      notifyHandlers.set(lid, onMessage);
      try {
        await call({ op: 'listen', channel, lid });
      } catch (err) {
        notifyHandlers.delete(lid);
        throw err;
      }
      let done = false;
      const unlisten: Unlisten = async () => {
        if (done) return;
        done = true;
        unlistens.delete(unlisten);
        notifyHandlers.delete(lid);
        if (dead === undefined) await call({ op: 'unlisten', lid }).catch(() => {});
      };
      unlistens.add(unlisten);
      return unlisten;
    },

    async close(): Promise<void> {
      if (closed) return;
      closed = true;
      try {
        for (const u of [...unlistens]) await u();
        if (dead === undefined) await call({ op: 'close' });
      } finally {
        await worker.terminate();
        await onClose();
      }
    },
  };
}
