/**
 * Dedicated deployment and model alias bodies and views. A deployment names its credential by
 * id; the secret stays in provider_credentials and no view carries it. Prices are in currency
 * units like the YAML file (per million tokens; per request), stored as integer micro-units.
 */
import { z } from 'zod';
import type { AliasRecord, TenantDeploymentRecord } from '../../store/index.js';
import { defaultBaseUrl } from '../../providers/base-urls.js';
import { TENANT_PROVIDER_KINDS } from '../../routing/tenant-deployments.js';
import { iso, isoOut, modelName, region, uuid } from './common.js';
import { outboundUrl } from './secrets.js';

const MAX_PRICE = 1_000_000; // currency units: a million per million tokens is beyond any real price
const price = z.number().min(0).max(MAX_PRICE);
const prices = z.strictObject({
  input: price.default(0),
  output: price.default(0),
  cached_input: price.default(0),
  request: price.default(0),
});

const fields = {
  model: modelName.describe("The tenant's public model name; overrides a platform model of the same name for this tenant."),
  kind: z.enum(['chat', 'completion', 'embedding']),
  provider: z.enum(TENANT_PROVIDER_KINDS),
  base_url: outboundUrl.describe(
    'Upstream base URL (checked against the outbound address rules at save and at connect). Optional for openai, anthropic and gemini (their public endpoint); bedrock: https://bedrock-runtime.<region>.amazonaws.com or a VPC endpoint.',
  ),
  credential_id: uuid
    .nullable()
    .describe("A provider credential of this tenant (its secret authenticates upstream); null: no auth. Bedrock: required, a bedrock credential (the tenant's AWS credentials)."),
  upstream_model: modelName,
  api_version: z.string().min(1).max(64).nullable().describe('Azure only: the api-version.'),
  region,
  capacity: z.number().int().min(1).max(100_000),
  timeout_ms: z.number().int().min(100).max(3_600_000),
  prices,
};

const azureNeedsVersion = (b: { provider?: string | undefined; api_version?: string | null | undefined }) =>
  b.provider !== 'azure' || (b.api_version !== undefined && b.api_version !== null);

/** Azure, OpenAI-compatible servers and Bedrock (one endpoint per region) have no default endpoint. */
const baseUrlGiven = (b: { provider: string; base_url?: string | undefined }) => b.base_url !== undefined || defaultBaseUrl(b.provider) !== undefined;

export const createDeploymentBody = z
  .strictObject({
    model: fields.model,
    kind: fields.kind.default('chat'),
    provider: fields.provider,
    base_url: fields.base_url.optional(),
    credential_id: fields.credential_id.default(null),
    upstream_model: fields.upstream_model.optional().describe('Model name sent upstream; defaults to `model`.'),
    api_version: fields.api_version.default(null),
    region: fields.region.default('default'),
    capacity: fields.capacity.default(64),
    timeout_ms: fields.timeout_ms.default(600_000),
    prices: prices.default({ input: 0, output: 0, cached_input: 0, request: 0 }),
  })
  .refine(azureNeedsVersion, { message: 'api_version is required for provider azure', path: ['api_version'] })
  .refine(baseUrlGiven, { message: 'base_url is required for providers azure, openai-compatible and bedrock', path: ['base_url'] });

export const patchDeploymentBody = z
  .strictObject({
    model: fields.model.optional(),
    kind: fields.kind.optional(),
    provider: fields.provider.optional(),
    base_url: fields.base_url.optional(),
    credential_id: fields.credential_id.optional(),
    upstream_model: fields.upstream_model.optional(),
    api_version: fields.api_version.optional(),
    region: fields.region.optional(),
    capacity: fields.capacity.optional(),
    timeout_ms: fields.timeout_ms.optional(),
    prices: prices.optional(),
  })
  .refine((b) => Object.keys(b).length > 0, 'at least one field must be given');

export type CreateDeploymentBody = z.output<typeof createDeploymentBody>;
export type PatchDeploymentBody = z.output<typeof patchDeploymentBody>;

export const deploymentView = z.object({
  object: z.literal('deployment'),
  id: z.uuid(),
  model: z.string(),
  kind: z.string(),
  provider: z.string(),
  base_url: z.string(),
  credential_id: z.string().nullable(),
  upstream_model: z.string(),
  api_version: z.string().nullable(),
  region: z.string(),
  capacity: z.number(),
  timeout_ms: z.number(),
  prices: z.object({ input: z.number(), output: z.number(), cached_input: z.number(), request: z.number() }),
  created_at: isoOut,
  updated_at: isoOut,
});

const units = (micros: number) => micros / 1_000_000;
export const toMicros = (n: number) => Math.round(n * 1_000_000);

export function presentDeployment(d: TenantDeploymentRecord): z.output<typeof deploymentView> {
  return {
    object: 'deployment',
    id: d.id,
    model: d.model,
    kind: d.kind,
    provider: d.provider,
    base_url: d.baseUrl,
    credential_id: d.credentialId,
    upstream_model: d.upstreamModel,
    api_version: d.apiVersion,
    region: d.region,
    capacity: d.capacity,
    timeout_ms: d.timeoutMs,
    prices: { input: units(d.prices.input), output: units(d.prices.output), cached_input: units(d.prices.cachedInput), request: units(d.prices.request) },
    created_at: iso(d.createdAt),
    updated_at: iso(d.updatedAt),
  };
}

/** No slash: an alias is a path segment of its own route. */
export const aliasName = z
  .string()
  .regex(/^[A-Za-z0-9][A-Za-z0-9._:@+-]{0,127}$/, 'must be 1-128 of letters, digits and . _ : @ + - (starting with a letter or digit)');

export const putAliasBody = z
  .strictObject({ alias: aliasName, model: modelName.describe('The model the alias resolves to (a platform model or one of the tenant\'s own).') })
  .refine((b) => b.alias !== b.model, { message: 'an alias must not name itself', path: ['model'] });

export const aliasView = z.object({ object: z.literal('model_alias'), alias: z.string(), model: z.string(), created_at: isoOut, updated_at: isoOut });

export function presentAlias(a: AliasRecord): z.output<typeof aliasView> {
  return { object: 'model_alias', alias: a.alias, model: a.model, created_at: iso(a.createdAt), updated_at: iso(a.updatedAt) };
}
