/** One request before measuring, so a misconfigured target fails loudly instead of benching 4xx. */
import { request } from 'undici';
import type { Target } from './target.js';

export async function checkTarget(target: Target, body: string): Promise<string | undefined> {
  try {
    const res = await request(target.origin + target.path, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...target.headers },
      body,
      headersTimeout: 10_000,
      bodyTimeout: 10_000,
    });
    const text = await res.body.text();
    if (res.statusCode === 200) return undefined;
    return `POST ${target.path} answered ${res.statusCode}: ${text.slice(0, 300)}`;
  } catch (err) {
    return `POST ${target.path} failed: ${err instanceof Error ? err.message : String(err)}`;
  }
}
