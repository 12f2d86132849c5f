/** Field encryption with tenant data keys: round trip, binding, tampering, keys, lazy creation. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ciphertextKeyVersion, decryptForTenant, encryptForTenant, tenantSealer } from '../../../src/crypto/envelope.js';
import type { Keyring } from '../../../src/crypto/keyring.js';
import { localKms } from '../../../src/crypto/kms.js';
import type { Kms } from '../../../src/crypto/kms.js';
import { DecryptError } from '../../../src/crypto/tenant-crypto-errors.js';
import { rotateDataKey, wrapAad } from '../../../src/crypto/tenant-keys.js';
import { createKeyring } from '../../../src/crypto/keyring.js';
import { dataKeysRepo, providerCredentialsRepo, webhooksRepo } from '../../../src/store/index.js';
import type { FieldRef, Store } from '../../../src/store/index.js';
import { CANARY, expectNoSecrets, inSequence, keyringFor, newMaster, newTenant, rejection } from './fixtures.js';
import type { StoreFactory, StoreHandle } from './fixtures.js';

const F = (recordId: string, column = 'secret_ciphertext', table = 'provider_credentials'): FieldRef => ({ table, recordId, column });
const ID1 = '11111111-1111-4111-8111-111111111111';
const ID2 = '22222222-2222-4222-8222-222222222222';

async function rawSecret(store: Store, table: 'provider_credentials' | 'webhooks', tenantId: string, id: string): Promise<Buffer> {
  const sql =
    table === 'webhooks'
      ? 'SELECT secret_ciphertext FROM webhooks WHERE tenant_id = $1 AND id = $2'
      : 'SELECT secret_ciphertext FROM provider_credentials WHERE tenant_id = $1 AND id = $2';
  const { rows } = await store.admin((tx) => tx.query<{ secret_ciphertext: Buffer }>(sql, [tenantId, id]));
  const r = rows[0];
  if (r === undefined) throw new Error('no such row');
  return Buffer.from(r.secret_ciphertext);
}

async function setRawSecret(store: Store, table: 'provider_credentials' | 'webhooks', tenantId: string, id: string, ct: Buffer): Promise<void> {
  const sql =
    table === 'webhooks'
      ? 'UPDATE webhooks SET secret_ciphertext = $3 WHERE tenant_id = $1 AND id = $2'
      : 'UPDATE provider_credentials SET secret_ciphertext = $3 WHERE tenant_id = $1 AND id = $2';
  const r = await store.admin((tx) => tx.query(sql, [tenantId, id, ct]));
  expect(r.rowCount).toBe(1);
}

export function envelopeContract(factory: StoreFactory): void {
  describe(`tenant envelope encryption [${factory.label}]`, () => {
    let h: StoreHandle;
    let master: Buffer;
    let keys: Keyring;
    let a: string;
    let b: string;
    let aCred: string;
    let bCred: string;
    let aHook: string;

    beforeAll(async () => {
      h = await factory.open();
      master = newMaster();
      keys = keyringFor(master);
      a = await newTenant(h.store, 'enc-a');
      b = await newTenant(h.store, 'enc-b');
      const sealer = tenantSealer(keys);
      const created = await h.store.withTenant(a, async (tx) => ({
        cred: await providerCredentialsRepo.create(tx, sealer, { name: 'openai', provider: 'openai', secret: CANARY }),
        hook: await webhooksRepo.create(tx, sealer, { url: 'https://hooks.example.com/x', events: ['key.created'], secret: `whsec-${CANARY}` }),
      }));
      if (!created.cred.ok) throw new Error('seed failed');
      aCred = created.cred.credential.id;
      aHook = created.hook.id;
      const other = await h.store.withTenant(b, (tx) =>
        providerCredentialsRepo.create(tx, sealer, { name: 'openai', provider: 'openai', secret: 'sk-b-secret' }),
      );
      if (!other.ok) throw new Error('seed failed');
      bCred = other.credential.id;
    });
    afterAll(async () => h?.close());

    const readA = (k: Keyring = keys) => h.store.withTenant(a, (tx) => providerCredentialsRepo.readSecret(tx, tenantSealer(k), aCred));

    it('round trip: secrets come back as written, and the rows hold only ciphertext', async () => {
      expect(await readA()).toBe(CANARY);
      expect(await h.store.withTenant(a, (tx) => webhooksRepo.readSecret(tx, tenantSealer(keys), aHook))).toBe(`whsec-${CANARY}`);
      const raw = await rawSecret(h.store, 'provider_credentials', a, aCred);
      expect(raw.includes(Buffer.from(CANARY))).toBe(false);
      expect(raw[0]).toBe(1);
      expect(ciphertextKeyVersion(raw)).toBe(1);
      const meta = await h.store.withTenant(a, (tx) => providerCredentialsRepo.get(tx, aCred));
      expect(meta).toMatchObject({ name: 'openai', provider: 'openai', keyVersion: 1 });
      expect(JSON.stringify(meta)).not.toContain(CANARY);
      // Empty and large values, strings and bytes.
      for (const value of ['', 'é', Buffer.alloc(70_000, 7)]) {
        const back = await h.store.withTenant(a, async (tx) => decryptForTenant(tx, keys, F(ID1), await encryptForTenant(tx, keys, F(ID1), value)));
        expect(back.equals(typeof value === 'string' ? Buffer.from(value) : value)).toBe(true);
      }
    });

    it('the same plaintext encrypts differently each time (random IV)', async () => {
      const [x, y] = await h.store.withTenant(a, async (tx) => [
        await encryptForTenant(tx, keys, F(ID1), 'same'),
        await encryptForTenant(tx, keys, F(ID1), 'same'),
      ]);
      expect(x?.equals(y ?? Buffer.alloc(0))).toBe(false);
    });

    it('creates the data key lazily on first use, wrapped by the current KEK', async () => {
      const c = await newTenant(h.store, 'lazy');
      expect(await h.store.withTenant(c, (tx) => dataKeysRepo.list(tx))).toEqual([]);
      await h.store.withTenant(c, (tx) => encryptForTenant(tx, keys, F(ID1), 'x'));
      const list = await h.store.withTenant(c, (tx) => dataKeysRepo.list(tx));
      expect(list).toMatchObject([{ version: 1, state: 'active', kekId: keys.current.keyId, encryptions: 1 }]);
      // Decrypting never creates a key.
      const d = await newTenant(h.store, 'nokey');
      const ct = await h.store.withTenant(c, (tx) => encryptForTenant(tx, keys, F(ID1), 'x'));
      expect((await rejection(h.store.withTenant(d, (tx) => decryptForTenant(tx, keys, F(ID1), ct))) as DecryptError).reason).toBe('key_not_found');
      expect(await h.store.withTenant(d, (tx) => dataKeysRepo.list(tx))).toEqual([]);
    });

    it("a ciphertext copied into another tenant's row fails to decrypt", async () => {
      const aRaw = await rawSecret(h.store, 'provider_credentials', a, aCred);
      const bRaw = await rawSecret(h.store, 'provider_credentials', b, bCred);
      await setRawSecret(h.store, 'provider_credentials', b, bCred, aRaw);
      try {
        const err = await rejection(h.store.withTenant(b, (tx) => providerCredentialsRepo.readSecret(tx, tenantSealer(keys), bCred)));
        expect(err).toBeInstanceOf(DecryptError);
        expect((err as DecryptError).reason).toBe('authentication_failed');
        expect(err.message).toMatch(/provider_credentials\.secret_ciphertext .* does not authenticate/);
        expectNoSecrets(err, [CANARY, master]);
        // Even with the source record's id: the tenant is bound too.
        const again = await rejection(h.store.withTenant(b, (tx) => decryptForTenant(tx, keys, F(aCred), aRaw)));
        expect((again as DecryptError).reason).toBe('authentication_failed');
      } finally {
        await setRawSecret(h.store, 'provider_credentials', b, bCred, bRaw);
      }
      expect(await h.store.withTenant(b, (tx) => providerCredentialsRepo.readSecret(tx, tenantSealer(keys), bCred))).toBe('sk-b-secret');
    });

    it('a ciphertext copied to another row of the same tenant fails to decrypt', async () => {
      const second = await h.store.withTenant(a, (tx) =>
        providerCredentialsRepo.create(tx, tenantSealer(keys), { name: `azure-${ID2.slice(0, 4)}`, provider: 'azure', secret: 'other' }),
      );
      if (!second.ok) throw new Error('create failed');
      await setRawSecret(h.store, 'provider_credentials', a, second.credential.id, await rawSecret(h.store, 'provider_credentials', a, aCred));
      const err = await rejection(h.store.withTenant(a, (tx) => providerCredentialsRepo.readSecret(tx, tenantSealer(keys), second.credential.id)));
      expect((err as DecryptError).reason).toBe('authentication_failed');
      expectNoSecrets(err, [CANARY]);
    });

    it('a ciphertext moved to another table or column fails to decrypt', async () => {
      const hookRaw = await rawSecret(h.store, 'webhooks', a, aHook);
      await setRawSecret(h.store, 'webhooks', a, aHook, await rawSecret(h.store, 'provider_credentials', a, aCred));
      try {
        const err = await rejection(h.store.withTenant(a, (tx) => webhooksRepo.readSecret(tx, tenantSealer(keys), aHook)));
        expect((err as DecryptError).reason).toBe('authentication_failed');
      } finally {
        await setRawSecret(h.store, 'webhooks', a, aHook, hookRaw);
      }
      // Same table and record, another column; same record and column, another table.
      const ct = await h.store.withTenant(a, (tx) => encryptForTenant(tx, keys, F(ID1, 'secret_ciphertext'), CANARY));
      for (const wrong of [F(ID1, 'headers_ciphertext'), F(ID1, 'secret_ciphertext', 'webhooks'), F(ID2)]) {
        const err = await rejection(h.store.withTenant(a, (tx) => decryptForTenant(tx, keys, wrong, ct)));
        expect({ wrong, reason: (err as DecryptError).reason }).toEqual({ wrong, reason: 'authentication_failed' });
      }
      expect((await h.store.withTenant(a, (tx) => decryptForTenant(tx, keys, F(ID1), ct))).toString()).toBe(CANARY);
    });

    it('tampering with any part of a ciphertext fails, with a reason', async () => {
      const ct = await h.store.withTenant(a, (tx) => encryptForTenant(tx, keys, F(ID1), CANARY));
      const flip = (i: number) => {
        const c = Buffer.from(ct);
        c[i] = (c[i] ?? 0) ^ 0x01;
        return c;
      };
      const cases: Array<[string, Buffer, string[]]> = [
        ['format byte', flip(0), ['malformed']],
        ['key version 1 -> 0', flip(4), ['malformed']],
        ['key version high bit', flip(1).fill(0xff, 1, 2), ['malformed']],
        ['iv', flip(7), ['authentication_failed']],
        ['body', flip(20), ['authentication_failed']],
        ['tag', flip(ct.length - 1), ['authentication_failed']],
        ['truncated tag', ct.subarray(0, ct.length - 4), ['authentication_failed']],
        ['appended byte', Buffer.concat([ct, Buffer.from([0])]), ['authentication_failed']],
        ['too short', ct.subarray(0, 20), ['malformed']],
        ['empty', Buffer.alloc(0), ['malformed']],
      ];
      for (const [what, bad, reasons] of cases) {
        const err = await rejection(h.store.withTenant(a, (tx) => decryptForTenant(tx, keys, F(ID1), bad)));
        expect(err, what).toBeInstanceOf(DecryptError);
        expect(reasons, what).toContain((err as DecryptError).reason);
        expectNoSecrets(err, [CANARY, master]);
      }
    });

    it('relabelling a ciphertext with another key version fails (the version is bound)', async () => {
      const t = await newTenant(h.store, 'relabel');
      const v1 = await h.store.withTenant(t, (tx) => encryptForTenant(tx, keys, F(ID1), CANARY));
      expect(await h.store.withTenant(t, (tx) => rotateDataKey(tx, keys))).toBe(2);
      const relabelled = Buffer.from(v1);
      relabelled.writeUInt32BE(2, 1);
      const err = await rejection(h.store.withTenant(t, (tx) => decryptForTenant(tx, keys, F(ID1), relabelled)));
      expect((err as DecryptError).reason).toBe('authentication_failed');
      expect((await h.store.withTenant(t, (tx) => decryptForTenant(tx, keys, F(ID1), v1))).toString()).toBe(CANARY);
    });

    it('a wrong master key cannot decrypt, with or without the right key id', async () => {
      const wrong = keyringFor(newMaster());
      const err = await rejection(readA(wrong));
      expect((err as DecryptError).reason).toBe('kek_unavailable');
      expect(err.message).toContain(keys.current.keyId);
      expectNoSecrets(err, [CANARY, master]);
      // An impostor KMS claiming the right key id but holding another key.
      const other = localKms(newMaster());
      const impostor: Kms = { keyId: keys.current.keyId, wrap: other.wrap, unwrap: other.unwrap };
      const err2 = await rejection(readA(createKeyring(impostor)));
      expect((err2 as DecryptError).reason).toBe('unwrap_failed');
      expectNoSecrets(err2, [CANARY, master]);
      // The right master key in a fresh process (empty cache) still works.
      expect(await readA(keyringFor(master))).toBe(CANARY);
    });

    it("a tampered wrapped key, or another tenant's wrapped key, does not unwrap", async () => {
      const t = await newTenant(h.store, 'wrapped');
      const ct = await h.store.withTenant(t, (tx) => encryptForTenant(tx, keys, F(ID1), CANARY));
      const own = await h.store.admin(async (tx) => (await tx.query<{ w: Buffer }>('SELECT wrapped_key AS w FROM tenant_data_keys WHERE tenant_id = $1', [t])).rows[0]?.w);
      const aKey = await h.store.admin(async (tx) => (await tx.query<{ w: Buffer }>('SELECT wrapped_key AS w FROM tenant_data_keys WHERE tenant_id = $1 AND version = 1', [a])).rows[0]?.w);
      const setWrapped = (w: Buffer | undefined) =>
        h.store.admin((tx) => tx.query('UPDATE tenant_data_keys SET wrapped_key = $2 WHERE tenant_id = $1 AND version = 1', [t, w]));
      const tampered = Buffer.from(own ?? Buffer.alloc(0));
      tampered[30] = (tampered[30] ?? 0) ^ 0x80;
      for (const bad of [tampered, aKey]) {
        await setWrapped(bad);
        const err = await rejection(h.store.withTenant(t, (tx) => decryptForTenant(tx, keyringFor(master), F(ID1), ct)));
        expect((err as DecryptError).reason).toBe('unwrap_failed');
        expectNoSecrets(err, [CANARY, master]);
      }
      await setWrapped(own);
      expect((await h.store.withTenant(t, (tx) => decryptForTenant(tx, keyringFor(master), F(ID1), ct))).toString()).toBe(CANARY);
    });

    it('concurrent first uses end with exactly one active key', async () => {
      const t = await newTenant(h.store, 'race');
      const fresh = keyringFor(master); // no cached key to hide a second one
      const cts = await Promise.all(
        Array.from({ length: 8 }, (_, i) => h.store.withTenant(t, (tx) => encryptForTenant(tx, fresh, F(ID1), `v${i}`))),
      );
      const list = await h.store.withTenant(t, (tx) => dataKeysRepo.list(tx));
      expect(list).toMatchObject([{ version: 1, state: 'active', encryptions: 8 }]);
      const back = await h.store.withTenant(t, (tx) => inSequence(cts, (c) => decryptForTenant(tx, keyringFor(master), F(ID1), c)));
      expect(back.map((x) => x.toString()).sort()).toEqual(Array.from({ length: 8 }, (_, i) => `v${i}`).sort());
    });

    it('no failure exposes the canary, the data key, its wrapped form or the master key', async () => {
      const t = await newTenant(h.store, 'canary');
      const ct = await h.store.withTenant(t, (tx) => encryptForTenant(tx, keys, F(ID1), CANARY));
      const wrapped = await h.store.admin(
        async (tx) => (await tx.query<{ w: Buffer }>('SELECT wrapped_key AS w FROM tenant_data_keys WHERE tenant_id = $1 AND version = 1', [t])).rows[0]?.w,
      );
      if (wrapped === undefined) throw new Error('no key');
      const dataKey = await localKms(master).unwrap(Buffer.from(wrapped), wrapAad(t, 1));
      const other = localKms(newMaster());
      const impostor: Kms = { keyId: keys.current.keyId, wrap: other.wrap, unwrap: other.unwrap };
      const tampered = Buffer.from(ct);
      tampered[25] = (tampered[25] ?? 0) ^ 4;
      const version9 = Buffer.from(ct);
      version9.writeUInt32BE(9, 1);
      const attempts: Array<[string, () => Promise<unknown>]> = [
        ['authentication_failed', () => h.store.withTenant(a, (tx) => decryptForTenant(tx, keys, F(ID1), ct))],
        ['authentication_failed', () => h.store.withTenant(t, (tx) => decryptForTenant(tx, keys, F(ID2), ct))],
        ['authentication_failed', () => h.store.withTenant(t, (tx) => decryptForTenant(tx, keys, F(ID1), tampered))],
        ['key_not_found', () => h.store.withTenant(t, (tx) => decryptForTenant(tx, keys, F(ID1), version9))],
        ['malformed', () => h.store.withTenant(t, (tx) => decryptForTenant(tx, keys, F(ID1), ct.subarray(0, 10)))],
        ['kek_unavailable', () => h.store.withTenant(t, (tx) => decryptForTenant(tx, keyringFor(newMaster()), F(ID1), ct))],
        ['unwrap_failed', () => h.store.withTenant(t, (tx) => decryptForTenant(tx, createKeyring(impostor), F(ID1), ct))],
      ];
      for (const [reason, attempt] of attempts) {
        const err = await rejection(attempt());
        expect({ reason, got: (err as DecryptError).reason }).toEqual({ reason, got: reason });
        expectNoSecrets(err, [CANARY, dataKey, Buffer.from(wrapped), master, ct]);
      }
    });

    it('a bad field name is refused before a key use is counted', async () => {
      const t = await newTenant(h.store, 'field');
      await expect(h.store.withTenant(t, (tx) => encryptForTenant(tx, keys, F(''), 'x'))).rejects.toThrow(RangeError);
      expect(await h.store.withTenant(t, (tx) => dataKeysRepo.list(tx))).toEqual([]);
    });
  });
}
