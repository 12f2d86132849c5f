/** Tenancy data as the hot path sees it: plain, immutable records from the snapshot. */

export type TenantStatus = 'active' | 'suspended';

export interface Tenant {
  id: string;
  slug: string;
  name: string;
  status: TenantStatus;
  /** Custom domains (lower-case host names, no port) that identify this tenant. */
  domains: readonly string[];
  /** Public model names this tenant may use; '*' means every model in the catalogue. */
  allowedModels: readonly string[] | '*';
  /** Regions whose deployments this tenant may reach; empty means any. */
  regions: readonly string[];
}

/** What a key may call. 'inference' covers every model-calling operation. */
export const SCOPES = ['inference', 'chat', 'completions', 'embeddings', 'models:read'] as const;
export type Scope = (typeof SCOPES)[number];

export interface ApiKeyRecord {
  id: string;
  tenantId: string;
  teamId: string | null;
  name: string;
  /** Public lookup prefix (first characters of the key). */
  prefix: string;
  /** Keyed hash (HMAC-SHA256 with the server pepper) of the whole key. */
  hash: Buffer;
  scopes: readonly Scope[];
  /** Further restricts the tenant's models; null means the tenant's list. */
  allowedModels: readonly string[] | null;
  /** Epoch ms; null means no expiry. */
  expiresAt: number | null;
  revoked: boolean;
}

/** Who is calling, once authenticated. */
export interface Principal {
  kind: 'api_key';
  keyId: string;
  tenantId: string;
  teamId: string | null;
  scopes: readonly Scope[];
  allowedModels: readonly string[] | null;
}
