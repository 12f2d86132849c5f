/**
 * Reads an OpenAI-style SSE response as it arrives, timing the first body byte and counting
 * content deltas, so a stream can be checked for completeness (`[DONE]`, no lost chunk).
 */
import type { Dispatcher } from 'undici';
import type { Target } from './target.js';

export interface StreamStats {
  status: number;
  /** Request start → response headers, µs. */
  headersUs: number;
  /** Request start → first body chunk, µs. */
  ttfbUs: number;
  /** Request start → end of body, µs. */
  totalUs: number;
  /** Absolute hrtime (ns) of the response headers and of the end, to compute overlap. */
  openedAtNs: bigint;
  closedAtNs: bigint;
  contentEvents: number;
  done: boolean;
}

function contentOf(data: string): string | undefined {
  let event: unknown;
  try {
    event = JSON.parse(data);
  } catch {
    return undefined;
  }
  if (typeof event !== 'object' || event === null || !('choices' in event)) return undefined;
  const choices = event.choices;
  if (!Array.isArray(choices)) return undefined;
  const first: unknown = choices[0];
  if (typeof first !== 'object' || first === null || !('delta' in first)) return undefined;
  const delta = first.delta;
  if (typeof delta !== 'object' || delta === null || !('content' in delta)) return undefined;
  return typeof delta.content === 'string' ? delta.content : undefined;
}

const usSince = (t0: bigint, t1: bigint): number => Number(t1 - t0) / 1000;

export async function timedStream(dispatcher: Dispatcher, target: Target, body: string): Promise<StreamStats> {
  const t0 = process.hrtime.bigint();
  const res = await dispatcher.request({
    origin: target.origin,
    path: target.path,
    method: 'POST',
    headers: { 'content-type': 'application/json', ...target.headers },
    body,
  });
  const tHeaders = process.hrtime.bigint();
  let tFirst: bigint | undefined;
  let pending = '';
  let contentEvents = 0;
  let done = false;
  for await (const chunk of res.body) {
    tFirst ??= process.hrtime.bigint();
    pending += typeof chunk === 'string' ? chunk : (chunk as Buffer).toString('utf8');
    let nl = pending.indexOf('\n');
    while (nl >= 0) {
      const line = pending.slice(0, nl).trimEnd();
      pending = pending.slice(nl + 1);
      if (line.startsWith('data:')) {
        const data = line.slice(5).trim();
        if (data === '[DONE]') done = true;
        else if ((contentOf(data) ?? '').length > 0) contentEvents += 1;
      }
      nl = pending.indexOf('\n');
    }
  }
  const tEnd = process.hrtime.bigint();
  return {
    status: res.statusCode,
    headersUs: usSince(t0, tHeaders),
    ttfbUs: usSince(t0, tFirst ?? tEnd),
    totalUs: usSince(t0, tEnd),
    openedAtNs: tHeaders,
    closedAtNs: tEnd,
    contentEvents,
    done,
  };
}
