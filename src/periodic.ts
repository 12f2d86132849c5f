/**
 * A round of work run every `intervalMs`, never two at once: a tick that finds the previous
 * round still running skips. `stop()` ends the timer and waits for the round in flight, which
 * can check `stopped()` between its units of work to end early.
 */
export interface PeriodicRounds {
  /** One round now; resolves with what the round counted. */
  runOnce(): Promise<number>;
  start(): void;
  stop(): Promise<void>;
}

export function periodicRounds(
  round: (stopped: () => boolean) => Promise<number>,
  opts: { intervalMs: number; onError: (err: unknown) => void },
): PeriodicRounds {
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<number> | undefined;
  let stopped = false;
  const isStopped = (): boolean => stopped;

  function tick(): void {
    if (running !== undefined || stopped) return;
    running = round(isStopped)
      .catch((err: unknown) => {
        opts.onError(err);
        return 0;
      })
      .finally(() => {
        running = undefined;
      });
  }

  return {
    runOnce: () => round(isStopped),
    start() {
      if (timer !== undefined) return;
      timer = setInterval(tick, opts.intervalMs);
      timer.unref();
      tick();
    },
    async stop() {
      stopped = true;
      if (timer !== undefined) clearInterval(timer);
      timer = undefined;
      await running;
    },
  };
}
