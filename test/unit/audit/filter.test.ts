import { describe, expect, it } from 'vitest';
import { checkAuditFilter } from '../../../src/audit/index.js';

describe('checkAuditFilter', () => {
  it('defaults: newest first, 100 per page, everything', () => {
    expect(checkAuditFilter({})).toEqual({
      ok: true,
      limit: 100,
      search: { from: null, to: null, action: null, actionPrefix: null, actorKind: null, actorId: null, afterSeq: null, order: 'desc' },
    });
  });

  it("takes an exact action or a '.*' prefix", () => {
    expect(checkAuditFilter({ action: 'key.create' })).toMatchObject({ ok: true, search: { action: 'key.create', actionPrefix: null } });
    expect(checkAuditFilter({ action: 'key.*' })).toMatchObject({ ok: true, search: { action: null, actionPrefix: 'key.' } });
    for (const action of ['key%', 'KEY.create', '*', 'key.*.x', '']) {
      expect({ action, r: checkAuditFilter({ action }) }).toMatchObject({ action, r: { ok: false, reason: 'invalid_action' } });
    }
  });

  it('limits pages to 1..1000, exports (no default) only to positive integers', () => {
    expect(checkAuditFilter({ limit: 1000 })).toMatchObject({ ok: true, limit: 1000 });
    for (const limit of [0, -1, 1.5, 1001]) expect(checkAuditFilter({ limit })).toMatchObject({ ok: false, reason: 'invalid_limit' });
    expect(checkAuditFilter({ limit: 50_000 }, null)).toMatchObject({ ok: true, limit: 50_000 });
    expect(checkAuditFilter({}, null)).toMatchObject({ ok: true, limit: null });
  });

  it('accepts only cursors it issued, for the same order', () => {
    const cursor = Buffer.from('v1.desc.42').toString('base64url');
    expect(checkAuditFilter({ cursor })).toMatchObject({ ok: true, search: { afterSeq: 42 } });
    expect(checkAuditFilter({ cursor, order: 'asc' })).toMatchObject({ ok: false, reason: 'invalid_cursor' });
    for (const bad of ['', 'xyz', Buffer.from('v1.desc.0').toString('base64url'), Buffer.from('v1.desc.-1').toString('base64url')]) {
      expect(checkAuditFilter({ cursor: bad })).toMatchObject({ ok: false, reason: 'invalid_cursor' });
    }
  });

  it('refuses invalid times, actors and orders', () => {
    expect(checkAuditFilter({ from: new Date(Number.NaN) })).toMatchObject({ ok: false, reason: 'invalid_time' });
    expect(checkAuditFilter({ actor: { kind: 'Robert); --' } })).toMatchObject({ ok: false, reason: 'invalid_actor' });
    expect(checkAuditFilter({ actor: { id: '' } })).toMatchObject({ ok: false, reason: 'invalid_actor' });
    const order = 'sideways' as unknown as 'asc';
    expect(checkAuditFilter({ order })).toMatchObject({ ok: false, reason: 'invalid_order' });
  });
});
