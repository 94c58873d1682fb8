import { createHash } from 'node:crypto';
import { isIP } from 'node:net';
import { rateLimited, serviceUnavailable, type Logger, type Redis } from '@platform/shared';

// Password guessing is limited by two fixed-window counters in Redis: failed sign-ins per
// username (protects one account from a distributed guesser) and per client address (stops one
// client from spraying many accounts). A window starts with its first failure and lasts
// `windowSeconds`; at the limit, `login` answers RATE_LIMITED until the window ends, without
// verifying the password, so a throttled guess costs no argon2 time and reveals nothing.
//
// Each attempt is counted when it arrives (atomically, together with the limit check) and
// un-counted when it succeeds. Counting only after verification would let N concurrent guesses
// all pass the check before the first failure is recorded.
//
// Redis being unreachable fails closed (SERVICE_UNAVAILABLE): without the counters, sign-in would
// be open to unlimited guessing.

/**
 * The counter name for a client address (the request context's: the gateway's x-forwarded-for,
 * else the socket peer). "::ffff:10.0.0.1" and "10.0.0.1" are one client. Anything that is not an
 * address (a forged header) is hashed, so a caller cannot make the key arbitrarily long.
 */
export function throttleAddress(clientAddress: string): string {
  const address = (/^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(clientAddress)?.[1] ?? clientAddress).toLowerCase();
  return isIP(address) ? address : `other-${createHash('sha256').update(address).digest('hex').slice(0, 32)}`;
}

export interface LoginThrottleSettings {
  maxFailuresPerUsername: number;
  maxFailuresPerAddress: number;
  windowSeconds: number;
}

export interface LoginAttempt {
  /** lower-cased; null for a malformed username (no account can have it; only the address counts) */
  username: string | null;
  address: string;
}

export interface LoginThrottle {
  /** Throws RATE_LIMITED when a counter is at its limit; otherwise counts this attempt as a failure. */
  begin(attempt: LoginAttempt): Promise<void>;
  /** The attempt succeeded: clears the username's failures and takes this attempt off the address. */
  succeeded(attempt: LoginAttempt): Promise<void>;
}

// KEYS: the counters; ARGV[1]: window seconds; ARGV[1 + i]: the limit of KEYS[i].
// Returns {0, 0} after counting the attempt on every key, or {i, ms} when KEYS[i] is at its limit
// (ms: until that window ends). Checking before counting keeps rejected attempts from counting.
const beginScript = `
for i, key in ipairs(KEYS) do
  local count = tonumber(redis.call('GET', key) or '0')
  if count >= tonumber(ARGV[i + 1]) then
    local remaining = redis.call('PTTL', key)
    if remaining < 0 then
      -- a counter without expiry would block forever: give it the window it should have had
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

// Decrements only a live counter: a plain DECR on a key that just expired would create one
// without an expiry, holding -1 forever.
const uncountScript = `
if redis.call('EXISTS', KEYS[1]) == 1 then return redis.call('DECR', KEYS[1]) end
return 0
`;

export function createLoginThrottle(
  redis: Redis,
  settings: LoginThrottleSettings,
  options: { keyPrefix: string; logger: Logger },
): LoginThrottle {
  const usernameKey = (username: string) => `${options.keyPrefix}username:${username}`;
  const addressKey = (address: string) => `${options.keyPrefix}address:${address}`;

  const guarded = async <T>(work: () => Promise<T>): Promise<T> => {
    try {
      return await work();
    } catch (error) {
      options.logger.error('login throttle: redis failed; refusing sign-ins until it answers', {
        error: error instanceof Error ? error.message : String(error),
      });
      throw serviceUnavailable('Sign-in');
    }
  };

  return {
    async begin(attempt) {
      const counters = [
        ...(attempt.username === null
          ? []
          : [{ key: usernameKey(attempt.username), limit: settings.maxFailuresPerUsername, what: 'failed sign-ins for this username' }]),
        { key: addressKey(attempt.address), limit: settings.maxFailuresPerAddress, what: 'failed sign-ins from your address' },
      ];
      const answer = await guarded(() =>
        redis.eval(beginScript, counters.length, ...counters.map((counter) => counter.key), settings.windowSeconds, ...counters.map((counter) => counter.limit)),
      );
      const [index, remainingMs] = Array.isArray(answer) ? answer.map(Number) : [NaN, NaN];
      if (index === 0) return;
      const counter = index === undefined ? undefined : counters[index - 1];
      if (!counter || remainingMs === undefined || Number.isNaN(remainingMs)) {
        throw new Error(`login throttle: unexpected answer from redis: ${JSON.stringify(answer)}`);
      }
      throw rateLimited(Math.max(1, Math.ceil(remainingMs / 1000)), counter.what);
    },

    // Bookkeeping only: the password was right, so a Redis failure here is logged, not answered
    // (the counters merely stay higher until their window ends).
    async succeeded(attempt) {
      try {
        const pipeline = redis.pipeline().eval(uncountScript, 1, addressKey(attempt.address));
        if (attempt.username !== null) pipeline.del(usernameKey(attempt.username));
        const results = (await pipeline.exec()) ?? [];
        const failure = results.find(([error]) => error !== null);
        if (failure?.[0]) throw failure[0];
      } catch (error) {
        options.logger.warn('login throttle: could not clear counters after a successful login', {
          error: error instanceof Error ? error.message : String(error),
        });
      }
    },
  };
}
