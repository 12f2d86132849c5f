/** Shared pieces of the snapshot-propagation tests. */
import { Writable } from 'node:stream';
import { request } from 'undici';
import { generateApiKey, hashApiKey, keyPrefix } from '../../../src/crypto/keys.js';
import { deriveKey } from '../../../src/crypto/master-key.js';
import { createLogger, type Logger } from '../../../src/observability/logger.js';
import { apiKeysRepo, CONFIG_CHANNEL, type Store } from '../../../src/store/index.js';

/** A fixed master key, so the test can hash keys exactly as the gateway processes do. */
export const MASTER_KEY_HEX = '4f'.repeat(32);
export const PEPPER = deriveKey(Buffer.from(MASTER_KEY_HEX, 'hex'), 'api-key-hash');

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/**
 * Polls `check` every `everyMs` until it returns true; resolves with the elapsed ms, or rejects
 * after `timeoutMs` with `what` in the message (so a failure says what never happened).
 */
export async function waitFor(what: string, check: () => Promise<boolean> | boolean, timeoutMs = 5_000, everyMs = 20): Promise<number> {
  const started = performance.now();
  for (;;) {
    if (await check()) return performance.now() - started;
    if (performance.now() - started > timeoutMs) throw new Error(`timed out after ${timeoutMs} ms waiting for: ${what}`);
    await sleep(everyMs);
  }
}

/** GET /v1/models with the key: 200 when the gateway accepts it, 401 when it does not. */
export async function statusWith(url: string, key: string): Promise<number> {
  const res = await request(`${url}/v1/models`, { headers: { authorization: `Bearer ${key}` } });
  await res.body.text();
  return res.statusCode;
}

/** Creates a key for the tenant directly through the store, as the admin API will. */
export async function createKey(store: Store, tenantId: string, name: string, pepper: Buffer = PEPPER): Promise<{ id: string; key: string }> {
  const { key } = generateApiKey();
  const inserted = await store.withTenant(tenantId, (tx) =>
    apiKeysRepo.insert(tx, { name, prefix: keyPrefix(key), hash: hashApiKey(key, pepper), scopes: ['inference', 'models:read'] }),
  );
  if (!inserted.ok) throw new Error('key in use');
  return { id: inserted.key.id, key };
}

export async function revokeKey(store: Store, tenantId: string, keyId: string): Promise<void> {
  const done = await store.withTenant(tenantId, (tx) => apiKeysRepo.revoke(tx, keyId));
  if (!done) throw new Error(`no key ${keyId} in tenant ${tenantId}`);
}

/** Payloads heard on the configuration channel, with a way to wait for one. */
export interface Heard {
  payloads: string[];
  /** Parsed payloads. */
  changes(): Record<string, unknown>[];
  /** Sends a marker NOTIFY and waits for it: everything committed before has been delivered. */
  sync(): Promise<void>;
  stop(): Promise<void>;
}

export async function hear(store: Store): Promise<Heard> {
  const payloads: string[] = [];
  const stop = await store.listen(CONFIG_CHANNEL, (p) => payloads.push(p));
  let n = 0;
  return {
    payloads,
    changes: () => payloads.filter((p) => !p.startsWith('marker:')).map((p) => JSON.parse(p) as Record<string, unknown>),
    async sync() {
      const marker = `marker:${++n}`;
      await store.admin((tx) => tx.query('SELECT pg_notify($1, $2)', [CONFIG_CHANNEL, marker]));
      await waitFor(`notification ${marker}`, () => payloads.includes(marker), 5_000, 5);
    },
    stop,
  };
}

/** A debug logger whose lines the test can read. */
export function captureLogs(): { logger: Logger; lines: string[] } {
  const lines: string[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      lines.push(chunk.toString('utf8'));
      done();
    },
  });
  return { logger: createLogger('debug', sink), lines };
}
