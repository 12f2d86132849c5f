/** Data-key rotation (by budget and on request), re-encryption, and master-key rotation. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ciphertextKeyVersion, decryptForTenant, encryptForTenant, tenantSealer } from '../../../src/crypto/envelope.js';
import { createKeyring } from '../../../src/crypto/keyring.js';
import { localKms } from '../../../src/crypto/kms.js';
import { countDataKeysByKek, rotateMasterKey } from '../../../src/crypto/master-rotation.js';
import { reencryptTenant } from '../../../src/crypto/reencrypt.js';
import { DecryptError } from '../../../src/crypto/tenant-crypto-errors.js';
import { rotateDataKey } from '../../../src/crypto/tenant-keys.js';
import { dataKeysRepo, providerCredentialsRepo, webhooksRepo } from '../../../src/store/index.js';
import type { FieldRef } from '../../../src/store/index.js';
import { CANARY, expectNoSecrets, inSequence, keyringFor, newMaster, newTenant, rejection } from './fixtures.js';
import type { StoreFactory, StoreHandle } from './fixtures.js';

const F: FieldRef = { table: 'provider_credentials', recordId: '33333333-3333-4333-8333-333333333333', column: 'secret_ciphertext' };

export function rotationContract(factory: StoreFactory): void {
  describe(`data-key rotation [${factory.label}]`, () => {
    let h: StoreHandle;
    let master: Buffer;
    beforeAll(async () => {
      h = await factory.open();
      master = newMaster();
    });
    afterAll(async () => h?.close());

    it('rotates to a new version after the configured number of encryptions', async () => {
      const keys = keyringFor(master, { rotateAfter: 3 });
      const t = await newTenant(h.store, 'budget');
      const cts: Buffer[] = [];
      for (let i = 0; i < 7; i++) cts.push(await h.store.withTenant(t, (tx) => encryptForTenant(tx, keys, F, `n${i}`)));
      expect(cts.map(ciphertextKeyVersion)).toEqual([1, 1, 1, 2, 2, 2, 3]);
      expect(await h.store.withTenant(t, (tx) => dataKeysRepo.list(tx))).toMatchObject([
        { version: 1, state: 'retired', encryptions: 3 },
        { version: 2, state: 'retired', encryptions: 3 },
        { version: 3, state: 'active', encryptions: 1 },
      ]);
      // Every version still decrypts, also in a process that has cached nothing.
      const fresh = keyringFor(master, { cacheSize: 0 });
      const back = await h.store.withTenant(t, (tx) => inSequence(cts, (c) => decryptForTenant(tx, fresh, F, c)));
      expect(back.map(String)).toEqual(['n0', 'n1', 'n2', 'n3', 'n4', 'n5', 'n6']);
      // Within one transaction too.
      const inOne = await h.store.withTenant(t, async (tx) => {
        const out: number[] = [];
        for (let i = 0; i < 4; i++) out.push(ciphertextKeyVersion(await encryptForTenant(tx, keys, F, 'x')));
        return out;
      });
      expect(inOne).toEqual([3, 3, 4, 4]);
    });

    it('concurrent encryptions never use a key more often than the budget', async () => {
      const keys = keyringFor(master, { rotateAfter: 2 });
      const t = await newTenant(h.store, 'budget-race');
      const cts = await Promise.all(Array.from({ length: 12 }, (_, i) => h.store.withTenant(t, (tx) => encryptForTenant(tx, keys, F, `c${i}`))));
      const list = await h.store.withTenant(t, (tx) => dataKeysRepo.list(tx));
      expect(list.filter((k) => k.state === 'active')).toHaveLength(1);
      for (const k of list) expect(k.encryptions).toBeLessThanOrEqual(2);
      expect(list.reduce((n, k) => n + k.encryptions, 0)).toBe(12);
      const perVersion = new Map<number, number>();
      for (const c of cts) perVersion.set(ciphertextKeyVersion(c), (perVersion.get(ciphertextKeyVersion(c)) ?? 0) + 1);
      for (const k of list) expect(perVersion.get(k.version) ?? 0).toBe(k.encryptions);
      const back = await h.store.withTenant(t, (tx) => inSequence(cts, (c) => decryptForTenant(tx, keys, F, c)));
      expect(back.map(String).sort()).toEqual(Array.from({ length: 12 }, (_, i) => `c${i}`).sort());
    });

    it('rotation on request keeps old versions readable; re-encryption moves rows to the active key', async () => {
      const keys = keyringFor(master);
      const sealer = tenantSealer(keys);
      const t = await newTenant(h.store, 'rotate');
      const ids = await h.store.withTenant(t, async (tx) => {
        const out: Array<{ kind: 'cred' | 'hook'; id: string }> = [];
        for (let i = 0; i < 3; i++) {
          const r = await providerCredentialsRepo.create(tx, sealer, { name: `p${i}`, provider: 'openai', secret: `${CANARY}-${i}` });
          if (r.ok) out.push({ kind: 'cred', id: r.credential.id });
        }
        for (let i = 0; i < 2; i++) out.push({ kind: 'hook', id: (await webhooksRepo.create(tx, sealer, { url: 'https://h.example/x', events: [], secret: `hook-${i}` })).id });
        return out;
      });
      const readAll = (k = keys) =>
        h.store.withTenant(t, (tx) =>
          inSequence(ids, (r) => (r.kind === 'cred' ? providerCredentialsRepo.readSecret(tx, tenantSealer(k), r.id) : webhooksRepo.readSecret(tx, tenantSealer(k), r.id))),
        );
      const before = await readAll();
      expect(await h.store.withTenant(t, (tx) => rotateDataKey(tx, keys))).toBe(2);
      expect(await readAll(keyringFor(master, { cacheSize: 0 }))).toEqual(before);
      const versions = async () => [
        ...(await h.store.withTenant(t, (tx) => providerCredentialsRepo.list(tx))).map((c) => c.keyVersion),
        ...(await h.store.withTenant(t, (tx) => webhooksRepo.list(tx))).map((w) => w.keyVersion),
      ];
      expect(await versions()).toEqual([1, 1, 1, 1, 1]);
      expect(await reencryptTenant(h.store, keys, t, { batchSize: 2 })).toEqual({ below: 2, reencrypted: { provider_credentials: 3, webhooks: 2 } });
      expect(await versions()).toEqual([2, 2, 2, 2, 2]);
      expect(await readAll(keyringFor(master, { cacheSize: 0 }))).toEqual(before);
      expect(await reencryptTenant(h.store, keys, t)).toEqual({ below: 2, reencrypted: { provider_credentials: 0, webhooks: 0 } });
      expect((await h.store.withTenant(t, (tx) => dataKeysRepo.list(tx))).map((k) => [k.version, k.state])).toEqual([
        [1, 'retired'],
        [2, 'active'],
      ]);
    });
  });

  describe(`master-key rotation [${factory.label}]`, () => {
    let h: StoreHandle;
    beforeAll(async () => {
      h = await factory.open(); // a database of its own: the rotation walks every tenant
    });
    afterAll(async () => h?.close());

    it('re-wraps every data key to the new KEK while decryption keeps working, during and after', async () => {
      const oldMaster = newMaster();
      const newMasterKey = newMaster();
      const oldKms = localKms(oldMaster);
      const newKms = localKms(newMasterKey);
      const before = keyringFor(oldMaster, { rotateAfter: 2 }); // two versions for some tenants
      const tenants: Array<{ id: string; credId: string; secret: string }> = [];
      for (let i = 0; i < 5; i++) {
        const id = await newTenant(h.store, `mk${i}`);
        const secret = `${CANARY}-${i}`;
        const r = await h.store.withTenant(id, (tx) => providerCredentialsRepo.create(tx, tenantSealer(before), { name: 'c', provider: 'openai', secret }));
        if (!r.ok) throw new Error('create failed');
        for (let j = 0; j < i; j++) await h.store.withTenant(id, (tx) => encryptForTenant(tx, before, F, 'more'));
        tenants.push({ id, credId: r.credential.id, secret });
      }
      const oldCount = (await countDataKeysByKek(h.store))[oldKms.keyId] ?? 0;
      expect(oldCount).toBeGreaterThan(5);

      // Gateways during the rotation: new KEK current, old one still known; no cache, so every
      // read really unwraps from the rows as they are at that moment.
      const during = createKeyring(newKms, { previous: [oldKms], cacheSize: 0 });
      const readAll = (k = during) =>
        Promise.all(tenants.map((t) => h.store.withTenant(t.id, (tx) => providerCredentialsRepo.readSecret(tx, tenantSealer(k), t.credId))));
      const expected = tenants.map((t) => t.secret);
      let checks = 0;
      let stop = false;
      // Settled into a value at once, so a failure is reported below, not as unhandled.
      const reader = (async () => {
        while (!stop) {
          expect(await readAll()).toEqual(expected);
          checks++;
        }
      })().then(
        () => undefined,
        (err: unknown) => err,
      );
      // And deterministically: after each tenant's commit, with some tenants re-wrapped and
      // the rest not yet.
      let between = 0;
      const result = await rotateMasterKey(h.store, {
        from: [oldKms],
        to: newKms,
        onTenant: async () => {
          expect(await readAll()).toEqual(expected);
          between++;
        },
      }).finally(() => {
        stop = true;
      });
      const readerError = await reader;
      if (readerError !== undefined) throw readerError;
      expect(checks).toBeGreaterThan(0);
      expect(between).toBe(result.tenants);
      expect(result.unknownKek).toEqual([]);
      expect(result.rewrapped).toBe(oldCount);

      // A tenant that starts using keys now gets one wrapped by the new KEK.
      const lateTenant = await newTenant(h.store, 'late');
      await h.store.withTenant(lateTenant, (tx) => encryptForTenant(tx, during, F, 'late'));

      const counts = await countDataKeysByKek(h.store);
      expect(counts[oldKms.keyId]).toBeUndefined();
      expect(counts[newKms.keyId]).toBe(oldCount + 1);
      // After: the new key alone suffices; the old key alone no longer does.
      expect(await readAll(createKeyring(newKms, { cacheSize: 0 }))).toEqual(expected);
      const err = await rejection(readAll(createKeyring(oldKms, { cacheSize: 0 })));
      expect((err as DecryptError).reason).toBe('kek_unavailable');
      expectNoSecrets(err, [CANARY, oldMaster, newMasterKey]);
      const rows = await h.store.admin(
        async (tx) => (await tx.query<{ kek_id: string; rewrapped: boolean }>('SELECT kek_id, rewrapped_at IS NOT NULL AS rewrapped FROM tenant_data_keys WHERE tenant_id = $1', [tenants[4]?.id])).rows,
      );
      expect(rows.length).toBeGreaterThan(1);
      for (const r of rows) expect(r).toEqual({ kek_id: newKms.keyId, rewrapped: true });
      // Running it again has nothing left to do.
      expect(await rotateMasterKey(h.store, { from: [oldKms], to: newKms })).toMatchObject({ rewrapped: 0, unknownKek: [] });
    });

    it('reports keys under a KEK it was not given instead of guessing', async () => {
      const stray = localKms(newMaster());
      const target = localKms(newMaster());
      const t = await newTenant(h.store, 'stray');
      await h.store.withTenant(t, (tx) => encryptForTenant(tx, createKeyring(stray), F, 'x'));
      const result = await rotateMasterKey(h.store, { from: [], to: target });
      expect(result.unknownKek).toEqual(expect.arrayContaining([{ tenantId: t, version: 1, kekId: stray.keyId }]));
      expect((await countDataKeysByKek(h.store))[stray.keyId]).toBe(1);
    });
  });
}
