/** Identity providers a tenant trusts for bearer JWTs: written per tenant, listed for the snapshot. */
import type { JwtClaimNames, JwtIssuer, JwtIssuerOwner } from '../../tenancy/types.js';
import type { PlatformTx, TenantTx } from '../types.js';

interface IssuerRow {
  tenant_id: string;
  issuer: string;
  audience: string | null;
  jwks: { keys: Record<string, unknown>[] } | null;
  jwks_url: string | null;
  claims: Partial<JwtClaimNames>;
  owner: JwtIssuerOwner;
}

export interface IssuerInput {
  issuer: string;
  audience: string | null;
  jwks: { keys: Record<string, unknown>[] } | null;
  jwksUrl: string | null;
  claims: JwtClaimNames;
}

export const jwtIssuersRepo = {
  /**
   * Creates or replaces this tenant's registration of `issuer` as the operator's configuration
   * declares it (owner 'platform': its JWKS URL is fetched without the outbound rules, 0022).
   */
  async upsert(tx: TenantTx, input: IssuerInput): Promise<void> {
    await tx.query(
      `INSERT INTO tenant_jwt_issuers (tenant_id, issuer, audience, jwks, jwks_url, claims, owner)
       VALUES ($1, $2, $3, $4, $5, $6, 'platform')
       ON CONFLICT (tenant_id, issuer) DO UPDATE SET audience = EXCLUDED.audience, jwks = EXCLUDED.jwks,
         jwks_url = EXCLUDED.jwks_url, claims = EXCLUDED.claims, owner = EXCLUDED.owner, updated_at = now()`,
      [tx.tenantId, input.issuer, input.audience, input.jwks, input.jwksUrl, input.claims],
    );
  },

  /**
   * A new registration by a tenant admin (owner 'tenant': its JWKS URL is a tenant-set address,
   * fetched through the outbound guard); false when this tenant already registered `issuer`.
   */
  async insert(tx: TenantTx, input: IssuerInput): Promise<boolean> {
    const r = await tx.query(
      `INSERT INTO tenant_jwt_issuers (tenant_id, issuer, audience, jwks, jwks_url, claims, owner)
       VALUES ($1, $2, $3, $4, $5, $6, 'tenant') ON CONFLICT (tenant_id, issuer) DO NOTHING RETURNING issuer`,
      [tx.tenantId, input.issuer, input.audience, input.jwks, input.jwksUrl, input.claims],
    );
    return r.rowCount > 0;
  },

  /** True if this tenant had registered `issuer`. */
  async remove(tx: TenantTx, issuer: string): Promise<boolean> {
    const r = await tx.query('DELETE FROM tenant_jwt_issuers WHERE issuer = $1', [issuer]);
    return r.rowCount > 0;
  },

  /** Removes this tenant's registrations not in `keep` (configuration as code wins). */
  async retainOnly(tx: TenantTx, keep: readonly string[]): Promise<void> {
    await tx.query('DELETE FROM tenant_jwt_issuers WHERE NOT (issuer = ANY($1::text[]))', [[...keep]]);
  },

  /** Every tenant's registrations (platform role), or one tenant's (its own transaction). */
  async listAll(tx: PlatformTx | TenantTx, defaults: JwtClaimNames): Promise<JwtIssuer[]> {
    const { rows } = await tx.query<IssuerRow>(
      'SELECT tenant_id, issuer, audience, jwks, jwks_url, claims, owner FROM tenant_jwt_issuers ORDER BY tenant_id, issuer',
    );
    return rows.map((r) => ({
      tenantId: r.tenant_id,
      issuer: r.issuer,
      audience: r.audience,
      jwks: r.jwks,
      jwksUrl: r.jwks_url,
      claims: { ...defaults, ...r.claims },
      owner: r.owner,
    }));
  },
};
