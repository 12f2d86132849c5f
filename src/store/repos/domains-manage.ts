/** The admin API's view of custom domains: paginated, with creation times. */
import type { TenantTx } from '../types.js';
import { toPage, type Page, type PageRequest } from './page.js';

export interface ManagedDomain {
  domain: string;
  tenantId: string;
  createdAt: Date;
  /** null: a pending claim, routing nothing until its challenge is found in DNS. */
  verifiedAt: Date | null;
  /** The pending claim's challenge; null once verified. */
  challenge: string | null;
}

interface DomainRow {
  domain: string;
  tenant_id: string;
  created_at: Date;
  verified_at: Date | null;
  challenge: string | null;
}

const COLUMNS = 'domain, tenant_id, created_at, verified_at, challenge';

const toRecord = (r: DomainRow): ManagedDomain => ({
  domain: r.domain,
  tenantId: r.tenant_id,
  createdAt: r.created_at,
  verifiedAt: r.verified_at,
  challenge: r.challenge,
});

export const domainsManageRepo = {
  async get(tx: TenantTx, domain: string): Promise<ManagedDomain | null> {
    const { rows } = await tx.query<DomainRow>(`SELECT ${COLUMNS} FROM tenant_domains WHERE domain = $1`, [
      domain.toLowerCase(),
    ]);
    return rows[0] === undefined ? null : toRecord(rows[0]);
  },

  async list(tx: TenantTx, page: PageRequest): Promise<Page<ManagedDomain>> {
    const { rows } = await tx.query<DomainRow>(
      `SELECT ${COLUMNS} FROM tenant_domains WHERE ($1::text IS NULL OR domain > $1) ORDER BY domain LIMIT $2`,
      [page.after, page.limit + 1],
    );
    return toPage(rows, page, toRecord, (r) => r.domain);
  },
};
