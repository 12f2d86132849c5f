/** Where the last whole SSE event of a chunk ends (src/providers/upstream-call.ts eventsEnd). */
import { describe, expect, it } from 'vitest';
import { eventsEnd } from '../../../src/providers/upstream-call.js';

const b = (s: string): Buffer => Buffer.from(s);

describe('eventsEnd', () => {
  it('finds the end of the last blank line, LF or CRLF', () => {
    expect(eventsEnd(b('data: 1\n\ndata: 2\n\n'), undefined)).toBe(18);
    expect(eventsEnd(b('data: 1\n\ndata: {"ch'), undefined)).toBe(9);
    expect(eventsEnd(b('data: 1\r\n\r\ndata: 2'), undefined)).toBe(11);
    expect(eventsEnd(b('\n\nrest'), undefined)).toBe(2);
  });

  it('is 0 when no event ends in the chunk', () => {
    expect(eventsEnd(b('data: {"choices":[{"del'), undefined)).toBe(0);
    expect(eventsEnd(b('data: 1\n'), undefined)).toBe(0);
    expect(eventsEnd(b(''), b('\n'))).toBe(0);
  });

  it('finds a blank line split across two chunks', () => {
    expect(eventsEnd(b('\ndata: 2'), b('data: 1\n'))).toBe(1);
    expect(eventsEnd(b('\ndata: 2'), b('data: 1\r\n\r'))).toBe(1);
    expect(eventsEnd(b('\r\ndata: 2'), b('data: 1\r\n'))).toBe(0 + 2);
    expect(eventsEnd(b('\ndata: 2'), b('data: 1'))).toBe(0);
  });
});
