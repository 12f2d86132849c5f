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
  /**
   * A verified claim (the operator's configuration is proof enough): a pending claim of this
   * tenant is promoted. Taken when another tenant verified the name first.
   */
  async add(tx: TenantTx, domain: string): Promise<AddDomainResult> {
    const host = domain.toLowerCase();
    // DO NOTHING on any conflict instead of catching the error: an error would abort the
    // caller's whole transaction.
    const inserted = await tx.query(
      'INSERT INTO tenant_domains (tenant_id, domain, verified_at) VALUES ($1, $2, now()) ON CONFLICT DO NOTHING RETURNING domain',
      [tx.tenantId, host],
    );
    if (inserted.rowCount > 0) return { ok: true, created: true };
    // Visible only if it is ours (row-level security); otherwise another tenant holds it.
    const mine = await tx.query<{ verified: boolean }>('SELECT verified_at IS NOT NULL AS verified FROM tenant_domains WHERE domain = $1', [host]);
    const row = mine.rows[0];
    if (row === undefined) return { ok: false, reason: 'domain_taken' };
    if (!row.verified) await tx.query('UPDATE tenant_domains SET verified_at = now(), challenge = NULL WHERE domain = $1', [host]);
    return { ok: true, created: false };
  },

  /**
   * A claim to prove: it routes nothing until verified. Never conflicts with other tenants'
   * claims (only verified ones are unique), so it reveals nothing about them.
   */
  async claim(tx: TenantTx, domain: string, challenge: string): Promise<{ created: boolean }> {
    const inserted = await tx.query(
      'INSERT INTO tenant_domains (tenant_id, domain, challenge) VALUES ($1, $2, $3) ON CONFLICT (tenant_id, domain) DO NOTHING RETURNING domain',
      [tx.tenantId, domain.toLowerCase(), challenge],
    );
    return { created: inserted.rowCount > 0 };
  },

  /** Marks a pending claim proven; violates the global index if another tenant proved it first. */
  async markVerified(tx: TenantTx, domain: string): Promise<void> {
    await tx.query('UPDATE tenant_domains SET verified_at = now(), challenge = NULL WHERE domain = $1 AND verified_at IS NULL', [
      domain.toLowerCase(),
    ]);
  },

  /** True if the domain was this tenant's. */
  async remove(tx: TenantTx, domain: string): Promise<boolean> {
    const r = await tx.query('DELETE FROM tenant_domains WHERE domain = $1', [domain.toLowerCase()]);
    return r.rowCount > 0;
  },

  /** The domains that identify this tenant: verified ones only. */
  async list(tx: TenantTx): Promise<string[]> {
    const { rows } = await tx.query<{ domain: string }>('SELECT domain FROM tenant_domains WHERE verified_at IS NOT NULL ORDER BY domain');
    return rows.map((r) => r.domain);
  },

  async listAll(tx: PlatformTx): Promise<DomainRecord[]> {
    const { rows } = await tx.query<{ tenant_id: string; domain: string }>(
      'SELECT tenant_id, domain FROM tenant_domains WHERE verified_at IS NOT NULL ORDER BY domain',
    );
    return rows.map((r) => ({ tenantId: r.tenant_id, domain: r.domain }));
  },
};
