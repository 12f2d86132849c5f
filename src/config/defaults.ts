/**
 * What the demo adds when the operator has configured nothing: a `mock` provider and a handful
 * of OpenAI-named models on it, so `gatehouse start` on a laptop answers the official SDKs with
 * no upstream account. Prices are OpenAI list prices (USD per million tokens) so the metering
 * and billing paths show realistic numbers.
 */
import type { MockBehaviour } from '../providers/types.js';
import type { DeploymentConfig, ProviderConfig } from './schema.js';

export const MOCK_PROVIDER = 'mock';

export const DEFAULT_MOCK_BEHAVIOUR: Readonly<MockBehaviour> = {
  latencyMs: 0,
  tokensPerSecond: 0,
  errorRate: 0,
  errorStatus: 500,
};

/** Same default as the schema's provider.timeoutMs. */
const DEFAULT_TIMEOUT_MS = 600_000;

export function builtInMockProvider(): ProviderConfig {
  return { name: MOCK_PROVIDER, kind: 'mock', timeoutMs: DEFAULT_TIMEOUT_MS, mock: { ...DEFAULT_MOCK_BEHAVIOUR } };
}

export interface DemoDeployment {
  config: DeploymentConfig;
  /** Unix seconds reported as `created` by /v1/models (the upstream model's release). */
  created: number;
}

function demo(
  model: string,
  kind: DeploymentConfig['kind'],
  version: string,
  prices: { input: number; output?: number; cachedInput?: number },
  created: number,
): DemoDeployment {
  return {
    config: {
      model,
      provider: MOCK_PROVIDER,
      kind,
      version,
      region: 'default',
      capacity: 256,
      weight: 1,
      limitsFailMode: 'closed',
      prices: { input: prices.input, output: prices.output ?? 0, cachedInput: prices.cachedInput ?? 0, request: 0 },
    },
    created,
  };
}

/** Added only when the demo is enabled and no deployments are declared at all. */
export function demoDeployments(): DemoDeployment[] {
  return [
    demo('gpt-4o-mini', 'chat', 'gpt-4o-mini-2024-07-18', { input: 0.15, output: 0.6, cachedInput: 0.075 }, 1721172741),
    demo('gpt-4o', 'chat', 'gpt-4o-2024-08-06', { input: 2.5, output: 10, cachedInput: 1.25 }, 1722814719),
    demo('gpt-3.5-turbo-instruct', 'completion', 'gpt-3.5-turbo-instruct-0914', { input: 1.5, output: 2 }, 1692901427),
    demo('text-embedding-3-small', 'embedding', 'text-embedding-3-small', { input: 0.02 }, 1705948997),
    demo('text-embedding-3-large', 'embedding', 'text-embedding-3-large', { input: 0.13 }, 1705953180),
  ];
}
