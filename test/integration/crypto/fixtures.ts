/** Shared fixtures of the tenant-encryption contract suites. */
import { randomBytes } from 'node:crypto';
import { inspect } from 'node:util';
import { expect } from 'vitest';
import { createKeyring } from '../../../src/crypto/keyring.js';
import type { Keyring, KeyringOptions } from '../../../src/crypto/keyring.js';
import { localKms } from '../../../src/crypto/kms.js';
import { upsertTenantBySlug } from '../../../src/store/index.js';
import type { Store } from '../../../src/store/index.js';
import { uniq } from '../store/factory.js';

export type { StoreFactory, StoreHandle } from '../store/factory.js';
export { sqlStateOf, uniq } from '../store/factory.js';

/** Planted in secrets; must never show up in an error, a log line or a plaintext column. */
export const CANARY = 'sk-CANARY-7f3a9c1e5b2d4680-do-not-leak';

export const newMaster = (): Buffer => randomBytes(32);

export function keyringFor(master: Buffer, opts: KeyringOptions = {}): Keyring {
  return createKeyring(localKms(master), opts);
}

export async function newTenant(store: Store, label: string): Promise<string> {
  const { tenant } = await upsertTenantBySlug(store, { slug: `${label}-${uniq()}`, name: `Tenant ${label}` });
  return tenant.id;
}

/** One after the other: queries of one transaction must not overlap (one connection). */
export async function inSequence<T, R>(items: readonly T[], fn: (item: T) => Promise<R>): Promise<R[]> {
  const out: R[] = [];
  for (const item of items) out.push(await fn(item));
  return out;
}

/** The rejection of `p`, which must reject. */
export async function rejection(p: Promise<unknown>): Promise<Error> {
  try {
    await p;
  } catch (err) {
    if (err instanceof Error) return err;
    throw new Error(`rejected with a non-error: ${String(err)}`);
  }
  throw new Error('expected a rejection');
}

/** Everything an error could expose when logged or rendered, causes included. */
export function everythingIn(err: Error): string {
  const parts = [err.message, String(err.stack), inspect(err, { depth: 5, showHidden: true }), JSON.stringify(err)];
  if (err.cause !== undefined) parts.push(inspect(err.cause, { depth: 5, showHidden: true }));
  return parts.join('\n');
}

/** Asserts that no secret (as text, hex or base64) appears anywhere in the error. */
export function expectNoSecrets(err: Error, secrets: ReadonlyArray<string | Buffer>): void {
  const text = everythingIn(err);
  for (const s of secrets) {
    // inspect() shows a Buffer as spaced hex: "<Buffer 1f 2e ...>".
    const spaced = (b: Buffer) => (b.subarray(0, 16).toString('hex').match(/../g) ?? []).join(' ');
    const forms = typeof s === 'string' ? [s] : [s.toString('hex'), s.toString('base64'), s.toString('latin1'), spaced(s)];
    for (const f of forms) expect(text.includes(f), `error exposes a secret: ${err.message}`).toBe(false);
  }
}
