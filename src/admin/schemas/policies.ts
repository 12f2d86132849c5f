/**
 * Policy documents: declarative data the gateway interprets, never code it runs (DESIGN §6).
 * A closed set of rule types with bounded sizes; no free-form regular expressions (a tenant's
 * pattern would run on other tenants' CPU: catastrophic backtracking is a denial of service).
 */
import { z } from 'zod';
import type { PolicyRecord } from '../../store/index.js';
import { description, iso, isoOut, modelName, region, slug, uniqueList } from './common.js';

const term = z.string().min(1).max(128);

export const policyRule = z.discriminatedUnion('type', [
  z.strictObject({ type: z.literal('model_allowlist'), models: uniqueList(modelName, 500).min(1) }),
  z.strictObject({ type: z.literal('model_alias'), alias: modelName, model: modelName }),
  z.strictObject({ type: z.literal('max_tokens'), max: z.number().int().min(1).max(10_000_000) }),
  z.strictObject({ type: z.literal('block_terms'), terms: uniqueList(term, 200).min(1), action: z.enum(['reject', 'flag']).default('reject') }),
  z.strictObject({
    type: z.literal('redact_pii'),
    kinds: uniqueList(z.enum(['email', 'phone', 'credit_card', 'iban', 'ssn', 'ip_address']), 6).min(1),
  }),
  z.strictObject({
    type: z.literal('rate_limit'),
    dimension: z.enum(['requests', 'tokens']),
    window: z.enum(['second', 'minute', 'hour', 'day']),
    limit: z.number().int().min(1).max(1_000_000_000_000),
    scope: z.enum(['tenant', 'team', 'key', 'user']),
    models: uniqueList(modelName, 100).optional(),
  }),
  z.strictObject({ type: z.literal('regions'), allowed: uniqueList(region, 32).min(1) }),
]);

export const policyDocument = z.strictObject({
  rules: z.array(policyRule).min(1).max(100),
});

export const createPolicyBody = z.strictObject({
  name: slug,
  description: description.optional(),
  enabled: z.boolean().default(true),
  document: policyDocument,
});

export const patchPolicyBody = z
  .strictObject({
    name: slug.optional(),
    description: description.optional(),
    enabled: z.boolean().optional(),
    document: policyDocument.optional(),
  })
  .refine((b) => Object.keys(b).length > 0, 'at least one field must be given');

export const policyView = z.object({
  object: z.literal('policy'),
  id: z.uuid(),
  name: z.string(),
  description: z.string(),
  enabled: z.boolean(),
  document: policyDocument,
  created_at: isoOut,
  updated_at: isoOut,
});

export function presentPolicy(p: PolicyRecord): z.output<typeof policyView> {
  // Stored documents passed this schema on the way in; re-reading them through it keeps a row
  // written by some other path from reaching clients in a shape the API does not document.
  const parsed = policyDocument.safeParse(p.document);
  return {
    object: 'policy',
    id: p.id,
    name: p.name,
    description: p.description,
    enabled: p.enabled,
    document: parsed.success ? parsed.data : { rules: [] },
    created_at: iso(p.createdAt),
    updated_at: iso(p.updatedAt),
  };
}

export const policyQuery = { enabled: z.enum(['true', 'false']).transform((v) => v === 'true').optional() };
