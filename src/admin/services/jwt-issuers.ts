/** A tenant's identity-provider registrations; each call runs in the caller's tenant transaction. */
import { DEFAULT_CLAIMS } from '../../identity/jwt.js';
import { jwtIssuersRepo } from '../../store/repos/jwt-issuers.js';
import type { TenantTx } from '../../store/index.js';
import type { JwtIssuer } from '../../tenancy/types.js';
import { audit } from '../audit-hook.js';
import type { Actor } from '../context.js';
import { conflict, notFound } from '../problems.js';
import { issuerId, type createJwtIssuerBody } from '../schemas/jwt-issuers.js';
import type { z } from 'zod';
import { assertRoomFor } from './storage-quota.js';

/** Each registration is verified against on every token that names it: a small bound. */
export const MAX_ISSUERS_PER_TENANT = 20;

export async function listIssuers(tx: TenantTx): Promise<JwtIssuer[]> {
  return jwtIssuersRepo.listAll(tx, DEFAULT_CLAIMS);
}

export async function findIssuer(tx: TenantTx, id: string): Promise<JwtIssuer | undefined> {
  return (await listIssuers(tx)).find((i) => issuerId(i.issuer) === id);
}

export async function registerIssuer(tx: TenantTx, actor: Actor, body: z.output<typeof createJwtIssuerBody>): Promise<JwtIssuer> {
  await assertRoomFor(tx);
  if ((await listIssuers(tx)).length >= MAX_ISSUERS_PER_TENANT) {
    throw conflict(`A tenant may register at most ${MAX_ISSUERS_PER_TENANT} identity providers.`);
  }
  const input = {
    issuer: body.issuer,
    audience: body.audience ?? null,
    jwks: body.jwks ?? null,
    jwksUrl: body.jwks_url ?? null,
    claims: { ...DEFAULT_CLAIMS, ...body.claims },
  };
  if (!(await jwtIssuersRepo.insert(tx, input))) throw conflict(`The issuer "${body.issuer}" is already registered.`, 'issuer');
  const id = issuerId(body.issuer);
  await audit(tx, actor, 'jwt_issuer.create', { kind: 'jwt_issuer', id }, { after: { issuer: input.issuer, audience: input.audience, jwks_url: input.jwksUrl } });
  return { tenantId: tx.tenantId, ...input, owner: 'tenant' };
}

export async function removeIssuer(tx: TenantTx, actor: Actor, id: string): Promise<void> {
  const found = await findIssuer(tx, id);
  if (found === undefined || !(await jwtIssuersRepo.remove(tx, found.issuer))) throw notFound('jwt issuer');
  await audit(tx, actor, 'jwt_issuer.delete', { kind: 'jwt_issuer', id }, { before: { issuer: found.issuer } });
}
