/**
 * Provider credential and webhook bodies and views. Their secrets are write-only: bodies take
 * them, no view has a field for them, and the routes never decrypt (src/store/repos/sealed-manage.ts).
 */
import { z } from 'zod';
import type { CredentialMeta, WebhookMeta } from '../../store/index.js';
import { displayName, iso, isoOut, uniqueList } from './common.js';
import { parseOutbound } from '../../routing/ssrf.js';

const CONTROL = /[\u0000-\u001f\u007f]/;

/**
 * The shape of a URL a tenant sets: absolute http(s), no credentials, no fragment. Where it may
 * point (no private, loopback, metadata... addresses, with the operator's exceptions) is checked
 * by the route against security.outbound (src/admin/services/outbound.ts), with DNS.
 */
export const outboundUrl = z
  .string()
  .max(2048)
  .superRefine((s, ctx) => {
    const parsed = parseOutbound(s);
    if ('problem' in parsed) ctx.addIssue({ code: 'custom', message: `URL ${parsed.problem.message} [rule: ${parsed.problem.rule}]` });
    else if (parsed.url.hash !== '') ctx.addIssue({ code: 'custom', message: 'URL must not contain a fragment' });
  });

const secret = z
  .string()
  .min(8)
  .max(4096)
  .refine((s) => !CONTROL.test(s), 'must not contain control characters')
  .describe('Write-only: stored encrypted with the tenant key, never returned.');

export const createCredentialBody = z.strictObject({
  name: displayName,
  provider: z.string().regex(/^[a-z0-9][a-z0-9-]{0,63}$/, 'must be a provider kind such as openai or azure'),
  base_url: outboundUrl.nullable().optional(),
  secret,
});

export const replaceSecretBody = z.strictObject({ secret });

export const credentialView = z.object({
  object: z.literal('provider_credential'),
  id: z.uuid(),
  name: z.string(),
  provider: z.string(),
  base_url: z.string().nullable(),
  created_at: isoOut,
  updated_at: isoOut,
});

export function presentCredential(c: CredentialMeta): z.output<typeof credentialView> {
  return { object: 'provider_credential', id: c.id, name: c.name, provider: c.provider, base_url: c.baseUrl, created_at: iso(c.createdAt), updated_at: iso(c.updatedAt) };
}

const event = z.string().regex(/^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)*(\.\*)?$/, 'must be an event name such as budget.threshold or key.*');

export const createWebhookBody = z.strictObject({
  url: outboundUrl,
  events: uniqueList(event, 50).min(1),
  enabled: z.boolean().default(true),
  secret: secret.describe('The signing secret (write-only).'),
});

export const patchWebhookBody = z
  .strictObject({ url: outboundUrl.optional(), events: uniqueList(event, 50).min(1).optional(), enabled: z.boolean().optional() })
  .refine((b) => Object.keys(b).length > 0, 'at least one field must be given');

export const webhookView = z.object({
  object: z.literal('webhook'),
  id: z.uuid(),
  url: z.string(),
  events: z.array(z.string()),
  enabled: z.boolean(),
  created_at: isoOut,
  updated_at: isoOut,
});

export function presentWebhook(w: WebhookMeta): z.output<typeof webhookView> {
  return { object: 'webhook', id: w.id, url: w.url, events: w.events, enabled: w.enabled, created_at: iso(w.createdAt), updated_at: iso(w.updatedAt) };
}
