/**
 * The public endpoint of each provider kind that has one, used when a deployment names none:
 * by the configuration file's providers and by tenants' dedicated deployments alike. Adapters
 * append their own paths (`/chat/completions`, `/v1/messages`, `/v1beta/models/...`).
 * Bedrock has no single endpoint (one per AWS region); Azure and OpenAI-compatible servers are
 * wherever their owner runs them.
 */
import type { ProviderKind } from './types.js';

export const DEFAULT_BASE_URLS = {
  openai: 'https://api.openai.com/v1',
  gemini: 'https://generativelanguage.googleapis.com',
  anthropic: 'https://api.anthropic.com',
} as const satisfies Partial<Record<ProviderKind, string>>;

/** The default endpoint of a provider kind; undefined when it has none. */
export function defaultBaseUrl(kind: string): string | undefined {
  return Object.hasOwn(DEFAULT_BASE_URLS, kind) ? DEFAULT_BASE_URLS[kind as keyof typeof DEFAULT_BASE_URLS] : undefined;
}
