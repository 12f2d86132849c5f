/**
 * The save-time check of an address a tenant sets (src/routing/ssrf.ts): run before the write's
 * transaction (it may resolve DNS, which must not hold a transaction open), answered as a 400
 * naming the field and the rule. The connect-time check is the one that counts; this is the
 * early, clear answer.
 */
import { checkOutboundUrl } from '../../routing/ssrf.js';
import type { AdminEnv } from '../context.js';
import { invalid } from '../problems.js';

export async function assertOutboundAllowed(env: AdminEnv, url: string | null | undefined, param: string): Promise<void> {
  if (url === null || url === undefined) return;
  const problem = await checkOutboundUrl(url, env.outbound, env.resolve);
  if (problem !== undefined) throw invalid(`${param} ${problem.message} [rule: ${problem.rule}].`, param);
}
