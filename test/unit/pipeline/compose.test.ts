import { describe, expect, it } from 'vitest';
import { GatewayError } from '../../../src/errors.js';
import { compose } from '../../../src/pipeline/compose.js';
import type { RequestContext, Stage } from '../../../src/pipeline/context.js';
import { failure, makeContext } from './fixtures.js';

function recorder() {
  const log: string[] = [];
  const sync = (name: string): Stage => () => {
    log.push(name);
  };
  const async = (name: string): Stage => async () => {
    await new Promise((resolve) => setImmediate(resolve));
    log.push(name);
  };
  return { log, sync, async };
}

describe('compose', () => {
  it('stops after a stage that answered the request itself (a cache hit)', async () => {
    const { log, sync, async } = recorder();
    const answer: Stage = async (ctx: RequestContext) => {
      await Promise.resolve();
      ctx.answered = 'cache';
      log.push('hit');
    };
    await compose([sync('a'), answer, sync('schedule'), async('provider')])(makeContext());
    expect(log).toEqual(['a', 'hit']);
  });

  it('runs stages in order, awaiting the async ones', async () => {
    const { log, sync, async } = recorder();
    await compose([sync('a'), async('b'), sync('c'), async('d'), sync('e')])(makeContext());
    expect(log).toEqual(['a', 'b', 'c', 'd', 'e']);
  });

  it('runs consecutive sync stages before returning control, without a microtask between them', () => {
    const { log, sync, async } = recorder();
    const done = compose([sync('a'), sync('b'), async('c'), sync('d')])(makeContext());
    // Only a synchronous run gets this far before the caller's next line.
    expect(log).toEqual(['a', 'b']);
    return done.then(() => expect(log).toEqual(['a', 'b', 'c', 'd']));
  });

  it('does not start a stage before the async stage before it has settled', async () => {
    let settled = false;
    const slow: Stage = async () => {
      await new Promise((resolve) => setTimeout(resolve, 5));
      settled = true;
    };
    let sawSettled: boolean | undefined;
    const next: Stage = () => {
      sawSettled = settled;
    };
    await compose([slow, next])(makeContext());
    expect(sawSettled).toBe(true);
  });

  it('passes the same context to every stage', async () => {
    const seen: RequestContext[] = [];
    const ctx = makeContext();
    await compose([(c) => void seen.push(c), async (c) => void seen.push(c)])(ctx);
    expect(seen).toEqual([ctx, ctx]);
    expect(seen[0]).toBe(ctx);
    expect(seen[1]).toBe(ctx);
  });

  it('stops at a synchronous throw and rejects with that error', async () => {
    const { log, sync } = recorder();
    const boom = new GatewayError('invalid_api_key', 'no');
    const thrower: Stage = () => {
      throw boom;
    };
    const err = await failure(() => compose([sync('a'), thrower, sync('c')])(makeContext()));
    expect(err).toBe(boom);
    expect(log).toEqual(['a']);
  });

  it('stops at an async rejection', async () => {
    const { log, sync } = recorder();
    const rejecter: Stage = async () => {
      await Promise.resolve();
      throw new GatewayError('rate_limit_exceeded', 'slow down');
    };
    const err = await failure(() => compose([rejecter, sync('b')])(makeContext()));
    expect(err.code).toBe('rate_limit_exceeded');
    expect(log).toEqual([]);
  });

  it('returns a promise even when every stage is synchronous, and a sync throw becomes a rejection', async () => {
    const thrower: Stage = () => {
      throw new Error('plain');
    };
    const run = compose([thrower]);
    let returned: Promise<void> | undefined;
    expect(() => {
      returned = run(makeContext());
    }).not.toThrow();
    await expect(returned).rejects.toThrow('plain');
  });
});
