import { describe, expect, it } from 'vitest';
import { storableText } from '../../src/text.js';

describe('storableText', () => {
  it('replaces NUL and lone surrogates with U+FFFD and keeps surrogate pairs', () => {
    expect(storableText('a\u0000b')).toBe('a\uFFFDb');
    expect(storableText('\ud800x')).toBe('\uFFFDx');
    expect(storableText('x\udc00')).toBe('x\uFFFD');
    expect(storableText('\udc00\ud800')).toBe('\uFFFD\uFFFD');
    expect(storableText('emoji 😀 ok')).toBe('emoji 😀 ok');
    expect(storableText('😀'.slice(0, 1))).toBe('\uFFFD');
  });

  it('returns a clean string as it is', () => {
    const s = 'plain-user_42 ü';
    expect(storableText(s)).toBe(s);
  });
});
