import { describe, expect, it } from 'vitest';
import { cyclePieces, limitPieces, toPieces, valueForSchema } from '../../../src/providers/mock/text.js';
import { embedding, toBase64 } from '../../../src/providers/mock/embeddings.js';

describe('mock text', () => {
  it('splits into word pieces that join back to the text', () => {
    const text = 'Hello  big\nworld!';
    expect(toPieces(text)).toEqual(['Hello', '  big', '\nworld!']);
    expect(toPieces(text).join('')).toBe(text);
  });

  it('cycles pieces with a space between repetitions', () => {
    expect(cyclePieces(['a', ' b'], 5).join('')).toBe('a b a b a');
  });

  it('applies max_tokens and the earliest stop sequence', () => {
    const pieces = toPieces('one two three four');
    expect(limitPieces(pieces, 2, [])).toEqual({ pieces: ['one', ' two'], finish: 'length' });
    expect(limitPieces(pieces, undefined, ['four', 'thr'])).toEqual({ pieces: ['one', ' two', ' '], finish: 'stop' });
    expect(limitPieces(pieces, 2, ['three'])).toEqual({ pieces: ['one', ' two'], finish: 'length' });
    expect(limitPieces(pieces, undefined, ['zzz'])).toEqual({ pieces, finish: 'stop' });
  });

  it('builds schema values of the right types', () => {
    const schema = {
      type: 'object',
      properties: {
        s: { type: 'string' },
        e: { enum: ['red', 'blue'] },
        n: { type: ['null', 'number'] },
        o: { anyOf: [{ type: 'null' }, { type: 'object', properties: { b: { type: 'boolean' } } }] },
      },
    };
    expect(valueForSchema(schema, 'txt')).toEqual({ s: 'txt', e: 'red', n: 4.2, o: { b: true } });
  });
});

describe('mock embeddings', () => {
  it('are deterministic unit vectors encoded as little-endian float32', () => {
    const v = embedding('abc', 16);
    expect(embedding('abc', 16)).toEqual(v);
    expect(embedding('abd', 16)).not.toEqual(v);
    expect(Math.hypot(...v)).toBeCloseTo(1, 5);
    const buf = Buffer.from(toBase64(v), 'base64');
    expect(buf.length).toBe(64);
    expect(buf.readFloatLE(4)).toBe(v[1]);
  });
});
