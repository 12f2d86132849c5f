/**
 * The provider adapters of the process, by provider kind. One OpenAI-wire adapter serves every
 * kind that speaks that wire format; adapters for other APIs (Gemini; issue 7: Anthropic,
 * Bedrock) get their own instance here, each reusing ./upstream-call.ts (the exchange),
 * ./upstream-errors.ts, ./sse.ts and ./usage.ts.
 */
import { GatewayError } from '../errors.js';
import { createAnthropicAdapter } from './anthropic/index.js';
import { createBedrockAdapter } from './bedrock/index.js';
import { createGeminiAdapter } from './gemini/index.js';
import { OPENAI_WIRE_KINDS, createOpenAIAdapter } from './openai/index.js';
import type { ProviderAdapter, ProviderKind } from './types.js';

export interface ProviderAdapters {
  get(kind: ProviderKind): ProviderAdapter;
  close(): Promise<void>;
}

export function createProviderAdapters(): ProviderAdapters {
  const openai = createOpenAIAdapter();
  const byKind = new Map<ProviderKind, ProviderAdapter>();
  for (const kind of OPENAI_WIRE_KINDS) byKind.set(kind, openai);
  const bedrock = createBedrockAdapter();
  byKind.set('bedrock', bedrock);
  const gemini = createGeminiAdapter();
  byKind.set('gemini', gemini);
  const anthropic = createAnthropicAdapter();
  byKind.set('anthropic', anthropic);
  const all: ProviderAdapter[] = [openai, bedrock, gemini, anthropic];

  return {
    get(kind: ProviderKind): ProviderAdapter {
      const adapter = byKind.get(kind);
      if (adapter === undefined) throw new GatewayError('internal_error', `No adapter for provider kind '${kind}'.`);
      return adapter;
    },
    async close(): Promise<void> {
      await Promise.all(all.map((a) => a.close()));
    },
  };
}

export type { ProviderAdapter, ProviderKind } from './types.js';
export { UpstreamHttpError } from './upstream-errors.js';
