import neo4j, { type Driver, type ManagedTransaction } from 'neo4j-driver';
import { serviceUnavailable, type Logger } from '@platform/shared';

/** Neo4j is down, restarting, overloaded or too slow: worth a retry later, not a bug. */
export function isGraphUnavailable(error: unknown): boolean {
  if (neo4j.isRetryableError(error)) return true;
  const code = (error as { code?: unknown } | null)?.code;
  if (typeof code === 'string' && code.startsWith('Neo.ClientError.Transaction.TransactionTimedOut')) return true;
  // The driver reports an exhausted connection pool with no code ('N/A'); only its message tells.
  return error instanceof Error && error.message.startsWith('Connection acquisition timed out');
}

/** Neo4j rejected our user or password: a configuration mistake. */
export function isGraphAuthError(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return code === 'Neo.ClientError.Security.Unauthorized';
}

export const graphUnavailableWhat = 'The recommendation graph (Neo4j)';

export interface ReadOptions {
  /** Server-side limit, so one pathological query cannot hold a connection for long. */
  timeoutMs: number;
}

/**
 * Read queries, each its own auto-commit transaction on one session. Unlike the driver's managed
 * `executeRead`, nothing is retried for up to 30 s: a GraphQL caller is better served by a quick
 * SERVICE_UNAVAILABLE ("retry in a few seconds") than by a request hanging on a database that is
 * down.
 *
 * Auto-commit rather than one explicit transaction: a request's statement then travels as RUN +
 * PULL in one write and needs no COMMIT round trip, which was a tenth of the serving process's CPU
 * (socket writes) at 32 concurrent requests. The readers lose nothing by it: a request that reads
 * twice (the active version, then that version's data) names the version explicitly, and the
 * builder keeps a superseded version's edges readable until a grace period has passed.
 */
export async function readGraph<T>(
  driver: Driver,
  logger: Logger,
  options: ReadOptions,
  work: (tx: Pick<ManagedTransaction, 'run'>) => Promise<T>,
): Promise<T> {
  const session = driver.session({ defaultAccessMode: neo4j.session.READ });
  try {
    return await work({ run: (query, parameters) => session.run(query, parameters, { timeout: options.timeoutMs }) });
  } catch (error) {
    if (isGraphUnavailable(error)) {
      const details = error instanceof Error ? error.message : String(error);
      logger.warn('neo4j unavailable', { error: details, code: (error as { code?: unknown }).code });
      throw serviceUnavailable(graphUnavailableWhat);
    }
    throw error;
  } finally {
    await session.close().catch(() => undefined);
  }
}
