/** Team bodies and views. */
import { z } from 'zod';
import type { ManagedTeam } from '../../store/index.js';
import { displayName, iso, isoOut, slug } from './common.js';

export const createTeamBody = z.strictObject({ slug, name: displayName.optional().describe('Defaults to the slug.') });

export const patchTeamBody = z
  .strictObject({ slug: slug.optional(), name: displayName.optional() })
  .refine((b) => Object.keys(b).length > 0, 'at least one field must be given');

export const teamView = z.object({
  object: z.literal('team'),
  id: z.uuid(),
  slug: z.string(),
  name: z.string(),
  created_at: isoOut,
  updated_at: isoOut,
});

export function presentTeam(t: ManagedTeam): z.output<typeof teamView> {
  return { object: 'team', id: t.id, slug: t.slug, name: t.name, created_at: iso(t.createdAt), updated_at: iso(t.updatedAt) };
}
