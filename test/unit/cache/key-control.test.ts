import { describe, expect, it } from 'vitest';
import { parseCacheControl } from '../../../src/cache/control.js';
import { cacheKey, canonicalJson, isDeterministic, normalizedRequest } from '../../../src/cache/key.js';
import { GatewayError } from '../../../src/errors.js';

const chat = (extra: Record<string, unknown>) => ({ model: 'm', messages: [{ role: 'user', content: 'hi' }], ...extra });

describe('deterministic rule', () => {
  it('embeddings are always deterministic', () => {
    expect(isDeterministic('embeddings', { input: 'x' })).toBe(true);
  });
  it('chat needs pinned sampling: temperature 0, top_p 0 or a seed', () => {
    expect(isDeterministic('chat', chat({}))).toBe(false);
    expect(isDeterministic('chat', chat({ temperature: 0.7 }))).toBe(false);
    expect(isDeterministic('chat', chat({ temperature: 0 }))).toBe(true);
    expect(isDeterministic('chat', chat({ top_p: 0 }))).toBe(true);
    expect(isDeterministic('completions', { prompt: 'x', seed: 7 })).toBe(true);
    expect(isDeterministic('chat', chat({ seed: 1.5 }))).toBe(false);
  });
  it('more than one choice is never deterministic', () => {
    expect(isDeterministic('chat', chat({ temperature: 0, n: 2 }))).toBe(false);
    expect(isDeterministic('completions', { prompt: 'x', temperature: 0, best_of: 3 })).toBe(false);
    expect(isDeterministic('chat', chat({ temperature: 0, n: 1 }))).toBe(true);
  });
  it('tools do not make a request non-deterministic (the gateway never executes them)', () => {
    expect(isDeterministic('chat', chat({ temperature: 0, tools: [{ type: 'function', function: { name: 'f' } }] }))).toBe(true);
  });
});

describe('key normalization', () => {
  const k = Buffer.alloc(32, 1);
  it('sorts object keys at every depth, keeps array order', () => {
    expect(canonicalJson({ b: 1, a: { d: [2, 1], c: null } })).toBe('{"a":{"c":null,"d":[2,1]},"b":1}');
    const a = normalizedRequest('chat', 'm', { messages: [{ role: 'user', content: 'x' }], temperature: 0 });
    const b = normalizedRequest('chat', 'm', { temperature: 0, messages: [{ content: 'x', role: 'user' }] });
    expect(a).toBe(b);
    expect(normalizedRequest('chat', 'm', { messages: ['a', 'b'] })).not.toBe(normalizedRequest('chat', 'm', { messages: ['b', 'a'] }));
  });
  it('leaves out fields that do not change the answer, keeps those that do', () => {
    const base = chat({ temperature: 0 });
    const key = (body: Record<string, unknown>) => cacheKey(k, normalizedRequest('chat', 'm', body));
    expect(key({ ...base, user: 'alice', metadata: { x: '1' }, store: true, service_tier: 'auto' })).toBe(key(base));
    expect(key({ ...base, max_tokens: 5 })).not.toBe(key(base));
    expect(key({ ...base, stream: true })).not.toBe(key(base));
    expect(key({ ...base, stream: true, stream_options: { include_usage: true } })).not.toBe(key({ ...base, stream: true }));
  });
  it('the operation, the model and the tenant key all change the key', () => {
    const body = { input: 'x' };
    const n = normalizedRequest('embeddings', 'm', body);
    expect(cacheKey(k, n)).not.toBe(cacheKey(k, normalizedRequest('embeddings', 'other', body)));
    expect(cacheKey(k, n)).not.toBe(cacheKey(Buffer.alloc(32, 2), n));
    expect(cacheKey(k, n)).toMatch(/^[A-Za-z0-9_-]{43}$/);
  });
});

describe('Cache-Control parsing', () => {
  it('defaults to look up and store', () => {
    expect(parseCacheControl(undefined, undefined)).toEqual({ lookup: true, store: true, maxAgeS: undefined, forced: false });
  });
  it('no-store: neither; no-cache: store only; max-age bounds the age', () => {
    expect(parseCacheControl('no-store', undefined)).toMatchObject({ lookup: false, store: false });
    expect(parseCacheControl('No-Cache', undefined)).toMatchObject({ lookup: false, store: true });
    expect(parseCacheControl('max-age=30, foo=bar', undefined)).toMatchObject({ lookup: true, store: true, maxAgeS: 30 });
    expect(parseCacheControl('max-age="5"', undefined)).toMatchObject({ maxAgeS: 5 });
    expect(parseCacheControl('max-age=0', undefined)).toMatchObject({ lookup: false, store: true });
  });
  it('x-gatehouse-cache: off wins; on forces caching but respects no-store', () => {
    expect(parseCacheControl('max-age=10', 'off')).toMatchObject({ lookup: false, store: false });
    expect(parseCacheControl(undefined, 'ON')).toMatchObject({ lookup: true, store: true, forced: true });
    expect(parseCacheControl('no-store', 'on')).toMatchObject({ lookup: false, store: false });
  });
  it('refuses malformed values with a 400', () => {
    for (const [cc, ours] of [['max-age=-1', undefined], ['max-age=abc', undefined], ['max-age', undefined], [undefined, 'maybe']] as const) {
      let err: unknown;
      try {
        parseCacheControl(cc, ours);
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(GatewayError);
      expect((err as GatewayError).status).toBe(400);
    }
  });
});
