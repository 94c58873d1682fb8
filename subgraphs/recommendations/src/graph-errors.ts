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

/** Read queries in one unretried transaction (inGraphTransaction); Neo4j being down becomes SERVICE_UNAVAILABLE. */
export async function readGraph<T>(
  driver: Driver,
  logger: Logger,
  options: ReadOptions,
  work: (tx: Pick<ManagedTransaction, 'run'>) => Promise<T>,
): Promise<T> {
  try {
    return await inGraphTransaction(driver, 'READ', options.timeoutMs, work);
  } catch (error) {
    if (isGraphUnavailable(error)) {
      const details = error instanceof Error ? error.message : String(error);
      logger.warn('neo4j unavailable', { error: details, code: (error as { code?: unknown }).code });
      throw serviceUnavailable(graphUnavailableWhat);
    }
    throw error;
  }
}
