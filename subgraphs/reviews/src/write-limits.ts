import { createHash } from 'node:crypto';
import { isIP } from 'node:net';
import { rateLimited, serviceUnavailable, type Logger, type Redis } from '@platform/shared';

// Abuse limits on review writes (rateMovie, deleteReview, reactToMovie, clearReaction): two
// fixed-window counters in Redis, one per user (a scripted account hammering ratings) and one per
// client address (many accounts from one client). Every field call counts one unit, so a request
// with 100 aliased rateMovie calls uses 100 units: counting requests instead would let one request
// carry any number of writes. The check and the count are one Lua script, so concurrent calls can
// never all pass the check before any of them is counted; a refused call is not counted (it wrote
// nothing), and it is refused before its transaction starts.
//
// The same idea as the users subgraph's login throttle (subgraphs/users/src/throttle.ts); written
// here rather than imported because subgraphs do not import each other. Both belong in
// shared/ (a generic fixed-window limiter plus the address normalisation) once its owners agree.
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

/**
 * The counter name of a client address: "::ffff:10.0.0.1" and "10.0.0.1" are one client.
 * Anything that is not an address (a forged header) is hashed, so a caller cannot make keys of
 * any length.
 */
export function limitAddress(clientAddress: string): string {
  const address = (/^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(clientAddress)?.[1] ?? clientAddress).toLowerCase();
  return isIP(address) ? address : `other-${createHash('sha256').update(address).digest('hex').slice(0, 32)}`;
}

// KEYS: the counters; ARGV[1]: window seconds; ARGV[1 + i]: the limit of KEYS[i].
// Returns {0, 0} after counting the call on every key, or {i, ms} when KEYS[i] is at its limit
// (ms: until that window ends), having counted nothing.
const takeScript = `
for i, key in ipairs(KEYS) do
  local count = tonumber(redis.call('GET', key) or '0')
  if count >= tonumber(ARGV[i + 1]) then
    local remaining = redis.call('PTTL', key)
    if remaining < 0 then
      -- a counter without expiry would refuse forever: give it the window it should have had
      redis.call('EXPIRE', key, ARGV[1])
      remaining = tonumber(ARGV[1]) * 1000
    end
    return {i, remaining}
  end
end
for _, key in ipairs(KEYS) do
  if redis.call('INCR', key) == 1 then redis.call('EXPIRE', key, ARGV[1]) end
end
return {0, 0}
`;

export function createWriteLimiter(redis: Redis, settings: WriteLimitSettings, options: { keyPrefix: string; logger: Logger }): WriteLimiter {
  const minutes = settings.windowSeconds % 60 === 0 ? `${settings.windowSeconds / 60} min` : `${settings.windowSeconds} s`;
  return {
    async take(userId, clientAddress) {
      const counters = [
        { key: `${options.keyPrefix}user:${userId}`, limit: settings.perUserPerWindow, what: `review writes by your account (limit ${settings.perUserPerWindow} per ${minutes})` },
        {
          key: `${options.keyPrefix}address:${limitAddress(clientAddress)}`,
          limit: settings.perAddressPerWindow,
          what: `review writes from your address (limit ${settings.perAddressPerWindow} per ${minutes})`,
        },
      ];
      let answer: unknown;
      try {
        answer = await redis.eval(takeScript, counters.length, ...counters.map((counter) => counter.key), settings.windowSeconds, ...counters.map((counter) => counter.limit));
      } catch (error) {
        options.logger.error('review write limits: redis failed; refusing review writes until it answers', {
          error: error instanceof Error ? error.message : String(error),
        });
        throw serviceUnavailable('Saving reviews and reactions');
      }
      const [index, remainingMs] = Array.isArray(answer) ? answer.map(Number) : [Number.NaN, Number.NaN];
      if (index === 0) return;
      const counter = index === undefined ? undefined : counters[index - 1];
      if (!counter || remainingMs === undefined || Number.isNaN(remainingMs)) {
        throw new Error(`review write limits: unexpected answer from redis: ${JSON.stringify(answer)}`);
      }
      throw rateLimited(Math.max(1, Math.ceil(remainingMs / 1000)), counter.what);
    },
  };
}
