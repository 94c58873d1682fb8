import { clientAddressKey, serviceUnavailable, takeFromWindows, type Logger, type Redis } from '@platform/shared';

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

/** The counter name of a client address (see shared's clientAddressKey). */
export const throttleAddress = clientAddressKey;

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

  return {
    async begin(attempt) {
      const counters = [
        ...(attempt.username === null
          ? []
          : [{ key: usernameKey(attempt.username), limit: settings.maxFailuresPerUsername, what: 'failed sign-ins for this username' }]),
        { key: addressKey(attempt.address), limit: settings.maxFailuresPerAddress, what: 'failed sign-ins from your address' },
      ];
      await takeFromWindows(redis, counters, settings.windowSeconds, (error) => {
        options.logger.error('login throttle: redis failed; refusing sign-ins until it answers', {
          error: error instanceof Error ? error.message : String(error),
        });
        return serviceUnavailable('Sign-in');
      });
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
