/**
 * One error catalogue, one wire shape, and a test that keeps them and the documentation in sync
 * (DESIGN §11 rule 4): every code is documented under its status in the README, and each status
 * carries the OpenAI error type the official SDKs expect.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ERRORS, GatewayError, errorEnvelope, type ErrorCode } from '../../../src/errors.js';

const README = readFileSync(join(import.meta.dirname, '..', '..', '..', 'README.md'), 'utf8');

/** README error table rows: the statuses of a row and the codes it lists. */
function documented(): Map<string, number[]> {
  const table = README.slice(README.indexOf('| status | codes |'));
  const rows = table.slice(0, table.indexOf('\n\n')).split('\n').slice(2);
  const byCode = new Map<string, number[]>();
  for (const row of rows) {
    const [, statuses = '', codes = ''] = row.split('|');
    const nums = [...statuses.matchAll(/\d{3}/g)].map((m) => Number(m[0]));
    for (const m of codes.matchAll(/`([a-z0-9_]+)`/g)) byCode.set(m[1] as string, nums);
  }
  return byCode;
}

const SDK_TYPE: Record<number, string[]> = {
  400: ['invalid_request_error'],
  401: ['authentication_error'],
  403: ['permission_denied_error'],
  404: ['invalid_request_error'],
  // OpenAI itself answers exhausted credit with type insufficient_quota; SDKs map 429 by status.
  429: ['rate_limit_error', 'insufficient_quota'],
};

describe('error catalogue', () => {
  it('documents every code in the README under its status, and nothing that does not exist', () => {
    const docs = documented();
    for (const [code, { status }] of Object.entries(ERRORS)) {
      expect({ code, statuses: docs.get(code) }).toEqual({ code, statuses: expect.arrayContaining([status]) });
    }
    const stray = [...docs.keys()].filter((c) => !(c in ERRORS) && c !== 'param');
    expect(stray).toEqual([]);
  });

  it('pairs each status with the error type the OpenAI SDKs use', () => {
    for (const [code, { status, type }] of Object.entries(ERRORS)) {
      const expected = SDK_TYPE[status];
      if (expected !== undefined) expect({ code, type }).toEqual({ code, type: expect.stringMatching(expected.join('|')) });
      if (status >= 500) expect(['server_error', 'upstream_error', 'timeout_error']).toContain(type);
    }
  });

  it('renders the four-field envelope', () => {
    const err = new GatewayError('invalid_request' as ErrorCode, 'n must be an integer.', { param: 'n' });
    expect(errorEnvelope(err)).toEqual({
      error: { message: 'n must be an integer.', type: 'invalid_request_error', code: 'invalid_request', param: 'n' },
    });
    expect(err.status).toBe(400);
  });
});
