/**
 * Runs stages in order. Synchronous stages are not awaited: most of the pipeline is in-memory
 * work, and skipping a microtask per stage is measurable on the hot path. A stage that answered
 * the request itself (a cache hit sets `ctx.answered`) ends the run: later stages never see it.
 */
import type { RequestContext, Stage } from './context.js';

export type Pipeline = (ctx: RequestContext) => Promise<void>;

export function compose(stages: readonly Stage[]): Pipeline {
  return async function pipeline(ctx: RequestContext): Promise<void> {
    for (const stage of stages) {
      const pending = stage(ctx);
      if (pending !== undefined) await pending;
      if (ctx.answered !== undefined) return;
    }
  };
}
