/** A hand-built audit record for the pure tests. */
import { GENESIS_HASH } from '../../../src/audit/index.js';
import type { AuditRecord } from '../../../src/store/index.js';

export function record(overrides: Partial<AuditRecord> = {}): Omit<AuditRecord, 'hash'> {
  return {
    tenantId: '3f1b8a52-5a3c-4b8e-9d0e-6b2f1c7a9e10',
    seq: 1,
    id: '0b6f1d8e-2c3a-4f5b-8e9d-1a2b3c4d5e6f',
    at: new Date('2026-01-02T03:04:05.678Z'),
    actorKind: 'user',
    actorId: 'u-1',
    action: 'key.create',
    targetKind: 'api_key',
    targetId: 'k-1',
    outcome: 'success',
    sourceIp: '192.0.2.1',
    requestId: 'req-1',
    before: null,
    after: { name: 'ci', scopes: ['inference'] },
    prevHash: GENESIS_HASH,
    version: 1,
    ...overrides,
  };
}
