/**
 * Providers and deployments: cross-reference checks and resolution into the `Deployment`
 * records the router uses. Pure and synchronous; secrets are resolved beforehand by the loader.
 */
import { DEFAULT_BASE_URLS } from '../providers/base-urls.js';
import { AWS_REGION } from '../providers/bedrock/region.js';
import type { Deployment, Prices } from '../providers/types.js';
import { builtInMockProvider, DEFAULT_MOCK_BEHAVIOUR, demoDeployments, MOCK_PROVIDER } from './defaults.js';
import type { PathSegment } from './errors.js';
import type { Config, DeploymentConfig, ProviderConfig } from './schema.js';
import type { ResolvedAwsCredentials, ResolvedProvider } from './types.js';

/** Collects an issue at a path inside the configuration (the loader knows where it came from). */
export type Report = (path: PathSegment[], message: string) => void;

/**
 * @param apiKeys resolved credentials by provider index (absent: none configured or unresolvable)
 * @param awsCredentials resolved `aws` credentials by provider index (kind 'bedrock')
 */
export function resolveProviders(
  config: Config,
  apiKeys: ReadonlyMap<number, string>,
  report: Report,
  awsCredentials: ReadonlyMap<number, ResolvedAwsCredentials> = new Map(),
): ResolvedProvider[] {
  const out: ResolvedProvider[] = [];
  const seen = new Map<string, number>();
  config.providers.forEach((p, i) => {
    const first = seen.get(p.name);
    if (first !== undefined) {
      report(['providers', i, 'name'], `duplicate provider name "${p.name}" (also providers[${first}])`);
      return;
    }
    seen.set(p.name, i);
    const resolved = resolveProvider(p, i, apiKeys.get(i) ?? '', false, report);
    const aws = awsCredentials.get(i);
    if (aws !== undefined) resolved.aws = aws;
    out.push(resolved);
  });
  if (config.demo.enabled && !seen.has(MOCK_PROVIDER)) {
    out.push(resolveProvider(builtInMockProvider(), -1, '', true, report));
  }
  return out;
}

function resolveProvider(p: ProviderConfig, i: number, apiKey: string, builtIn: boolean, report: Report): ResolvedProvider {
  const at = (key: string): PathSegment[] => ['providers', i, key];
  let baseUrl = p.baseUrl;
  switch (p.kind) {
    case 'openai':
      baseUrl ??= DEFAULT_BASE_URLS.openai;
      break;
    case 'azure':
      if (baseUrl === undefined) {
        report(at('baseUrl'), 'required for kind "azure" (e.g. https://<resource>.openai.azure.com)');
      }
      if (p.apiVersion === undefined) report(at('apiVersion'), 'required for kind "azure" (e.g. 2024-10-21)');
      break;
    case 'openai-compatible':
      if (baseUrl === undefined) report(at('baseUrl'), 'required for kind "openai-compatible"');
      break;
    case 'gemini':
      baseUrl ??= DEFAULT_BASE_URLS.gemini;
      break;
    case 'mock':
      break;
    case 'bedrock':
      // No baseUrl: each deployment calls bedrock-runtime.{its AWS region}.amazonaws.com.
      if (p.aws === undefined) report(at('aws'), 'required for kind "bedrock" (accessKeyId, secretAccessKey, optional sessionToken and region)');
      if (p.apiKey !== undefined) report(at('apiKey'), 'not used by kind "bedrock" (requests are signed with aws credentials)');
      break;
    case 'anthropic':
      baseUrl ??= DEFAULT_BASE_URLS.anthropic;
      break;
  }
  if (p.aws !== undefined && p.kind !== 'bedrock') report(at('aws'), `only used by kind "bedrock", not "${p.kind}"`);
  // Catching these keeps a typo'd kind from silently dropping settings the operator meant.
  if (p.apiVersion !== undefined && p.kind !== 'azure') report(at('apiVersion'), `only used by kind "azure", not "${p.kind}"`);
  if (p.mock !== undefined && p.kind !== 'mock') report(at('mock'), `only used by kind "mock", not "${p.kind}"`);

  const resolved: ResolvedProvider = {
    name: p.name,
    kind: p.kind,
    // Adapters append "/chat/completions" etc.; one canonical form avoids "//" in upstream URLs.
    baseUrl: (baseUrl ?? '').replace(/\/+$/, ''),
    apiKey,
    timeoutMs: p.timeoutMs,
    builtIn,
  };
  if (p.apiVersion !== undefined) resolved.apiVersion = p.apiVersion;
  if (p.kind === 'mock') resolved.mock = { ...DEFAULT_MOCK_BEHAVIOUR, ...p.mock };
  return resolved;
}

/** Lower-case letters, digits and single dashes, at most 63 characters (a valid slug). */
export function slugify(text: string): string {
  return text
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .slice(0, 63)
    .replace(/^-+|-+$/g, '');
}

/**
 * Converts a price in currency units to integer micro-units. Integers keep metering exact
 * (0.1 + 0.2 !== 0.3); a price finer than a micro-unit cannot be represented and is an error
 * rather than a silent rounding.
 */
function toMicros(value: number, path: PathSegment[], report: Report): number {
  const scaled = value * 1_000_000;
  const micros = Math.round(scaled);
  if (Math.abs(scaled - micros) > 1e-6) {
    report(path, `expected at most 6 decimal places, got ${value}`);
  } else if (!Number.isSafeInteger(micros)) {
    report(path, `too large, got ${value}`);
  }
  return micros;
}

/**
 * @param now unix seconds used as `created` for declared deployments
 */
export function resolveDeployments(
  config: Config,
  providers: readonly ResolvedProvider[],
  now: number,
  report: Report,
): Deployment[] {
  const byName = new Map(providers.map((p) => [p.name, p]));
  const entries: Array<{ config: DeploymentConfig; created: number; index: number | null }> =
    config.deployments.length === 0 && config.demo.enabled
      ? demoDeployments().map((d) => ({ ...d, index: null }))
      : config.deployments.map((d, index) => ({ config: d, created: now, index }));

  const out: Deployment[] = [];
  const ids = new Map<string, number | null>();
  for (const { config: d, created, index } of entries) {
    // Demo defaults have no place in the file; their paths are only used if a bug makes them fail.
    const at = (...rest: PathSegment[]): PathSegment[] => ['deployments', index ?? 0, ...rest];
    const provider = byName.get(d.provider);
    if (!provider) {
      const known = providers.map((p) => `"${p.name}"`).join(', ');
      report(at('provider'), `unknown provider "${d.provider}"; ${known ? `declared providers: ${known}` : 'no providers are declared'}`);
      continue;
    }
    // Anthropic's Messages API has no embeddings or legacy completions.
    if (provider.kind === 'anthropic' && d.kind !== 'chat') {
      report(at('kind'), `provider kind "anthropic" serves chat models only, not "${d.kind}"`);
      continue;
    }
    const id = d.id ?? slugify(`${d.provider}-${d.model}`);
    if (ids.has(id)) {
      const other = ids.get(id);
      const where = other === null || other === undefined ? 'a default deployment' : `deployments[${other}]`;
      report(
        d.id === undefined ? at() : at('id'),
        d.id === undefined
          ? `the default id "${id}" (provider-model) is already used by ${where}; give one of them an explicit id`
          : `duplicate deployment id "${id}" (also ${where})`,
      );
      continue;
    }
    ids.set(id, index);

    const prices: Prices = {
      inputPerMTok: toMicros(d.prices.input, at('prices', 'input'), report),
      outputPerMTok: toMicros(d.prices.output, at('prices', 'output'), report),
      cachedInputPerMTok: toMicros(d.prices.cachedInput, at('prices', 'cachedInput'), report),
      perRequest: toMicros(d.prices.request, at('prices', 'request'), report),
    };
    const upstreamModel = d.upstreamModel ?? d.model;
    const deployment: Deployment = {
      id,
      model: d.model,
      version: d.version ?? upstreamModel,
      kind: d.kind,
      provider: provider.kind,
      upstreamModel,
      baseUrl: provider.baseUrl,
      apiKey: provider.apiKey,
      region: d.region,
      capacity: d.capacity,
      weight: d.weight,
      limitsFailMode: d.limitsFailMode,
      timeoutMs: provider.timeoutMs,
      prices,
      ownedBy: provider.name,
      created,
    };
    if (d.routingWeight !== undefined) deployment.routingWeight = d.routingWeight;
    if (d.attemptTimeoutMs !== undefined) deployment.attemptTimeoutMs = d.attemptTimeoutMs;
    // Tighter than the provider's timeout only: the body timeout never exceeds it.
    if (d.streamIdleTimeoutMs !== undefined) deployment.streamIdleTimeoutMs = Math.min(d.streamIdleTimeoutMs, provider.timeoutMs);
    if (provider.apiVersion !== undefined) deployment.apiVersion = provider.apiVersion;
    if (provider.kind === 'bedrock') {
      const region = d.awsRegion ?? provider.aws?.region ?? (AWS_REGION.test(d.region) ? d.region : undefined);
      if (region === undefined) {
        report(at('awsRegion'), `required for provider kind "bedrock" unless the provider's aws.region or this deployment's region is an AWS region`);
      } else if (provider.aws !== undefined) {
        deployment.aws = { ...provider.aws, region };
        if (deployment.baseUrl === '') deployment.baseUrl = `https://bedrock-runtime.${region}.amazonaws.com`;
      }
    } else if (d.awsRegion !== undefined) {
      report(at('awsRegion'), `only used by provider kind "bedrock", not "${provider.kind}"`);
    }
    if (provider.mock !== undefined) deployment.mock = { ...provider.mock };
    out.push(deployment);
  }
  return out;
}
