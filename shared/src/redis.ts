import { Redis } from 'ioredis';
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
