import { describe, expect, it } from 'vitest';
import { Cancellation, type CancelSignal } from '../../../src/providers/cancel.js';

describe('Cancellation', () => {
  it('fires each listener once with the first reason, and later aborts change nothing', () => {
    const c = new Cancellation();
    const seen: unknown[] = [];
    c.addEventListener('abort', () => seen.push(c.reason));
    c.addEventListener('abort', () => seen.push('second'));
    expect(c.aborted).toBe(false);
    c.abort('first');
    c.abort('again');
    expect(c.aborted).toBe(true);
    expect(c.reason).toBe('first');
    expect(seen).toEqual(['first', 'second']);
  });

  it('does not call a removed listener', () => {
    const c = new Cancellation();
    let called = 0;
    const listener = () => (called += 1);
    c.addEventListener('abort', listener);
    c.removeEventListener('abort', listener);
    c.abort(new Error('x'));
    expect(called).toBe(0);
  });

  it('is interchangeable with a real AbortSignal for the providers', () => {
    const controller = new AbortController();
    const signal: CancelSignal = controller.signal;
    let fired = false;
    signal.addEventListener('abort', () => (fired = true), { once: true });
    controller.abort(new Error('gone'));
    expect(fired).toBe(true);
    expect(signal.aborted).toBe(true);
  });
});
