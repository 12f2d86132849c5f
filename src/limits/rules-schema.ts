/**
 * Validation of limit rules (types.ts) wherever they enter: the configuration file, the admin API
 * and the store's writers. The database CHECKs (migration 0008) mirror the structural rules as a
 * backstop; this schema is the one that explains what is wrong, with a path.
 *
 * Decisions:
 * - `burst` is a bucket size of its own, any integer ≥ 1: larger than `limit` allows bursts above
 *   the rate, smaller smooths traffic (60/minute with burst 10 admits at most 10 at once). A
 *   request whose amount exceeds the bucket can never be admitted, so token rules want a burst at
 *   least as large as the biggest request (null: the bucket is `limit`).
 * - A storage quota (`config_objects`) is tenant-wide with no window, burst or models: only its
 *   id and limit mean anything, and anything else set is an error rather than silently ignored.
 * - Nullable fields default to null and `scope` to 'tenant', so a file can say
 *   `{ id: rpm, metric: requests, window: minute, limit: 60 }`; the output is always a full rule.
 */
import { z } from 'zod';
import { LIMIT_SCOPES, METRICS, RATE_WINDOWS, STORAGE_METRICS, WINDOWS, type LimitRule } from './types.js';

/** Largest limit or burst: far above any real quota, still exact as a double and a bigint. */
export const MAX_LIMIT = 1_000_000_000_000_000;
export const MAX_RULES = 100;
const MAX_MODELS = 256;

// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u001f\u007f]/;

export const ruleId = z
  .string()
  .regex(/^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/, 'must be 1 to 63 of a-z, 0-9 and "-", not starting or ending with "-"')
  .describe('a rule id (a-z, 0-9 and "-", 1-63 characters)');

const text256 = (what: string) =>
  z
    .string()
    .min(1)
    .max(256)
    .refine((s) => !CONTROL.test(s), `${what} must not contain control characters`);

const amount = z.number().int().min(0).max(MAX_LIMIT);

const isRate = (w: string | null): boolean => w !== null && (RATE_WINDOWS as readonly string[]).includes(w);

export const limitRuleSchema = z
  .strictObject({
    id: ruleId,
    scope: z.enum(LIMIT_SCOPES).default('tenant'),
    subject: text256('subject').nullable().default(null).describe('one team/key/user id, or null: each subject of the scope'),
    metric: z.enum(METRICS),
    window: z.enum(WINDOWS).nullable().default(null),
    limit: amount,
    burst: z.number().int().min(1).max(MAX_LIMIT).nullable().default(null),
    models: z
      .array(text256('a model name'))
      .min(1)
      .max(MAX_MODELS)
      .nullable()
      .default(null)
      .describe('model names (a trailing * is a prefix), or null: every model'),
  })
  .superRefine((r, ctx) => {
    if (STORAGE_METRICS.has(r.metric)) {
      // A storage quota is one number per tenant: nothing else of the rule means anything.
      const tenantWide = `a storage quota ("${r.metric}") applies to the whole tenant`;
      if (r.scope !== 'tenant') ctx.addIssue({ code: 'custom', path: ['scope'], input: r.scope, message: `must be "tenant": ${tenantWide}` });
      for (const field of ['subject', 'window', 'burst', 'models'] as const) {
        if (r[field] !== null) ctx.addIssue({ code: 'custom', path: [field], input: r[field], message: `must be null (or absent): ${tenantWide}` });
      }
      return;
    }
    if (r.metric === 'concurrency' && r.window !== null) {
      ctx.addIssue({ code: 'custom', path: ['window'], input: r.window, message: 'must be null (or absent) for metric "concurrency"' });
    }
    if (r.metric !== 'concurrency' && r.window === null) {
      ctx.addIssue({ code: 'custom', path: ['window'], input: r.window, message: `required for metric "${r.metric}": one of ${WINDOWS.join(', ')}` });
    }
    if (r.burst !== null && !isRate(r.window)) {
      ctx.addIssue({ code: 'custom', path: ['burst'], input: r.burst, message: `only rate windows (${RATE_WINDOWS.join(', ')}) have a burst` });
    }
    if (r.scope === 'tenant' && r.subject !== null) {
      ctx.addIssue({ code: 'custom', path: ['subject'], input: r.subject, message: 'must be null for scope "tenant"' });
    }
    if (r.models !== null) {
      const seen = new Set<string>();
      r.models.forEach((m, i) => {
        if (seen.has(m)) ctx.addIssue({ code: 'custom', path: ['models', i], input: m, message: `duplicate model "${m}"` });
        seen.add(m);
      });
    }
  });

/** A list of rules, as a plan or a tenant's overrides hold them: unique ids, at most MAX_RULES. */
export const planRulesSchema = z
  .array(limitRuleSchema)
  .max(MAX_RULES)
  .superRefine((rules, ctx) => {
    const seen = new Map<string, number>();
    rules.forEach((r, i) => {
      const first = seen.get(r.id);
      if (first !== undefined) ctx.addIssue({ code: 'custom', path: [i, 'id'], input: r.id, message: `duplicate rule id "${r.id}" (also [${first}])` });
      else seen.set(r.id, i);
    });
  });

export type LimitRuleInput = z.input<typeof limitRuleSchema>;

// The schema's output must stay assignable to the domain type (and back).
const _check: (r: z.output<typeof limitRuleSchema>) => LimitRule = (r) => r;
void _check;

/** The rules that pass validation, each a fresh object; invalid entries are dropped. */
export function parseStoredRules(value: unknown): LimitRule[] {
  if (!Array.isArray(value)) return [];
  const out: LimitRule[] = [];
  for (const item of value) {
    const parsed = limitRuleSchema.safeParse(item);
    if (parsed.success) out.push(parsed.data);
  }
  return out;
}
