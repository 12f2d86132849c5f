/**
 * An upstream exchange that fails in the same read as its response head (src/providers/upstream-
 * call.ts): the body's error must wait for a listener, which the server attaches only after the
 * provider stage's promise chain has run. Emitted at once, it had no listener: an uncaught error.
 */
import type { Dispatcher } from 'undici';
import { describe, expect, it } from 'vitest';
import { Cancellation } from '../../../src/providers/cancel.js';
import { dispatchCall, type CallHooks } from '../../../src/providers/upstream-call.js';
import { transportError } from '../../../src/providers/upstream-errors.js';
import { SseUsageScanner } from '../../../src/providers/usage.js';

const hooks: CallHooks = {
  accept: () => ({ headers: { 'content-type': 'text/event-stream' }, scanner: new SseUsageScanner() }),
  reject: () => new Error('rejected'),
  transportError,
};

/** A dispatcher whose upstream sends a head, one event and half of another, then resets: all in one read. */
function failingInOneRead(): Dispatcher {
  const controller = { pause() {}, resume() {}, abort() {} } as unknown as Dispatcher.DispatchController;
  return {
    dispatch(_options: Dispatcher.DispatchOptions, handler: Dispatcher.DispatchHandler): boolean {
      handler.onRequestStart?.(controller, {});
      handler.onResponseStart?.(controller, 200, { 'content-type': 'text/event-stream' }, 'OK');
      handler.onResponseData?.(controller, Buffer.from('data: {"choices":[]}\n\ndata: {"cho'));
      handler.onResponseError?.(controller, Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET' }));
      return true;
    },
  } as unknown as Dispatcher;
}

describe('an upstream that fails in the same read as its head', () => {
  it('hands the reader the whole events, then the error, once it listens', async () => {
    const response = await dispatchCall(failingInOneRead(), { path: '/', method: 'POST' }, new Cancellation(), hooks);
    // The server attaches to the body a few turns later (the provider stage's promise chain).
    await new Promise((resolve) => setImmediate(resolve));
    const chunks: Buffer[] = [];
    const failure = await new Promise<Error>((resolve) => {
      response.body.once('error', resolve);
      response.body.on('data', (c: Buffer) => chunks.push(c));
    });
    expect(Buffer.concat(chunks).toString()).toBe('data: {"choices":[]}\n\n');
    expect(failure).toMatchObject({ code: 'upstream_error' });
    expect(failure.message).toContain('in the middle of the response');
  });
});
