import { ConfigError } from './config.ts';
import { createLogger } from './logger.ts';

/**
 * Process entry point for every service: starts it, turns configuration mistakes into one line
 * (no stack trace wall), and on SIGINT/SIGTERM stops it gracefully (in-flight requests drain).
 */
export function runService(name: string, start: () => Promise<{ url: string; stop(): Promise<void> }>): void {
  const logger = createLogger(name);
  let stopping = false;
  process.on('unhandledRejection', (reason) => logger.error('unhandled rejection', { error: reason }));

  // Via a promise, so a synchronous throw (configuration read before any await) lands below too.
  Promise.resolve()
    .then(start)
    .then(
    (service) => {
      // A parent that spawned us with an IPC channel (the stack launcher) learns our URL here,
      // whatever LOG_LEVEL hides from the log.
      process.send?.({ type: 'listening', name, url: service.url });
      const shutdown = (signal: string): void => {
        if (stopping) return;
        stopping = true;
        logger.info('stopping', { signal });
        const force = setTimeout(() => {
          logger.error('graceful stop took too long; exiting');
          process.exit(1);
        }, 15_000);
        force.unref();
        service.stop().then(
          () => process.exit(0),
          (error: unknown) => {
            logger.error('error while stopping', { error });
            process.exit(1);
          },
        );
      };
      process.on('SIGINT', () => shutdown('SIGINT'));
      process.on('SIGTERM', () => shutdown('SIGTERM'));
    },
    (error: unknown) => {
      if (error instanceof ConfigError) {
        process.stderr.write(`${name}: configuration error: ${error.message}\n`);
        process.exit(2);
      }
      logger.error('failed to start', { error: error instanceof Error ? error.message : String(error) });
      process.exit(1);
    },
  );
}
