import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { canonicalEntry, canonicalJson, entryHash } from '../../../src/audit/index.js';
import type { AuditRecord } from '../../../src/store/index.js';
import { record } from './fixtures.js';

describe('canonicalJson', () => {
  it('sorts keys at every depth and writes no whitespace', () => {
    expect(canonicalJson({ b: 1, a: { d: [3, { z: null, y: true }], c: 'x' } })).toBe('{"a":{"c":"x","d":[3,{"y":true,"z":null}]},"b":1}');
  });

  it('is independent of key insertion order (jsonb reorders keys)', () => {
    const one = { name: 'n', scopes: ['a', 'b'], nested: { x: 1, y: 2 } };
    const two = { nested: { y: 2, x: 1 }, scopes: ['a', 'b'], name: 'n' };
    expect(canonicalJson(one)).toBe(canonicalJson(two));
  });

  it('orders keys by UTF-16 code units (RFC 8785) and escapes strings as JSON', () => {
    expect(canonicalJson({ é: 1, z: 2, Z: 3, '\u{1F600}': 4, '\ufb01': 5 })).toBe('{"Z":3,"z":2,"é":1,"\u{1F600}":4,"\ufb01":5}');
    expect(canonicalJson('a"b\\c\n')).toBe('"a\\"b\\\\c\\n"');
  });

  it('drops undefined members, refuses what is not JSON', () => {
    expect(canonicalJson({ a: undefined, b: 1 })).toBe('{"b":1}');
    expect(() => canonicalJson(Number.NaN)).toThrow(TypeError);
    expect(() => canonicalJson({ x: Infinity })).toThrow(TypeError);
    expect(() => canonicalJson(10n)).toThrow(TypeError);
  });
});

describe('entry hash', () => {
  it('is SHA-256(prev_hash || canonical entry), computed independently here', () => {
    const r = record();
    const canonical =
      '{"action":"key.create","actor_id":"u-1","actor_kind":"user","after":{"name":"ci","scopes":["inference"]},' +
      '"at":"2026-01-02T03:04:05.678Z","before":null,"id":"0b6f1d8e-2c3a-4f5b-8e9d-1a2b3c4d5e6f","outcome":"success",' +
      '"request_id":"req-1","seq":1,"source_ip":"192.0.2.1","target_id":"k-1","target_kind":"api_key",' +
      '"tenant_id":"3f1b8a52-5a3c-4b8e-9d0e-6b2f1c7a9e10","v":1}';
    expect(canonicalEntry(r)).toBe(canonical);
    const expected = createHash('sha256').update(Buffer.concat([Buffer.alloc(32), Buffer.from(canonical, 'utf8')])).digest();
    expect(entryHash(r)?.equals(expected)).toBe(true);
  });

  it('changes with every hashed field, including the previous hash, tenant and position', () => {
    const base = entryHash(record());
    const variants: Partial<AuditRecord>[] = [
      { prevHash: Buffer.alloc(32, 1) },
      { tenantId: '3f1b8a52-5a3c-4b8e-9d0e-6b2f1c7a9e11' },
      { seq: 2 },
      { at: new Date('2026-01-02T03:04:05.679Z') },
      { actorId: null },
      { outcome: 'failure' },
      { sourceIp: null },
      { after: { name: 'ci', scopes: ['inference', 'admin'] } },
      { before: {} },
    ];
    for (const v of variants) expect({ v, same: entryHash(record(v))?.equals(base ?? Buffer.alloc(0)) }).toEqual({ v, same: false });
  });

  it('has no canonical form for an unknown version', () => {
    expect(canonicalEntry(record({ version: 2 }))).toBeUndefined();
    expect(entryHash(record({ version: 2 }))).toBeUndefined();
  });
});
