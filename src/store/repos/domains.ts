/**
 * Custom domains. A host name belongs to at most one tenant (a global unique index, see
 * 0001_init.ts); claiming one that another tenant holds is an expected outcome, not an error.
 */
import type { PlatformTx, TenantTx } from '../types.js';

export type AddDomainResult = { ok: true; created: boolean } | { ok: false; reason: 'domain_taken' };

export interface DomainRecord {
  tenantId: string;
  domain: string;
}

export const domainsRepo = {
  async add(tx: TenantTx, domain: string): Promise<AddDomainResult> {
    const host = domain.toLowerCase();
    // DO NOTHING on any conflict instead of catching the error: an error would abort the
    // caller's whole transaction.
    const inserted = await tx.query(
      'INSERT INTO tenant_domains (tenant_id, domain) VALUES ($1, $2) ON CONFLICT DO NOTHING RETURNING domain',
      [tx.tenantId, host],
    );
    if (inserted.rowCount > 0) return { ok: true, created: true };
    // Visible only if it is ours (row-level security); otherwise another tenant holds it.
    const mine = await tx.query('SELECT 1 FROM tenant_domains WHERE domain = $1', [host]);
    return mine.rowCount > 0 ? { ok: true, created: false } : { ok: false, reason: 'domain_taken' };
  },

  /** True if the domain was this tenant's. */
  async remove(tx: TenantTx, domain: string): Promise<boolean> {
    const r = await tx.query('DELETE FROM tenant_domains WHERE domain = $1', [domain.toLowerCase()]);
    return r.rowCount > 0;
  },

  async list(tx: TenantTx): Promise<string[]> {
    const { rows } = await tx.query<{ domain: string }>('SELECT domain FROM tenant_domains ORDER BY domain');
    return rows.map((r) => r.domain);
  },

  async listAll(tx: PlatformTx): Promise<DomainRecord[]> {
    const { rows } = await tx.query<{ tenant_id: string; domain: string }>(
      'SELECT tenant_id, domain FROM tenant_domains ORDER BY domain',
    );
    return rows.map((r) => ({ tenantId: r.tenant_id, domain: r.domain }));
  },
};
