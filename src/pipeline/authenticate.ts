/**
 * Stage 2: verify the API key (keyed hash, constant-time compare), then settle the tenant: the
 * key's tenant must agree with every claim identify collected. A claim naming another tenant or
 * no tenant at all gets the same answer, so the response never tells whether a tenant exists.
 */
import { keyPrefix, verifyApiKey } from '../crypto/keys.js';
import { GatewayError } from '../errors.js';
import type { Registry } from '../tenancy/snapshot.js';
import type { ApiKeyRecord } from '../tenancy/types.js';
import type { RequestContext, Stage } from './context.js';

export interface AuthenticateOptions {
  registry: Registry;
  /** Server secret keying the API-key hashes. */
  pepper: Buffer;
  now?: () => number;
}

function findKey(candidates: readonly ApiKeyRecord[] | undefined, credential: string, pepper: Buffer) {
  if (candidates === undefined) return undefined;
  for (const record of candidates) {
    if (verifyApiKey(credential, record.hash, pepper)) return record;
  }
  return undefined;
}

export function authenticate(opts: AuthenticateOptions): Stage {
  const now = opts.now ?? Date.now;
  return function authenticateStage(ctx: RequestContext): void {
    const credential = ctx.credential;
    if (credential === undefined) {
      throw new GatewayError(
        'missing_api_key',
        'You didn\'t provide an API key. Send it as "Authorization: Bearer <api key>".',
      );
    }
    const snapshot = opts.registry.current;
    const record = findKey(snapshot.keysByPrefix.get(keyPrefix(credential)), credential, opts.pepper);
    if (record === undefined) throw new GatewayError('invalid_api_key', 'Incorrect API key provided.');
    if (record.expiresAt !== null && record.expiresAt <= now()) {
      throw new GatewayError('expired_api_key', 'The API key has expired.');
    }
    const tenant = snapshot.tenantsById.get(record.tenantId);
    if (tenant === undefined) throw new GatewayError('invalid_api_key', 'Incorrect API key provided.');

    for (const claim of ctx.claims ?? []) {
      if (claim.tenantId !== tenant.id) {
        throw new GatewayError(
          'tenant_mismatch',
          `The API key does not belong to the tenant named by the request ${claim.source}.`,
        );
      }
    }
    if (tenant.status !== 'active') {
      throw new GatewayError('tenant_suspended', 'This tenant is suspended.');
    }
    ctx.tenant = tenant;
    ctx.principal = {
      kind: 'api_key',
      keyId: record.id,
      tenantId: tenant.id,
      teamId: record.teamId,
      scopes: record.scopes,
      allowedModels: record.allowedModels,
    };
  };
}
