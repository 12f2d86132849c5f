/**
 * A deployment whose gateway connects as a role that owns nothing (DESIGN §3), on PostgreSQL:
 * the owner migrates and makes the partitions (`gatehouse migrate`, `gatehouse maintenance`),
 * the gateway role only verifies the schema version and checks the partitions.
 *
 * - the gateway role may not migrate; it starts on a current schema, refuses a schema behind it
 *   with the fix in the message; the owner's commands refuse its credentials;
 * - with next month's partition missing, the gateway role's check names it (log, metric) while an
 *   event of that month lands in the default partition; `gatehouse maintenance` as the owner makes
 *   the partition, moving the event into it, and the check is clean again;
 * - a whole gateway runs as that role: it serves, meters into this month's partition, and its
 *   /metrics say it checks rather than maintains, with nothing missing.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import pg from 'pg';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runMaintenance, runMigrate } from '../../../src/cli/maintenance.js';
import { maintainOrCheck } from '../../../src/metering/maintenance.js';
import { mayMigrate, openStore, prepareSchema, tenantsRepo, usageRepo, verifyMigrations, type Store } from '../../../src/store/index.js';
import { migrationChecksum } from '../../../src/store/migrate.js';
import { MIGRATIONS } from '../../../src/store/migrations/index.js';
import { createPostgresTestDatabase, type PostgresTestDatabase } from '../../../src/store/testing.js';
import { DEMO_KEY, startTestGateway } from '../../helpers/gateway.js';
import { POSTGRES_URL, postgresAvailable } from '../../helpers/services.js';
import { randomEvents } from './events.js';

const available = await postgresAvailable();

function monthId(d: Date): string {
  return `${d.getUTCFullYear()}_${String(d.getUTCMonth() + 1).padStart(2, '0')}`;
}

function captureLogger() {
  const lines: { level: string; msg: string; fields: unknown }[] = [];
  const at = (level: string) => (fields: unknown, msg?: string) => void lines.push({ level, msg: msg ?? String(fields), fields });
  return { lines, logger: { info: at('info'), warn: at('warn'), error: at('error') } };
}

describe.skipIf(!available)('the gateway as a role that owns nothing [PostgreSQL]', () => {
  let db: PostgresTestDatabase;
  let role: string;
  let gatewayUrl: string;
  let owner: Store;
  let gateway: Store;
  const ownerEnv = () => ({ DATABASE_URL: db.url, GATEHOUSE_LOG_LEVEL: 'silent' });

  async function asOwner<T>(fn: (c: pg.Client) => Promise<T>): Promise<T> {
    const c = new pg.Client({ connectionString: db.url });
    await c.connect();
    try {
      return await fn(c);
    } finally {
      await c.end();
    }
  }

  beforeAll(async () => {
    db = await createPostgresTestDatabase(POSTGRES_URL);
    // The owner (here the server's superuser) installs the schema with the command operators run.
    const migrated = await runMigrate({ monthsAhead: 2 }, ownerEnv());
    expect(migrated, migrated.err).toMatchObject({ exitCode: 0 });
    const lastId = String(MIGRATIONS[MIGRATIONS.length - 1]!.id).padStart(4, '0');
    // The migration makes this month's and the next two months' partitions itself: all counted.
    expect(migrated.out).toMatch(new RegExp(`^migrate: applied 0001, .*${lastId}; 3 usage partitions made \\(2 months ahead\\)\n$`));
    // Once more: nothing to apply, nothing made; a month further ahead is one more.
    expect((await runMigrate({ monthsAhead: 2 }, ownerEnv())).out).toBe('migrate: the schema was current; 0 usage partitions made (2 months ahead)\n');
    expect((await runMigrate({ monthsAhead: 3 }, ownerEnv())).out).toBe('migrate: the schema was current; 1 usage partition made (3 months ahead)\n');
    // The production login role: no rights of its own, may switch to the two application roles.
    role = `gh_gateway_${randomBytes(4).toString('hex')}`;
    await asOwner(async (c) => {
      await c.query(`CREATE ROLE ${role} LOGIN NOINHERIT`);
      await c.query(`GRANT gatehouse_app, gatehouse_platform TO ${role}`);
    });
    const u = new URL(db.url);
    u.username = role;
    gatewayUrl = u.toString();
    owner = await openStore({ databaseUrl: db.url });
    gateway = await openStore({ databaseUrl: gatewayUrl });
  }, 120_000);

  afterAll(async () => {
    await gateway?.close();
    await owner?.close();
    await db?.drop();
    const c = new pg.Client({ connectionString: POSTGRES_URL });
    await c.connect();
    await c.query(`DROP ROLE IF EXISTS ${role}`).catch(() => undefined);
    await c.end();
  });

  it('may not migrate: verifies the version instead, and is told what to run when the schema is behind', async () => {
    expect(await mayMigrate(owner)).toBe(true);
    expect(await mayMigrate(gateway)).toBe(false);
    expect(await prepareSchema(gateway)).toEqual({ owner: false, applied: [] });
    await expect(gateway.migrate()).rejects.toThrow(/permission denied/);

    const last = MIGRATIONS[MIGRATIONS.length - 1]!;
    await asOwner((c) => c.query('DELETE FROM schema_migrations WHERE id = $1', [last.id]));
    try {
      await expect(verifyMigrations(gateway)).rejects.toThrow(new RegExp(`lacks migration ${String(last.id).padStart(4, '0')} .*gatehouse migrate.*owner`));
    } finally {
      await asOwner((c) => c.query('INSERT INTO schema_migrations (id, name, checksum) VALUES ($1, $2, $3)', [last.id, last.name, migrationChecksum(last)]));
    }
    await expect(verifyMigrations(gateway)).resolves.toBeUndefined();

    // The owner's commands refuse the gateway's credentials, saying why.
    for (const run of [runMigrate, runMaintenance]) {
      const r = await run({}, { DATABASE_URL: gatewayUrl, GATEHOUSE_LOG_LEVEL: 'silent' });
      expect(r.exitCode).toBe(1);
      expect(r.err).toMatch(/does not own the schema/);
    }
  });

  it("names next month's missing partition while its events land in the default one; the owner's maintenance fixes both", async () => {
    const now = new Date();
    const next = new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth() + 1, 15));
    const part = `usage_events_${monthId(next)}`;
    await asOwner((c) => c.query(`DROP TABLE ${part}`));

    const opts = { defaultDays: 90, maxDays: 400, monthsAhead: 2, intervalMs: 0 };
    const { lines, logger } = captureLogger();
    const checked = await maintainOrCheck(gateway, opts, logger, now);
    expect(checked).toEqual({ mode: 'check', missing: [monthId(next)] });
    expect(lines.filter((l) => l.level === 'warn').map((l) => l.msg)).toEqual([expect.stringContaining('gatehouse maintenance')]);
    expect(lines.filter((l) => l.level === 'error')).toEqual([]);

    // The gateway role inserts an event of next month anyway: the default partition takes it.
    const tenant = randomUUID();
    await gateway.withTenant(tenant, (tx) => tenantsRepo.insert(tx, { slug: `n-${tenant.slice(0, 8)}`, name: 'N' }));
    await gateway.withTenant(tenant, (tx) => usageRepo.ingest(tx, randomEvents(tenant, 1, 7, next.getTime())));
    const where = () =>
      asOwner(async (c) => (await c.query<{ part: string }>('SELECT tableoid::regclass::text AS part FROM usage_events WHERE tenant_id = $1', [tenant])).rows.map((r) => r.part));
    expect(await where()).toEqual(['usage_events_default']);

    const r = await runMaintenance({}, ownerEnv(), now);
    expect(r, r.err).toMatchObject({ exitCode: 0 });
    expect(r.out).toMatch(/^maintenance: 1 usage partitions made/);
    expect(await where()).toEqual([part]);
    expect(await maintainOrCheck(gateway, opts, logger, now)).toEqual({ mode: 'check', missing: [] });
  });

  it('a whole gateway runs as that role: serves, meters into the month’s partition, and says it only checks', async () => {
    const gw = await startTestGateway({ env: { DATABASE_URL: gatewayUrl, GATEHOUSE_MASTER_KEY: randomBytes(32).toString('hex') } });
    try {
      const res = await request(`${gw.url}/v1/chat/completions`, {
        method: 'POST',
        headers: { authorization: `Bearer ${DEMO_KEY}`, 'content-type': 'application/json' },
        body: JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }] }),
      });
      expect(res.statusCode).toBe(200);
      await res.body.text();
      await gw.metering.drain(10_000);
      const parts = await asOwner(async (c) => (await c.query<{ part: string }>('SELECT DISTINCT tableoid::regclass::text AS part FROM usage_events')).rows.map((r) => r.part));
      expect(parts).toContain(`usage_events_${monthId(new Date())}`);
      const metrics = await (await request(`${gw.url}/metrics`)).body.text();
      expect(metrics).toMatch(/^gatehouse_usage_partitions_missing 0$/m);
      expect(metrics).toMatch(/^gatehouse_usage_maintenance_owner 0$/m);
      expect(gw.logs.join('')).toContain('does not own');
      expect(gw.logs.join('')).not.toContain('usage maintenance failed');
      // Nothing else it does at start needed the owner either.
      const errors = gw.logs.flatMap((l) => l.split('\n')).filter((l) => l.startsWith('{') && (JSON.parse(l) as { level: number }).level >= 50);
      expect(errors).toEqual([]);
    } finally {
      await gw.stop();
    }
  }, 90_000);
});
