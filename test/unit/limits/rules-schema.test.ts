/** The limit-rule schema shared by the configuration, the admin API and the store's callers. */
import { describe, expect, it } from 'vitest';
import { limitRuleSchema, MAX_RULES, parseStoredRules, planRulesSchema } from '../../../src/limits/rules-schema.js';

const base = { id: 'rpm', metric: 'requests', window: 'minute', limit: 60 };

/** The paths and messages of a failed parse. */
function problems(value: unknown, schema: typeof limitRuleSchema | typeof planRulesSchema = limitRuleSchema): string[] {
  const r = schema.safeParse(value);
  return r.success ? [] : r.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`);
}

describe('limitRuleSchema', () => {
  it('fills the nullable fields and the tenant scope, so a short rule is a full LimitRule', () => {
    expect(limitRuleSchema.parse(base)).toEqual({ ...base, scope: 'tenant', subject: null, burst: null, models: null });
    expect(limitRuleSchema.parse({ id: 'conc', metric: 'concurrency', limit: 4 })).toMatchObject({ window: null });
  });

  it('accepts every scope with a subject, rate windows with a burst above or below the limit, model groups', () => {
    for (const scope of ['team', 'key', 'user']) {
      expect(problems({ ...base, scope, subject: 'someone' })).toEqual([]);
      expect(problems({ ...base, scope, subject: null })).toEqual([]);
    }
    expect(problems({ ...base, burst: 600 })).toEqual([]);
    expect(problems({ ...base, window: 'second', burst: 1 })).toEqual([]);
    expect(problems({ ...base, models: ['gpt-4o', 'o1*'] })).toEqual([]);
    expect(problems({ ...base, metric: 'cost', window: 'month', limit: 0 })).toEqual([]);
    expect(problems({ ...base, limit: 1e15 })).toEqual([]);
  });

  it.each([
    ['a window on concurrency', { id: 'c', metric: 'concurrency', window: 'minute', limit: 1 }, 'window: must be null'],
    ['no window on a counted metric', { id: 'r', metric: 'tokens', limit: 1 }, 'window: required for metric "tokens"'],
    ['a burst on a calendar window', { ...base, window: 'day', burst: 10 }, 'burst: only rate windows'],
    ['a burst on concurrency', { id: 'c', metric: 'concurrency', limit: 1, burst: 2 }, 'burst: only rate windows'],
    ['a burst of 0', { ...base, burst: 0 }, 'burst:'],
    ['a subject on scope tenant', { ...base, subject: 'team-1' }, 'subject: must be null for scope "tenant"'],
    ['a subject over 256 characters', { ...base, scope: 'key', subject: 'k'.repeat(257) }, 'subject:'],
    ['a control character in a subject', { ...base, scope: 'user', subject: 'a\nb' }, 'subject: subject must not contain control characters'],
    ['an empty model list', { ...base, models: [] }, 'models:'],
    ['an empty model name', { ...base, models: [''] }, 'models.0:'],
    ['a model name over 256 characters', { ...base, models: ['m'.repeat(257)] }, 'models.0:'],
    ['a duplicate model', { ...base, models: ['a', 'a'] }, 'models.1: duplicate model "a"'],
    ['a fractional limit', { ...base, limit: 1.5 }, 'limit:'],
    ['a negative limit', { ...base, limit: -1 }, 'limit:'],
    ['a limit above 1e15', { ...base, limit: 1e15 + 1 }, 'limit:'],
    ['an id that is not a slug', { ...base, id: 'Requests Per Minute' }, 'id:'],
    ['an id over 63 characters', { ...base, id: 'a'.repeat(64) }, 'id:'],
    ['an unknown metric', { ...base, metric: 'storage' }, 'metric:'],
    ['an unknown window', { ...base, window: 'week' }, 'window:'],
    ['an unknown scope', { ...base, scope: 'org' }, 'scope:'],
    ['an unknown field', { ...base, per: 'minute' }, ':'],
  ])('refuses %s', (_what, value, expected) => {
    const found = problems(value);
    expect(found.some((p) => p.startsWith(expected)), found.join('; ')).toBe(true);
  });
});

describe('limitRuleSchema: the config_objects storage quota', () => {
  const quota = { id: 'config-objects', metric: 'config_objects', limit: 200 };

  it('is a tenant-wide number: id and limit, everything else null', () => {
    expect(limitRuleSchema.parse(quota)).toEqual({ ...quota, scope: 'tenant', subject: null, window: null, burst: null, models: null });
    expect(problems({ ...quota, limit: 0 })).toEqual([]);
  });

  it.each([
    ['scope team', { ...quota, scope: 'team' }, 'scope: must be "tenant": a storage quota ("config_objects") applies to the whole tenant'],
    ['scope key with a subject', { ...quota, scope: 'key', subject: 'k1' }, 'subject: must be null (or absent): a storage quota'],
    ['a window', { ...quota, window: 'day' }, 'window: must be null (or absent): a storage quota ("config_objects")'],
    ['a burst', { ...quota, burst: 10 }, 'burst: must be null (or absent)'],
    ['models', { ...quota, models: ['gpt-4o'] }, 'models: must be null (or absent)'],
  ])('refuses %s', (_what, value, expected) => {
    const found = problems(value);
    expect(found.some((p) => p.startsWith(expected)), found.join('; ')).toBe(true);
  });

  it('names every wrong field at once', () => {
    expect(problems({ ...quota, scope: 'user', window: 'minute', models: ['a'] }).map((p) => p.split(':')[0])).toEqual(['scope', 'window', 'models']);
  });
});

describe('planRulesSchema', () => {
  it('refuses duplicate ids with the path of the second, and more than MAX_RULES rules', () => {
    expect(problems([base, { ...base, limit: 1 }], planRulesSchema)).toEqual(['1.id: duplicate rule id "rpm" (also [0])']);
    const many = Array.from({ length: MAX_RULES + 1 }, (_, i) => ({ ...base, id: `r${i}` }));
    expect(problems(many, planRulesSchema)).toHaveLength(1);
    expect(problems(many.slice(0, MAX_RULES), planRulesSchema)).toEqual([]);
  });

  it('reports a bad rule with its index', () => {
    expect(problems([base, { ...base, id: 'x', window: null }], planRulesSchema)[0]).toMatch(/^1\.window: required/);
  });
});

describe('parseStoredRules', () => {
  it('keeps the rules this version understands and drops the rest', () => {
    const good = { ...base, scope: 'tenant', subject: null, burst: null, models: null };
    expect(parseStoredRules([good, { ...good, id: 'future', metric: 'storage_bytes' }, 'junk', null])).toEqual([good]);
    expect(parseStoredRules({ not: 'an array' })).toEqual([]);
  });
});
