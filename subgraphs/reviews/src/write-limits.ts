import { clientAddressKey, serviceUnavailable, takeFromWindows, type Logger, type Redis } from '@platform/shared';

// Abuse limits on review writes (rateMovie, deleteReview, reactToMovie, clearReaction): two
// fixed-window counters in Redis, one per user (a scripted account hammering ratings) and one per
// client address (many accounts from one client). Every field call counts one unit, so a request
// with 100 aliased rateMovie calls uses 100 units: counting requests instead would let one request
// carry any number of writes. The check and the count are one Lua script, so concurrent calls can
// never all pass the check before any of them is counted; a refused call is not counted (it wrote
// nothing), and it is refused before its transaction starts.
//
// The counting itself is shared's fixed-window limiter, as for the users subgraph's login throttle.
//
// Redis being unreachable fails closed (SERVICE_UNAVAILABLE): without the counters the limits
// would silently stop applying, and the outbox relay needs Redis anyway for the writes' events.

export interface WriteLimitSettings {
  perUserPerWindow: number;
  perAddressPerWindow: number;
  windowSeconds: number;
}

export interface WriteLimiter {
  /** Counts one write by this user from this address, or throws RATE_LIMITED without counting it. */
  take(userId: string, clientAddress: string): Promise<void>;
}

export function createWriteLimiter(redis: Redis, settings: WriteLimitSettings, options: { keyPrefix: string; logger: Logger }): WriteLimiter {
  const minutes = settings.windowSeconds % 60 === 0 ? `${settings.windowSeconds / 60} min` : `${settings.windowSeconds} s`;
  return {
    async take(userId, clientAddress) {
      const counters = [
        { key: `${options.keyPrefix}user:${userId}`, limit: settings.perUserPerWindow, what: `review writes by your account (limit ${settings.perUserPerWindow} per ${minutes})` },
        {
          key: `${options.keyPrefix}address:${clientAddressKey(clientAddress)}`,
          limit: settings.perAddressPerWindow,
          what: `review writes from your address (limit ${settings.perAddressPerWindow} per ${minutes})`,
        },
      ];
      await takeFromWindows(redis, counters, settings.windowSeconds, (error) => {
        options.logger.error('review write limits: redis failed; refusing review writes until it answers', {
          error: error instanceof Error ? error.message : String(error),
        });
        return serviceUnavailable('Saving reviews and reactions');
      });
    },
  };
}
