import { describe, expect, it } from 'vitest';
import { GatewayError } from '../../../src/errors.js';
import { parseJsonObject } from '../../../src/pipeline/body.js';

function code(raw: Buffer): string {
  try {
    parseJsonObject(raw);
  } catch (err) {
    if (err instanceof GatewayError) return err.code;
    throw err;
  }
  return 'accepted';
}

describe('parseJsonObject', () => {
  it('parses an object and keeps unknown fields', () => {
    expect(parseJsonObject(Buffer.from('{"model":"m","x":{"y":[1]}}'))).toEqual({ model: 'm', x: { y: [1] } });
  });

  it('rejects empty, malformed, non-object and non-UTF-8 bodies with distinct codes', () => {
    expect(code(Buffer.alloc(0))).toBe('invalid_json');
    expect(code(Buffer.from('{"model":'))).toBe('invalid_json');
    expect(code(Buffer.from('[1,2]'))).toBe('invalid_json');
    expect(code(Buffer.from('"str"'))).toBe('invalid_json');
    expect(code(Buffer.from([0x7b, 0x22, 0xff, 0xfe, 0x22, 0x3a, 0x31, 0x7d]))).toBe('invalid_utf8');
  });
});
