/** Tenancy data as the hot path sees it: plain, immutable records from the snapshot. */
import type { TenantLimits } from '../limits/types.js';

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
  /**
   * `tenants.updated_at` as epoch ms: moves with every change of the tenant's row, its settings
   * included (which the snapshot may not read, DESIGN §3.1). State kept per tenant off the
   * snapshot (the response cache's opt-in) is re-read when it moves, so such a change reaches
   * every replica with the snapshot's NOTIFY. Undefined in snapshots built without it (tests).
   */
  updatedAtMs?: number;
  /**
   * Plan and overrides composed (src/limits/compose.ts). Set for every tenant loaded from the
   * store, with `rules: []` when it has neither plan nor rules of its own; undefined only where a
   * snapshot is built without limit records (tests): no limits apply then.
   */
  limits?: TenantLimits;
}

/** What a key may call. 'inference' covers every model-calling operation. */
export const SCOPES = ['inference', 'chat', 'completions', 'embeddings', 'models:read'] as const;
export type Scope = (typeof SCOPES)[number];

/**
 * A key as the snapshot holds it: only what the request path reads (no name, no timestamps as
 * Date objects), one per key at 100,000 keys (src/tenancy/key-records.ts).
 */
export interface ApiKeyRecord {
  id: string;
  tenantId: string;
  teamId: string | null;
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
  /**
   * Epoch ms of the revocation, when revoked. Recently revoked keys stay in the snapshot, apart
   * from the live ones, only to tell an auditor that a revoked key was used (snapshot.ts).
   */
  revokedAtMs?: number | null;
  /** IP allow-list (CIDR); null or absent means any address. */
  allowedCidrs?: readonly string[] | null;
}

/** Who is calling, once authenticated: an API key, or a user or service bearing a tenant JWT. */
export interface Principal {
  kind: 'api_key' | 'jwt';
  /** The key id, or `jwt:<issuer>#<subject>` for a JWT bearer. */
  keyId: string;
  tenantId: string;
  teamId: string | null;
  /** JWT bearers only: the subject (user or service) and the tenant roles the token carries. */
  subject?: string;
  roles?: readonly string[];
  scopes: readonly Scope[];
  allowedModels: readonly string[] | null;
}

/** Claim names a tenant's identity provider uses; defaults in src/identity/jwt.ts. */
export interface JwtClaimNames {
  tenant: string;
  roles: string;
  team: string;
  user: string;
}

/** An identity provider a tenant trusts for bearer JWTs on the data plane. */
export interface JwtIssuer {
  tenantId: string;
  issuer: string;
  /** Expected `aud`; null accepts any audience. */
  audience: string | null;
  /** Inline JSON Web Key Set (public keys), or null when fetched from jwksUrl. */
  jwks: { keys: Record<string, unknown>[] } | null;
  jwksUrl: string | null;
  claims: JwtClaimNames;
  /**
   * Who registered it: 'platform' (the operator's configuration) or 'tenant' (a tenant admin,
   * through the admin API). A tenant's jwksUrl is a tenant-set address: fetched through the
   * outbound guard (src/routing/ssrf.ts), the operator's without it.
   */
  owner: JwtIssuerOwner;
}

export type JwtIssuerOwner = 'platform' | 'tenant';
