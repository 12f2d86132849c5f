/**
 * Provider credential and webhook bodies and views. Their secrets are write-only: bodies take
 * them, no view has a field for them, and the routes never decrypt (src/store/repos/sealed-manage.ts).
 */
import { z } from 'zod';
import type { CredentialMeta, WebhookMeta } from '../../store/index.js';
import { displayName, iso, isoOut, uniqueList } from './common.js';
import { AWS_REGION } from '../../providers/bedrock/region.js';
import { parseOutbound } from '../../routing/ssrf.js';
import { holdsAwsCredentials } from '../../routing/tenant-credentials.js';

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

/** Printable ASCII without spaces: what AWS issues, and nothing that could split a header. */
const awsText = (min: number, max: number) =>
  z
    .string()
    .min(min)
    .max(max)
    .regex(/^[\x21-\x7e]+$/, 'must be printable ASCII without spaces');

/**
 * The tenant's own AWS credentials for provider bedrock: sealed together with the tenant key
 * (src/routing/tenant-credentials.ts), write-only like `secret`. Validation messages never echo
 * a value.
 */
export const awsCredentialBody = z
  .strictObject({
    access_key_id: z.string().regex(/^[A-Z0-9]{16,128}$/, 'must be an AWS access key id (16-128 upper-case letters and digits)'),
    secret_access_key: awsText(16, 128),
    session_token: awsText(16, 4096).optional().describe('Temporary credentials only (STS); replace the credential before it expires.'),
    region: z.string().regex(AWS_REGION, 'must be an AWS region name such as us-east-1').describe('The AWS region requests are signed for (the endpoint\'s region).'),
  })
  .describe('Provider bedrock only. Write-only: stored encrypted with the tenant key, never returned.');
export type AwsCredentialBody = z.output<typeof awsCredentialBody>;

/** Exactly one of `secret` and `aws`, by the credential's provider kind (bedrock: aws). */
function secretOrAws(provider: string | undefined) {
  return (b: { secret?: string | undefined; aws?: AwsCredentialBody | undefined }, ctx: z.RefinementCtx): void => {
    if (b.secret !== undefined && b.aws !== undefined) ctx.addIssue({ code: 'custom', path: ['aws'], message: 'give either secret or aws, not both' });
    else if (provider === undefined) {
      if (b.secret === undefined && b.aws === undefined) ctx.addIssue({ code: 'custom', path: ['secret'], message: 'secret (or aws, for provider bedrock) is required' });
    } else if (holdsAwsCredentials(provider)) {
      if (b.aws === undefined) ctx.addIssue({ code: 'custom', path: ['aws'], message: `required for provider ${provider} (access_key_id, secret_access_key, optional session_token, region)` });
      if (b.secret !== undefined) ctx.addIssue({ code: 'custom', path: ['secret'], message: `not used by provider ${provider}: give aws` });
    } else {
      if (b.aws !== undefined) ctx.addIssue({ code: 'custom', path: ['aws'], message: 'only used by provider bedrock' });
      else if (b.secret === undefined) ctx.addIssue({ code: 'custom', path: ['secret'], message: 'required' });
    }
  };
}

export const createCredentialBody = z
  .strictObject({
    name: displayName,
    provider: z.string().regex(/^[a-z0-9][a-z0-9-]{0,63}$/, 'must be a provider kind such as openai, anthropic, gemini or bedrock'),
    base_url: outboundUrl.nullable().optional(),
    secret: secret.optional().describe('The API key, every provider but bedrock. Write-only: stored encrypted with the tenant key, never returned.'),
    aws: awsCredentialBody.optional(),
  })
  .superRefine((b, ctx) => secretOrAws(b.provider)(b, ctx));

/** The provider kind is the stored credential's; the service checks the pairing again with it. */
export const replaceSecretBody = z
  .strictObject({ secret: secret.optional().describe('The new API key. Write-only: stored encrypted with the tenant key, never returned.'), aws: awsCredentialBody.optional() })
  .superRefine((b, ctx) => secretOrAws(undefined)(b, ctx));
export type ReplaceSecretBody = z.output<typeof replaceSecretBody>;

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
