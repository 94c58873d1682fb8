import type { Logger } from './logger.ts';

// Background housekeeping (retention of de-duplication and ordering records): one run at a time,
// a failure logged and left to the next round, nothing keeping the process alive.

export interface PeriodicTask {
  /** No further runs; waits for the one in progress. */
  stop(): Promise<void>;
}

/**
 * Calls `work` every `everyMs` (the first time after one interval). `work` resolves with a count
 * (rows deleted, say): logged as `done` when above 0; a failure is logged as `failed` and the
 * next round tries again.
 */
export function startPeriodicTask(options: { everyMs: number; logger: Logger; done: string; failed: string; work(): Promise<number> }): PeriodicTask {
  const { logger } = options;
  let running: Promise<number> | null = null;
  const timer = setInterval(() => {
    // A round still running when the next is due: that one is skipped, not queued.
    if (running) return;
    running = options.work().finally(() => {
      running = null;
    });
    running.then(
      (count) => {
        if (count > 0) logger.info(options.done, { count });
      },
      (error: unknown) => logger.warn(options.failed, { error: error instanceof Error ? error.message : String(error) }),
    );
  }, options.everyMs);
  timer.unref();
  return {
    async stop() {
      clearInterval(timer);
      await running?.catch(() => undefined);
    },
  };
}
