/** Service account bodies and views. */
import { z } from 'zod';
import type { ServiceAccountRecord } from '../../store/index.js';
import { description, iso, isoOut, slug } from './common.js';

export const createServiceAccountBody = z.strictObject({ name: slug, description: description.optional() });

export const patchServiceAccountBody = z
  .strictObject({
    name: slug.optional(),
    description: description.optional(),
    disabled: z.boolean().optional().describe("A disabled account's admin keys stop working at once."),
  })
  .refine((b) => Object.keys(b).length > 0, 'at least one field must be given');

export const serviceAccountView = z.object({
  object: z.literal('service_account'),
  id: z.uuid(),
  name: z.string(),
  description: z.string(),
  disabled: z.boolean(),
  created_at: isoOut,
  updated_at: isoOut,
});

export function presentServiceAccount(s: ServiceAccountRecord): z.output<typeof serviceAccountView> {
  return {
    object: 'service_account',
    id: s.id,
    name: s.name,
    description: s.description,
    disabled: s.disabled,
    created_at: iso(s.createdAt),
    updated_at: iso(s.updatedAt),
  };
}
