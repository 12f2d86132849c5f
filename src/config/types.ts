/** What `loadConfig` returns: the validated file, defaults applied, secrets resolved. */
import type { Deployment, MockBehaviour, ProviderKind } from '../providers/types.js';
import type { ApiKeyConfig, Config, TenantConfig } from './schema.js';

export interface ResolvedAwsCredentials {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken?: string;
  region?: string;
}

export interface ResolvedProvider {
  name: string;
  kind: ProviderKind;
  /**
   * Upstream base URL without a trailing slash. '' for a `mock` provider without a configured
   * baseUrl: the application starts the mock server on an ephemeral port and fills it in, so
   * no URL is invented here.
   */
  baseUrl: string;
  /** Resolved credential; '' when none is configured. Never log it. */
  apiKey: string;
  apiVersion?: string;
  /** Kind 'bedrock': resolved credentials and the provider's default AWS region. */
  aws?: ResolvedAwsCredentials;
  timeoutMs: number;
  /** Present for kind 'mock' (defaults filled in). */
  mock?: MockBehaviour;
  /** True for the `mock` provider added because the demo is enabled. */
  builtIn: boolean;
}

/** A key from the file with its secret resolved; the application hashes it and drops the value. */
export type ResolvedApiKey = Omit<ApiKeyConfig, 'value'> & { value: string };

export type ResolvedTenant = Omit<TenantConfig, 'keys'> & { keys: ResolvedApiKey[] };

export type LoadedConfig = Omit<Config, 'dataDir' | 'demo' | 'providers' | 'deployments' | 'tenants'> & {
  /** Absolute. A relative path is resolved against the config file's directory, or the cwd. */
  dataDir: string;
  /** `key` is the resolved demo API key; undefined lets the application generate one. */
  demo: { enabled: boolean; key: string | undefined };
  /** Declared providers, plus the built-in `mock` provider when the demo is enabled. */
  providers: ResolvedProvider[];
  /**
   * Fully resolved deployments. Prices are integer micro-units of the currency (1 USD =
   * 1,000,000): per million tokens for the token prices, per request for `perRequest`.
   * For kind 'mock' `baseUrl` may be '' (see ResolvedProvider.baseUrl).
   */
  deployments: Deployment[];
  tenants: ResolvedTenant[];
  /** Absolute path of the configuration file; undefined when running on defaults and env. */
  source: string | undefined;
};
