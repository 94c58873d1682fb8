import { Redis } from 'ioredis';
import { ConfigError } from './config.ts';
import type { Logger } from './logger.ts';

export function connectRedis(url: string, options: { name: string; logger?: Logger }): Redis {
  const redis = new Redis(url, {
    connectionName: options.name,
    maxRetriesPerRequest: 2,
    enableOfflineQueue: true,
    lazyConnect: false,
  });
  // ioredis reconnects by itself; log instead of crashing on the 'error' event.
  redis.on('error', (error: Error) => options.logger?.warn('redis error', { error: error.message }));
  return redis;
}

export type { Redis };

/** Fails start-up with one line naming the variable, instead of a service whose every write fails. */
export async function checkRedis(redis: Redis, variable = 'REDIS_URL'): Promise<void> {
  try {
    await redis.ping();
  } catch (error) {
    throw new ConfigError(variable, `does not answer (${error instanceof Error ? error.message : String(error)}): start Redis there or fix the URL`);
  }
}

/** QUIT lets pending replies arrive; on a connection that never came up it would only wait. */
export async function closeRedis(redis: Redis): Promise<void> {
  if (redis.status === 'ready') await redis.quit().catch(() => redis.disconnect());
  else redis.disconnect();
}
