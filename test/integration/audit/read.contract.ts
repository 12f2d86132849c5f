/** Redaction as stored, queries with keyset pagination, the JSON-lines export, the CLI report. */
import { createHash, randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateApiKey } from '../../../src/crypto/keys.js';
import { appendAudit, canonicalJson, exportAuditJsonl, queryAudit, runAuditVerify } from '../../../src/audit/index.js';
import type { AuditEntry, AuditFilter } from '../../../src/audit/index.js';
import type { StoreFactory, StoreHandle } from '../store/factory.js';
import { appendMany, asOwner, newTenant, READER } from './helpers.js';

export function readContract(factory: StoreFactory): void {
  describe(`audit log: redaction, queries, export, CLI [${factory.label}]`, () => {
    let h: StoreHandle;
    beforeAll(async () => {
      h = await factory.open();
    });
    afterAll(async () => h?.close());

    it('planted canary secrets never reach the database, under any name or none', async () => {
      const t = await newTenant(h.store);
      const { key } = generateApiKey();
      const canaries = {
        gatewayKey: key,
        providerKey: 'sk-proj-CANARY0a1b2c3d4e5f',
        password: 'CANARY-pw-hunter2',
        bearer: 'CANARYbearer0123456789',
        jwt: 'eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJDQU5BUlkifQ.CANARYsig_abc',
        pem: '-----BEGIN PRIVATE KEY-----\nCANARYpemBODY\n-----END PRIVATE KEY-----',
        dsnPassword: 'CANARYdsnpass',
        nested: 'CANARY-nested-token-value',
      };
      await h.store.withTenant(t, (tx) =>
        appendAudit(tx, {
          actor: { kind: 'api_key', id: canaries.gatewayKey }, // a caller bug: the key instead of its id
          action: 'provider.update',
          target: { kind: 'provider_credential', id: `cred for ${canaries.providerKey}` },
          outcome: 'success',
          requestId: `r-${canaries.providerKey}`,
          before: { apiKey: canaries.providerKey, maxTokens: 1000, keyId: 'k-1' },
          after: {
            name: 'openai',
            password: canaries.password,
            headers: { Authorization: `Bearer ${canaries.bearer}`, 'x-note': `copied ${canaries.gatewayKey} here` },
            config: { auth: { client_secret: { value: 'x' }, accessToken: canaries.nested }, dsn: `postgres://u:${canaries.dsnPassword}@db/x` },
            token: canaries.jwt,
            notes: [`key: ${canaries.pem}`, `jwt ${canaries.jwt}`],
            [canaries.gatewayKey]: 'a key used as a field name',
          },
        }),
      );
      const raw = await asOwner(h.store, t, async (tx) =>
        (await tx.query<{ row: string }>('SELECT row_to_json(e)::text AS row FROM audit_entries e WHERE tenant_id = $1', [t])).rows
          .map((r) => r.row)
          .join('\n'),
      );
      expect(raw).toContain('[REDACTED]');
      expect(raw).not.toMatch(/CANARY/);
      expect(raw).not.toContain(key.slice(12)); // the secret part of the gateway key
      expect(raw).toContain(key.slice(0, 12)); // its public prefix is kept: it names the key
      // What is not secret survives: counts, ids, names.
      const [entry] = await h.store.withTenant(t, async (tx) => {
        const page = await queryAudit(tx, { action: 'provider.update' }, READER);
        return page.ok ? page.entries : [];
      });
      expect(entry?.before).toEqual({ apiKey: '[REDACTED]', maxTokens: 1000, keyId: 'k-1' });
      expect(entry?.after).toMatchObject({ name: 'openai', password: '[REDACTED]' });
    });

    describe('queries', () => {
      let t: string;
      let entries: AuditEntry[];
      beforeAll(async () => {
        t = await newTenant(h.store);
        entries = await appendMany(h.store, t, 25);
      });

      const query = (f: AuditFilter) => h.store.withTenant(t, (tx) => queryAudit(tx, f, READER));

      async function all(f: AuditFilter): Promise<number[]> {
        const seqs: number[] = [];
        let cursor: string | null = null;
        for (let pages = 0; pages < 20; pages++) {
          const r = await query({ ...f, cursor });
          if (!r.ok) throw new Error(r.message);
          seqs.push(...r.entries.map((e) => e.seq));
          if (r.nextCursor === null) return seqs;
          cursor = r.nextCursor;
        }
        throw new Error('pagination did not end');
      }

      it('pages newest first by keyset, with no duplicates or holes', async () => {
        const first = await query({ action: 'test.*', limit: 10 });
        expect(first.ok && first.entries.map((e) => e.seq)).toEqual([25, 24, 23, 22, 21, 20, 19, 18, 17, 16]);
        expect(await all({ action: 'test.*', limit: 10 })).toEqual(Array.from({ length: 25 }, (_, i) => 25 - i));
        expect(await all({ action: 'test.*', limit: 7, order: 'asc' })).toEqual(Array.from({ length: 25 }, (_, i) => i + 1));
        expect(await all({ action: 'test.*', limit: 25 })).toHaveLength(25);
      });

      it('filters by action, prefix, actor and time', async () => {
        expect(await all({ action: 'test.update' })).toEqual(entries.filter((e) => e.action === 'test.update').map((e) => e.seq).reverse());
        expect(await all({ action: 'test.*', actor: { id: 'user-1' } })).toEqual(
          entries.filter((e) => e.actor.id === 'user-1').map((e) => e.seq).reverse(),
        );
        expect(await all({ action: 'nothing.*' })).toEqual([]);
        const from = entries[5]?.at ?? new Date();
        const got = await all({ action: 'test.*', from, order: 'asc' });
        expect(got).toEqual(entries.filter((e) => e.at.getTime() >= from.getTime()).map((e) => e.seq));
        expect(await all({ action: 'test.*', to: entries[0]?.at ?? null })).toEqual([]);
      });

      it('refuses bad filters and foreign cursors as values, not errors', async () => {
        const asc = await query({ action: 'test.*', limit: 2, order: 'asc' });
        const ascCursor = asc.ok ? asc.nextCursor : null;
        expect(ascCursor).not.toBeNull();
        expect(await query({ cursor: ascCursor })).toMatchObject({ ok: false, reason: 'invalid_cursor' }); // desc query
        expect(await query({ cursor: 'bm9wZQ' })).toMatchObject({ ok: false, reason: 'invalid_cursor' });
        expect(await query({ limit: 0 })).toMatchObject({ ok: false, reason: 'invalid_limit' });
        expect(await query({ limit: 5000 })).toMatchObject({ ok: false, reason: 'invalid_limit' });
        expect(await query({ action: "x'; DROP TABLE audit_entries; --" })).toMatchObject({ ok: false, reason: 'invalid_action' });
        expect(await query({ from: new Date('nope') })).toMatchObject({ ok: false, reason: 'invalid_time' });
      });

      it('reading is itself audited, with who read and what they asked for', async () => {
        await query({ action: 'test.update', limit: 3 });
        const r = await query({ action: 'audit.read', limit: 1 });
        const read = r.ok ? r.entries[0] : undefined;
        expect(read).toMatchObject({
          action: 'audit.read',
          actor: READER.actor,
          sourceIp: '198.51.100.7',
          requestId: 'req-read',
          target: { kind: 'audit_log', id: null },
          outcome: 'success',
          after: { via: 'query', returned: 3, filter: { action: 'test.update', limit: 3, order: 'desc' } },
        });
        const v = await runAuditVerify(h.store, t);
        expect(v.exitCode).toBe(0);
      });

      it('exports JSON lines that carry what is needed to re-check every hash offline', async () => {
        const before = await h.store.withTenant(t, async (tx) => (await tx.query<{ n: number }>('SELECT count(*)::int AS n FROM audit_entries')).rows[0]?.n ?? 0);
        const lines = await h.store.withTenant(t, async (tx) => {
          const out: string[] = [];
          for await (const line of exportAuditJsonl(tx, {}, READER)) out.push(line);
          return out;
        });
        expect(lines).toHaveLength(before); // not its own read entry
        expect(lines.every((l) => l.endsWith('\n') && !l.slice(0, -1).includes('\n'))).toBe(true);
        let prev = '00'.repeat(32);
        for (const [i, line] of lines.entries()) {
          const { prev_hash, hash, version, ...fields } = JSON.parse(line) as Record<string, unknown>;
          expect(fields.seq).toBe(i + 1);
          expect(prev_hash).toBe(prev);
          const canonical = canonicalJson({ v: version, ...fields });
          const recomputed = createHash('sha256').update(Buffer.from(String(prev_hash), 'hex')).update(canonical).digest('hex');
          expect(recomputed).toBe(hash);
          prev = String(hash);
        }
        const last = await query({ action: 'audit.read', limit: 1 });
        expect(last.ok && last.entries[0]?.after).toMatchObject({ via: 'export', returned: null });
        const some = await h.store.withTenant(t, async (tx) => {
          const out: string[] = [];
          for await (const line of exportAuditJsonl(tx, { action: 'test.update', limit: 4 }, READER)) out.push(line);
          return out.map((l) => (JSON.parse(l) as { seq: number }).seq);
        });
        expect(some).toEqual(entries.filter((e) => e.action === 'test.update').slice(0, 4).map((e) => e.seq));
      });
    });

    describe('runAuditVerify (gatehouse audit verify)', () => {
      it('reports OK with the head, BROKEN naming the first broken entry, and unknown tenants', async () => {
        const t = await newTenant(h.store, 'cli');
        const slug = await h.store.platform(async (tx) => (await tx.query<{ slug: string }>('SELECT slug FROM tenants WHERE id = $1', [t])).rows[0]?.slug ?? '');
        const entries = await appendMany(h.store, t, 4);
        const ok = await runAuditVerify(h.store, slug);
        expect(ok.exitCode).toBe(0);
        expect(ok.report).toContain(`tenant ${slug} (${t}): OK, 4 entries verified`);
        expect(ok.report).toContain(`seq 4 hash ${entries[3]?.hash.toString('hex')}`);
        expect((await runAuditVerify(h.store, t.toUpperCase())).exitCode).toBe(0);

        await asOwner(h.store, t, (tx) => tx.query("UPDATE audit_entries SET outcome = 'denied' WHERE tenant_id = $1 AND seq = 2", [t]));
        const broken = await runAuditVerify(h.store, slug, { recordAs: { kind: 'platform_admin', id: 'cli' } });
        expect(broken.exitCode).toBe(1);
        expect(broken.report).toContain('BROKEN at entry 2 (hash_mismatch)');
        const recorded = await h.store.withTenant(t, async (tx) => {
          const r = await queryAudit(tx, { action: 'audit.verify' }, READER);
          return r.ok ? r.entries.map((e) => ({ outcome: e.outcome, after: e.after })) : [];
        });
        expect(recorded).toEqual([{ outcome: 'failure', after: { ok: false, first_broken_seq: 2, reason: 'hash_mismatch' } }]);

        expect(await runAuditVerify(h.store, 'no-such-tenant')).toEqual({ exitCode: 2, report: 'gatehouse audit verify: no tenant "no-such-tenant"\n' });
        expect((await runAuditVerify(h.store, randomUUID())).exitCode).toBe(2);
      });
    });
  });
}
