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
 * Runs `work` in one explicit transaction and commits it. Unlike the driver's managed
 * `executeRead`/`executeWrite`, it does not retry for up to 30 s: a GraphQL or admin caller is
 * better served by a quick SERVICE_UNAVAILABLE that says "retry in a few seconds" than by a
 * request hanging on a database that is down.
 */
export async function inGraphTransaction<T>(
  driver: Driver,
  mode: 'READ' | 'WRITE',
  timeoutMs: number,
  work: (tx: Pick<ManagedTransaction, 'run'>) => Promise<T>,
): Promise<T> {
  const session = driver.session({ defaultAccessMode: mode === 'READ' ? neo4j.session.READ : neo4j.session.WRITE });
  try {
    const tx = await session.beginTransaction({ timeout: timeoutMs });
    try {
      const result = await work(tx);
      await tx.commit();
      return result;
    } finally {
      if (tx.isOpen()) await tx.rollback().catch(() => undefined);
    }
  } finally {
    await session.close().catch(() => undefined);
  }
}

/**
 * Read queries, each its own auto-commit transaction on one session, unretried (as
 * inGraphTransaction); Neo4j being down becomes SERVICE_UNAVAILABLE.
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
