/** One thing the bench sends requests to, and the process whose CPU that costs. */

export type TargetName = 'direct' | 'bare' | 'gatehouse' | 'fetch' | 'limits' | 'limits-redis';

export interface Target {
  name: TargetName;
  label: string;
  /** e.g. http://127.0.0.1:40123 */
  origin: string;
  /** Path of the chat completions route on this target. */
  path: string;
  headers: Record<string, string>;
  /** The process doing this target's work (for direct: the mock upstream itself). */
  pid: number;
}

export const MODEL = 'gpt-4o-mini';

/**
 * A small non-streaming chat completion. `mock` is the mock upstream's per-request knob; the
 * gateway forwards unknown body fields, so every target asks the upstream for the same work.
 */
export function chatBody(tokens: number): string {
  return JSON.stringify({
    model: MODEL,
    messages: [{ role: 'user', content: 'Say hello in one short sentence.' }],
    max_tokens: tokens,
    mock: { tokens, latencyMs: 0 },
  });
}

export function streamBody(tokens: number, latencyMs = 0, tokensPerSecond = 0): string {
  return JSON.stringify({
    model: MODEL,
    messages: [{ role: 'user', content: 'Count slowly.' }],
    max_tokens: tokens,
    stream: true,
    mock: tokensPerSecond > 0 ? { tokens, latencyMs, tokensPerSecond } : { tokens, latencyMs },
  });
}
