/** Crypto-shredding: after the grace period a deleted tenant's ciphertext is unreadable. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encryptForTenant, tenantSealer } from '../../../src/crypto/envelope.js';
import type { Keyring } from '../../../src/crypto/keyring.js';
import { cancelTenantShred, scheduleTenantShred, shredDueTenants } from '../../../src/crypto/shredding.js';
import { DecryptError, EncryptError } from '../../../src/crypto/tenant-crypto-errors.js';
import { rotateDataKey } from '../../../src/crypto/tenant-keys.js';
import { dataKeysRepo, keyringsRepo, providerCredentialsRepo, webhooksRepo } from '../../../src/store/index.js';
import type { Store } from '../../../src/store/index.js';
import { CANARY, expectNoSecrets, keyringFor, newMaster, newTenant, rejection } from './fixtures.js';
import type { StoreFactory, StoreHandle } from './fixtures.js';

const F = { table: 'provider_credentials', recordId: '44444444-4444-4444-8444-444444444444', column: 'secret_ciphertext' };
const HOUR = 3600_000;

interface Seeded {
  id: string;
  credId: string;
  hookId: string;
}

async function seed(store: Store, keys: Keyring, label: string): Promise<Seeded> {
  const id = await newTenant(store, label);
  const sealer = tenantSealer(keys);
  return store.withTenant(id, async (tx) => {
    const cred = await providerCredentialsRepo.create(tx, sealer, { name: 'byok', provider: 'openai', secret: `${CANARY}-${label}` });
    if (!cred.ok) throw new Error('create failed');
    // A second key version: shredding must destroy every version, not just the active one.
    await rotateDataKey(tx, keys);
    const hook = await webhooksRepo.create(tx, sealer, { url: 'https://h.example/s', events: ['*'], secret: `hook-${CANARY}` });
    return { id, credId: cred.credential.id, hookId: hook.id };
  });
}

export function shreddingContract(factory: StoreFactory): void {
  describe(`crypto-shredding [${factory.label}]`, () => {
    let h: StoreHandle;
    let master: Buffer;
    let keys: Keyring;
    beforeAll(async () => {
      h = await factory.open();
      master = newMaster();
      keys = keyringFor(master);
    });
    afterAll(async () => h?.close());

    const read = (t: Seeded, k: Keyring = keys) =>
      h.store.withTenant(t.id, async (tx) => ({
        cred: await providerCredentialsRepo.readSecret(tx, tenantSealer(k), t.credId),
        hook: await webhooksRepo.readSecret(tx, tenantSealer(k), t.hookId),
      }));

    it("after the grace period the tenant's credentials and webhooks are unreadable; other tenants are intact", async () => {
      const doomed = await seed(h.store, keys, 'doomed');
      const bystander = await seed(h.store, keys, 'bystander');
      const now = new Date();
      const schedule = await h.store.withTenant(doomed.id, (tx) => scheduleTenantShred(tx, { graceMs: 24 * HOUR, now }));
      expect(schedule.shredAfter.getTime()).toBe(now.getTime() + 24 * HOUR);

      // During the grace period: still readable, no longer writable, and not yet due.
      expect(await read(doomed)).toEqual({ cred: `${CANARY}-doomed`, hook: `hook-${CANARY}` });
      const refused = await rejection(h.store.withTenant(doomed.id, (tx) => encryptForTenant(tx, keys, F, 'new')));
      expect((refused as EncryptError).reason).toBe('tenant_shredding');
      expect(await shredDueTenants(h.store, { now: new Date(now.getTime() + 23 * HOUR) })).toEqual({ shredded: [] });
      expect(await read(doomed)).toEqual({ cred: `${CANARY}-doomed`, hook: `hook-${CANARY}` });

      const done = await shredDueTenants(h.store, { now: new Date(now.getTime() + 25 * HOUR), keyrings: [keys] });
      expect(done.shredded).toEqual([{ tenantId: doomed.id, keysDestroyed: 2 }]);

      for (const k of [keys, keyringFor(master)]) {
        const err = await rejection(read(doomed, k));
        expect(err).toBeInstanceOf(DecryptError);
        expect((err as DecryptError).reason).toBe('key_destroyed');
        expect(err.message).toMatch(/destroyed \(crypto-shredded\)/);
        expectNoSecrets(err, [CANARY, master]);
      }
      const hookErr = await rejection(h.store.withTenant(doomed.id, (tx) => webhooksRepo.readSecret(tx, tenantSealer(keys), doomed.hookId)));
      expect((hookErr as DecryptError).reason).toBe('key_destroyed');

      // The key material is gone from the rows, not just flagged.
      const rows = await h.store.admin(
        async (tx) =>
          (await tx.query<{ state: string; gone: boolean }>('SELECT state, wrapped_key IS NULL AS gone FROM tenant_data_keys WHERE tenant_id = $1 ORDER BY version', [doomed.id]))
            .rows,
      );
      expect(rows).toEqual([
        { state: 'destroyed', gone: true },
        { state: 'destroyed', gone: true },
      ]);

      // Nothing brings it back: no new key, no cancellation, no rotation.
      const after = await rejection(h.store.withTenant(doomed.id, (tx) => encryptForTenant(tx, keys, F, 'new')));
      expect((after as EncryptError).reason).toBe('tenant_shredded');
      expect(await h.store.withTenant(doomed.id, (tx) => cancelTenantShred(tx))).toBe(false);
      expect((await rejection(h.store.withTenant(doomed.id, (tx) => rotateDataKey(tx, keys)))).name).toBe('EncryptError');
      expect((await h.store.withTenant(doomed.id, (tx) => keyringsRepo.shredStatus(tx)))?.shreddedAt).toBeInstanceOf(Date);

      // The other tenant is untouched.
      expect(await read(bystander)).toEqual({ cred: `${CANARY}-bystander`, hook: `hook-${CANARY}` });
      expect((await h.store.withTenant(bystander.id, (tx) => dataKeysRepo.list(tx))).map((k) => k.state)).toEqual(['retired', 'active']);
      // And a second run finds nothing to do.
      expect(await shredDueTenants(h.store, { now: new Date(now.getTime() + 48 * HOUR) })).toEqual({ shredded: [] });
    });

    it('a cancellation within the grace period keeps the keys', async () => {
      const t = await seed(h.store, keys, 'undo');
      const now = new Date();
      await h.store.withTenant(t.id, (tx) => scheduleTenantShred(tx, { graceMs: HOUR, now }));
      // Asking twice does not move the deadline.
      const again = await h.store.withTenant(t.id, (tx) => scheduleTenantShred(tx, { graceMs: 100 * HOUR, now }));
      expect(again.shredAfter.getTime()).toBe(now.getTime() + HOUR);
      expect(await h.store.withTenant(t.id, (tx) => cancelTenantShred(tx))).toBe(true);
      const res = await shredDueTenants(h.store, { now: new Date(now.getTime() + 2 * HOUR) });
      expect(res.shredded.map((s) => s.tenantId)).not.toContain(t.id);
      expect(await read(t)).toEqual({ cred: `${CANARY}-undo`, hook: `hook-${CANARY}` });
      await h.store.withTenant(t.id, (tx) => encryptForTenant(tx, keys, F, 'writable again'));
    });

    it('a tenant scheduled before it ever had a key cannot get one, and shreds cleanly', async () => {
      const id = await newTenant(h.store, 'keyless');
      await h.store.withTenant(id, (tx) => scheduleTenantShred(tx, { graceMs: 0 }));
      expect(((await rejection(h.store.withTenant(id, (tx) => encryptForTenant(tx, keys, F, 'x')))) as EncryptError).reason).toBe('tenant_shredding');
      const res = await shredDueTenants(h.store, { now: new Date(Date.now() + 1000) });
      expect(res.shredded).toEqual(expect.arrayContaining([{ tenantId: id, keysDestroyed: 0 }]));
      expect(((await rejection(h.store.withTenant(id, (tx) => encryptForTenant(tx, keys, F, 'x')))) as EncryptError).reason).toBe('tenant_shredded');
      expect(await h.store.withTenant(id, (tx) => dataKeysRepo.list(tx))).toEqual([]);
    });
  });
}
