/** What the store contract suites need from an implementation, and shared fixtures. */
import { randomBytes, randomUUID } from 'node:crypto';
import { appendAudit } from '../../../src/audit/index.js';
import { tenantSealer } from '../../../src/crypto/envelope.js';
import { createKeyring } from '../../../src/crypto/keyring.js';
import { generateApiKey, hashApiKey, keyPrefix } from '../../../src/crypto/keys.js';
import { localKms } from '../../../src/crypto/kms.js';
import {
  adminKeysRepo,
  apiKeysRepo,
  domainsRepo,
  idempotencyRepo,
  limitRulesRepo,
  membershipsRepo,
  plansRepo,
  policiesRepo,
  modelAliasesRepo,
  providerCredentialsRepo,
  requestLogsRepo,
  tenantDeploymentsRepo,
  serviceAccountsRepo,
  teamsRepo,
  tenantsRepo,
  upsertTenantBySlug,
  usageRepo,
  alertsRepo,
  usersRepo,
  webhooksRepo,
} from '../../../src/store/index.js';
import type { Store } from '../../../src/store/index.js';
import { jwtIssuersRepo } from '../../../src/store/repos/jwt-issuers.js';
import { billingRepo } from '../../../src/store/repos/billing.js';

export interface StoreHandle {
  store: Store;
  close(): Promise<void>;
}

export interface StoreFactory {
  label: string;
  /** A migrated store on a database of its own. */
  open(opts?: { poolSize?: number }): Promise<StoreHandle>;
  /** An empty store on a database of its own, not migrated (tests of one migration's data conversion). */
  openUnmigrated?(): Promise<StoreHandle>;
}

export const PEPPER = Buffer.alloc(32, 0x5a);
const SEED_KEYRING = createKeyring(localKms(Buffer.alloc(32, 0x6b)));

export interface SeededTenant {
  id: string;
  slug: string;
  domain: string;
  teamId: string;
  keyId: string;
  key: string;
}

export const uniq = (): string => randomBytes(4).toString('hex');

export async function seedTenant(store: Store, label: string): Promise<SeededTenant> {
  const slug = `${label}-${uniq()}`;
  const { tenant } = await upsertTenantBySlug(store, {
    slug,
    name: `Tenant ${label}`,
    settings: { secretish: `settings of ${slug}` },
  });
  const domain = `${slug}.example.com`;
  const { key } = generateApiKey();
  return store.withTenant(tenant.id, async (tx) => {
    const added = await domainsRepo.add(tx, domain);
    if (!added.ok) throw new Error('seed: domain taken');
    const team = await teamsRepo.upsert(tx, { slug: 'core', name: 'Core' });
    const inserted = await apiKeysRepo.insert(tx, {
      teamId: team.id,
      name: 'seed key',
      prefix: keyPrefix(key),
      hash: hashApiKey(key, PEPPER),
      scopes: ['inference'],
    });
    if (!inserted.ok) throw new Error('seed: key in use');
    // An encrypted credential and webhook: the encryption tables (keys, keyring, both entity
    // tables) get rows for the RLS suites too.
    const sealer = tenantSealer(SEED_KEYRING);
    const credential = await providerCredentialsRepo.create(tx, sealer, { name: 'seed', provider: 'openai', secret: `sk-seed-${slug}` });
    if (!credential.ok) throw new Error('seed: credential');
    // A dedicated deployment using it, and an alias (0012), for the RLS suites.
    await tenantDeploymentsRepo.create(tx, {
      model: `llm-${slug}`,
      kind: 'chat',
      provider: 'openai',
      baseUrl: `https://llm.${domain}/v1`,
      credentialId: credential.credential.id,
      upstreamModel: 'gpt-4o',
      apiVersion: null,
      region: 'default',
      capacity: 8,
      timeoutMs: 30_000,
      prices: { input: 1, output: 2, cachedInput: 0, request: 0 },
    });
    await modelAliasesRepo.put(tx, 'fast', `llm-${slug}`);
    const hook = await webhooksRepo.create(tx, sealer, { url: `https://${domain}/hook`, events: ['key.created'], secret: `whsec-${slug}` });
    // An alert with a delivery, so both alert tables have rows (migration 0014). The seeded
    // webhook is not subscribed to alerts: the outbox row is written directly.
    const raised = await alertsRepo.raise(tx, { kind: 'usage.anomaly', alertKey: 'seed', payload: { seed: true } });
    if (raised === null) throw new Error('seed: alert exists');
    await tx.query('INSERT INTO alert_deliveries (tenant_id, id, alert_id, webhook_id) VALUES ($1, gen_random_uuid(), $2, $3)', [tenant.id, raised.alert.id, hook.id]);
    // An open anomaly throttle on it (migration 0019), for the RLS suites.
    await tx.query(`INSERT INTO anomaly_throttles (tenant_id, metric, alert_id, "window", "limit") VALUES ($1, 'requests', $2, 'minute', 1000)`, [tenant.id, raised.alert.id]);
    await jwtIssuersRepo.upsert(tx, {
      issuer: `https://idp.${domain}/`,
      audience: null,
      jwks: null,
      jwksUrl: `https://idp.${domain}/jwks.json`,
      claims: { tenant: 'tenant', roles: 'roles', team: 'team', user: 'sub' },
    });
    // A row in each admin API table (users, memberships, service accounts, policies, admin keys,
    // idempotency records) for the RLS suites.
    const user = await usersRepo.insert(tx, { email: `owner@${domain}`, name: 'Owner' });
    if (!user.ok) throw new Error('seed: user');
    await membershipsRepo.insert(tx, { userId: user.user.id, role: 'tenant_admin' });
    await serviceAccountsRepo.insert(tx, { name: 'seed', description: '' });
    await policiesRepo.insert(tx, { name: 'seed', description: '', enabled: true, document: { rules: [{ type: 'max_tokens', max: 1 }] } });
    await adminKeysRepo.insert(tx, {
      name: 'seed',
      role: 'tenant_admin',
      prefix: 'gha_seed',
      hash: hashApiKey(`admin-${slug}`, PEPPER),
      userId: null,
      serviceAccountId: null,
      createdBy: 'seed',
      expiresAt: null,
    });
    await idempotencyRepo.claim(tx, { principal: 'seed', key: 'seed', requestHash: Buffer.alloc(32), ttlSeconds: 3600 });
    // A plan and an own limit rule, so limit_rules has rows for the RLS suites.
    const plan = await plansRepo.getByName(tx, 'standard');
    if (plan === null) throw new Error('seed: the standard plan is missing');
    await tenantsRepo.update(tx, { planId: plan.id });
    await limitRulesRepo.upsert(tx, {
      id: 'key-rpm',
      scope: 'key',
      subject: null,
      metric: 'requests',
      window: 'minute',
      limit: 30,
      burst: 10,
      models: ['gpt-4o*'],
    });
    // One audit entry, so the audit tables (entries and head) have rows for the RLS suites too.
    await appendAudit(tx, { actor: { kind: 'system', id: null }, action: 'tenant.seed', outcome: 'success' });
    // A tagged usage event, so usage_events and both rollup tables have rows (migration 0013).
    await usageRepo.ingest(tx, [
      {
        tenantId: tenant.id, eventId: randomUUID(), requestId: 'seed', occurredAt: Date.now(), teamId: team.id,
        keyId: inserted.key.id, endUser: null, tags: ['seed'], model: 'gpt-4o', deploymentId: null, provider: null,
        region: null, inputTokens: 1, outputTokens: 1, cachedTokens: 0, costMicros: 1, priceVersion: null, latencyMs: 1,
        ttftMs: null, status: 200, streamed: false, clientAborted: false, usageEstimated: false, cacheHit: false,
      },
    ]);
    // A request log entry with sealed content and its usage row (migration 0019).
    const logId = randomUUID();
    const content = await sealer.seal(tx, { table: 'request_logs', recordId: logId, column: 'content' }, Buffer.from(`{"v":1,"request":"prompt of ${slug}"}`));
    await requestLogsRepo.lockUsage(tx);
    await requestLogsRepo.insert(tx, [
      {
        id: logId, requestId: 'seed', occurredAt: Date.now(), keyId: inserted.key.id, teamId: team.id, endUser: null, operation: 'chat',
        model: 'gpt-4o', deploymentId: null, status: 200, latencyMs: 1, inputTokens: 1, outputTokens: 1, streamed: false,
        clientAborted: false, cacheHit: false, content, contentTruncated: false, bytes: 256 + content.ciphertext.length,
      },
    ]);
    await requestLogsRepo.addUsage(tx, { bytes: 256 + content.ciphertext.length, entries: 1 });
    // An issued invoice, so the invoices table (migration 0011) has rows too.
    await billingRepo.issue(tx, {
      period: '2020-01', periodStart: new Date('2020-01-01T00:00:00Z'), periodEnd: new Date('2020-02-01T00:00:00Z'), currency: 'USD',
      planId: null, pricing: {}, lines: [], commitment: null, usageCents: 0, totalCents: 0, closingCreditCents: null,
    });
    return { id: tenant.id, slug, domain, teamId: team.id, keyId: inserted.key.id, key };
  });
}

/**
 * Tables in the store's schema that have a tenant_id column, from the catalogue. Partitions are
 * left out: the application roles have no rights on them and reach their rows only through the
 * partitioned parent (whose policy applies); the isolation audit still checks each partition's
 * RLS and policy, and the RLS contract checks that the roles cannot name them.
 */
export async function tenantTables(store: Store): Promise<string[]> {
  return store.admin(async (tx) => {
    const { rows } = await tx.query<{ relname: string }>(
      `SELECT c.relname FROM pg_class c
       JOIN pg_namespace n ON n.oid = c.relnamespace
       JOIN pg_attribute a ON a.attrelid = c.oid AND a.attname = 'tenant_id' AND NOT a.attisdropped
       WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'p') AND NOT c.relispartition ORDER BY c.relname`,
    );
    return rows.map((r) => r.relname);
  });
}

/** Table names from the catalogue, quoted for the few test statements that must name them. */
export function ident(name: string): string {
  if (!/^[a-z_][a-z0-9_]*$/.test(name)) throw new Error(`unexpected table name ${name}`);
  return `"${name}"`;
}

/** The SQLSTATE a rejected promise carries. */
export async function sqlStateOf(p: Promise<unknown>): Promise<string | undefined> {
  try {
    await p;
  } catch (err) {
    return typeof err === 'object' && err !== null && 'code' in err ? String(err.code) : 'no code';
  }
  return undefined;
}
