import type { Logger } from './logger.ts';

/**
 * What a service acquired at start (pools, connections, relays, its server), released in reverse
 * order on stop and on a failed start alike, so a half-started service never leaks a connection.
 */
export function createReleaseStack(logger: Logger) {
  const releases: (() => Promise<void>)[] = [];
  return {
    push(release: () => Promise<void>): void {
      releases.push(release);
    },
    async releaseAll(): Promise<void> {
      for (const release of releases.splice(0).reverse()) {
        await release().catch((error: unknown) =>
          logger.warn('error while releasing a resource', { error: error instanceof Error ? error.message : String(error) }),
        );
      }
    },
  };
}

export type ReleaseStack = ReturnType<typeof createReleaseStack>;
