/** Identity providers a tenant trusts for bearer JWTs (data plane and admin sign-in). */
import { createHash } from 'node:crypto';
import { z } from 'zod';
import { publicJwk } from '../../config/schema.js';
import type { JwtIssuer } from '../../tenancy/types.js';

const claimName = z.string().min(1).max(128).regex(/^[\x21-\x7e]+$/, 'a claim name (printable ASCII, no spaces)');

export const createJwtIssuerBody = z
  .strictObject({
    issuer: z.string().min(1).max(2048).describe('the exact "iss" of tokens'),
    audience: z.string().min(1).max(2048).nullable().optional().describe('expected "aud"; absent or null accepts any'),
    jwks: z.strictObject({ keys: z.array(publicJwk).min(1).max(32) }).optional().describe('inline public keys'),
    jwks_url: z.url({ protocol: /^https$/ }).max(2048).optional().describe('where the public keys are fetched (https)'),
    claims: z
      .strictObject({ tenant: claimName, roles: claimName, team: claimName, user: claimName })
      .partial()
      .optional()
      .describe('claim names; defaults tenant, roles, team, sub'),
  })
  .refine((v) => (v.jwks === undefined) !== (v.jwks_url === undefined), 'exactly one of "jwks" (inline keys) or "jwks_url"');

export const jwtIssuerView = z.object({
  object: z.literal('jwt_issuer'),
  id: z.string().describe('derived from the issuer: stable, URL-safe'),
  issuer: z.string(),
  audience: z.string().nullable(),
  jwks: z.object({ keys: z.array(z.record(z.string(), z.unknown())) }).nullable(),
  jwks_url: z.string().nullable(),
  claims: z.object({ tenant: z.string(), roles: z.string(), team: z.string(), user: z.string() }),
});

/** The URL-safe id of an issuer registration: issuers are URLs, awkward in a path. */
export function issuerId(issuer: string): string {
  return createHash('sha256').update(issuer).digest('base64url').slice(0, 22);
}

export function presentJwtIssuer(i: JwtIssuer): z.output<typeof jwtIssuerView> {
  return { object: 'jwt_issuer', id: issuerId(i.issuer), issuer: i.issuer, audience: i.audience, jwks: i.jwks, jwks_url: i.jwksUrl, claims: i.claims };
}
