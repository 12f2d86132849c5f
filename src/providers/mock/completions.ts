/**
 * POST /v1/completions, the legacy text completions API (text_completion objects), streaming
 * included. `prompt` may be a string, an array of strings, a token array or an array of token
 * arrays; choices are ordered prompt by prompt, n per prompt, as OpenAI orders them.
 */
import { FINGERPRINT, includeUsage, positiveInt, stopList, usageObject } from './chat.js';
import { completionLogprobs, completionLogprobsObject } from './logprobs.js';
import { mockId } from './respond.js';
import { type FinishReason, cyclePieces, estimateTokens, limitPieces, replyText, toPieces } from './text.js';

const REPLY_PREFIX = ' This is a mock completion of: ';

type Body = Record<string, unknown>;

export interface CompletionPlan {
  id: string;
  created: number;
  model: string;
  choices: { pieces: string[]; finish: FinishReason }[];
  promptTokens: number;
  completionTokens: number;
  includeUsage: boolean;
  /** `logprobs: N`: how many alternatives per token. */
  logprobs: number | undefined;
}

interface Prompt {
  text: string;
  tokens: number;
}

/** The prompts of a request; token-array prompts are described, not decoded. */
export function prompts(v: unknown): Prompt[] | undefined {
  if (typeof v === 'string') return [{ text: v, tokens: estimateTokens(v) }];
  if (!Array.isArray(v) || v.length === 0) return undefined;
  if (v.every((x) => typeof x === 'number')) return [tokenPrompt(v.length)];
  const out: Prompt[] = [];
  for (const p of v) {
    if (typeof p === 'string') out.push({ text: p, tokens: estimateTokens(p) });
    else if (Array.isArray(p) && p.every((x) => typeof x === 'number')) out.push(tokenPrompt(p.length));
    else return undefined;
  }
  return out;
}

function tokenPrompt(count: number): Prompt {
  return { text: `${count} tokens`, tokens: count };
}

export function planCompletion(body: Body, list: Prompt[], model: string, tokens: number | undefined): CompletionPlan {
  const n = positiveInt(body.n) ?? 1;
  const maxTokens = positiveInt(body.max_tokens);
  const stop = stopList(body.stop);
  const echo = body.echo === true;
  const choices: CompletionPlan['choices'] = [];
  let completionTokens = 0;
  let promptTokens = 0;
  for (const p of list) {
    promptTokens += p.tokens;
    const base = toPieces(replyText(p.text, REPLY_PREFIX));
    for (let i = 0; i < n; i++) {
      const limited = limitPieces(tokens === undefined ? base : cyclePieces(base, tokens), maxTokens, stop);
      completionTokens += limited.pieces.length;
      choices.push(echo ? { pieces: [p.text, ...limited.pieces], finish: limited.finish } : limited);
    }
  }
  return {
    id: mockId('cmpl-'),
    created: Math.floor(Date.now() / 1000),
    model,
    choices,
    promptTokens,
    completionTokens,
    includeUsage: includeUsage(body),
    logprobs: completionLogprobs(body),
  };
}

export function completion(plan: CompletionPlan): Record<string, unknown> {
  return {
    id: plan.id,
    object: 'text_completion',
    created: plan.created,
    model: plan.model,
    system_fingerprint: FINGERPRINT,
    choices: plan.choices.map((c, index) => ({
      text: c.pieces.join(''),
      index,
      logprobs: plan.logprobs === undefined ? null : completionLogprobsObject(c.pieces, plan.logprobs),
      finish_reason: c.finish,
    })),
    usage: usageObject(plan.promptTokens, plan.completionTokens),
  };
}

/** Streamed legacy completions: text pieces per choice, then a finish event per choice. */
export function* completionChunks(plan: CompletionPlan): Generator<string> {
  const prefix = `data: {"id":"${plan.id}","object":"text_completion","created":${plan.created},"model":${JSON.stringify(plan.model)},"system_fingerprint":"${FINGERPRINT}","choices":[`;
  const suffix = plan.includeUsage ? '],"usage":null}\n\n' : ']}\n\n';
  const longest = Math.max(0, ...plan.choices.map((c) => c.pieces.length));
  const offsets = plan.choices.map(() => 0);
  for (let t = 0; t < longest; t++) {
    for (let i = 0; i < plan.choices.length; i++) {
      const piece = plan.choices[i]?.pieces[t];
      if (piece === undefined) continue;
      const at = offsets[i] ?? 0;
      offsets[i] = at + piece.length;
      const logprobs = plan.logprobs === undefined ? 'null' : JSON.stringify(completionLogprobsObject([piece], plan.logprobs, at));
      yield `${prefix}{"text":${JSON.stringify(piece)},"index":${i},"logprobs":${logprobs},"finish_reason":null}${suffix}`;
    }
  }
  for (let i = 0; i < plan.choices.length; i++) {
    yield `${prefix}{"text":"","index":${i},"logprobs":null,"finish_reason":"${plan.choices[i]?.finish ?? 'stop'}"}${suffix}`;
  }
  if (plan.includeUsage) {
    yield `${prefix}],"usage":${JSON.stringify(usageObject(plan.promptTokens, plan.completionTokens))}}\n\n`;
  }
  yield 'data: [DONE]\n\n';
}
