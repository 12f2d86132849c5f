/**
 * Log probabilities in OpenAI's shapes, for the mock's pieces (its tokens): chat's
 * `logprobs.content[]` ({token, logprob, bytes, top_logprobs}) when `logprobs: true`, with
 * `top_logprobs` alternatives, and the legacy completions' `logprobs` object when `logprobs: N`.
 * Deterministic: the chosen token is the likeliest, its alternatives trail it.
 */

type Body = Record<string, unknown>;

/** Chat: how many alternatives per token when the request asks for logprobs, else undefined. */
export function chatLogprobs(body: Body): number | undefined {
  if (body.logprobs !== true) return undefined;
  return alternatives(body.top_logprobs, 20);
}

/** Legacy completions: `logprobs: N` (0 to 5) asks for them with N alternatives. */
export function completionLogprobs(body: Body): number | undefined {
  return typeof body.logprobs === 'number' ? alternatives(body.logprobs, 5) : undefined;
}

function alternatives(v: unknown, max: number): number {
  return typeof v === 'number' && Number.isInteger(v) && v > 0 ? Math.min(v, max) : 0;
}

function logprobOf(token: string): number {
  return -(0.01 + (token.length % 7) * 0.03);
}

/** The alternatives of `token`, itself first. */
function top(token: string, count: number): { token: string; logprob: number }[] {
  const lp = logprobOf(token);
  const out: { token: string; logprob: number }[] = [];
  for (let k = 0; k < count; k++) out.push({ token: k === 0 ? token : `${token}~${k}`, logprob: k === 0 ? lp : lp - 1.5 * k });
  return out;
}

function bytesOf(token: string): number[] {
  return [...Buffer.from(token, 'utf8')];
}

/** One entry of chat's `logprobs.content`. */
export function chatTokenLogprob(token: string, count: number): Record<string, unknown> {
  return {
    token,
    logprob: logprobOf(token),
    bytes: bytesOf(token),
    top_logprobs: top(token, count).map((t) => ({ ...t, bytes: bytesOf(t.token) })),
  };
}

/** A choice's (or a chunk's) chat `logprobs` object for these tokens. */
export function chatLogprobsObject(tokens: readonly string[], count: number): Record<string, unknown> {
  return { content: tokens.map((t) => chatTokenLogprob(t, count)), refusal: null };
}

/** A legacy completion's `logprobs` object; offsets count from `offset` in the choice's text. */
export function completionLogprobsObject(tokens: readonly string[], count: number, offset = 0): Record<string, unknown> {
  const textOffset: number[] = [];
  let at = offset;
  for (const t of tokens) {
    textOffset.push(at);
    at += t.length;
  }
  return {
    tokens,
    token_logprobs: tokens.map(logprobOf),
    top_logprobs: tokens.map((t) => Object.fromEntries(top(t, Math.max(1, count)).map((x) => [x.token, x.logprob]))),
    text_offset: textOffset,
  };
}
