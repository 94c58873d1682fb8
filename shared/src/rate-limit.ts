import { createHash } from 'node:crypto';
import { isIP } from 'node:net';
import type { Redis } from 'ioredis';
import { rateLimited } from './errors.ts';

// Fixed-window counters in Redis, checked and counted by one Lua script so concurrent calls can
// never all pass the check before any of them is counted; a refused call is not counted. Used by
// the users subgraph (failed sign-ins) and the reviews subgraph (review writes).

/**
 * The counter name of a client address (the request context's: the gateway's x-forwarded-for,
 * else the socket peer): "::ffff:10.0.0.1" and "10.0.0.1" are one client. Anything that is not an
 * address (a forged header) is hashed, so a caller cannot make keys of any length.
 */
export function clientAddressKey(clientAddress: string): string {
  const address = (/^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(clientAddress)?.[1] ?? clientAddress).toLowerCase();
  return isIP(address) ? address : `other-${createHash('sha256').update(address).digest('hex').slice(0, 32)}`;
}

export interface WindowCounter {
  key: string;
  limit: number;
  /** what is being limited, for the RATE_LIMITED message ("failed sign-ins from your address") */
  what: string;
}

// KEYS: the counters; ARGV[1]: window seconds; ARGV[1 + i]: the limit of KEYS[i].
// Returns {0, 0} after counting on every key, or {i, ms} when KEYS[i] is at its limit (ms: until
// that window ends), having counted nothing.
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

/**
 * Counts one unit on every counter, or throws RATE_LIMITED (with retryAfterSeconds) for the first
 * one at its limit. A Redis failure becomes `onRedisFailure(error)`: callers fail closed.
 */
export async function takeFromWindows(
  redis: Redis,
  counters: readonly WindowCounter[],
  windowSeconds: number,
  onRedisFailure: (error: unknown) => Error,
): Promise<void> {
  let answer: unknown;
  try {
    answer = await redis.eval(takeScript, counters.length, ...counters.map((counter) => counter.key), windowSeconds, ...counters.map((counter) => counter.limit));
  } catch (error) {
    throw onRedisFailure(error);
  }
  const [index, remainingMs] = Array.isArray(answer) ? answer.map(Number) : [Number.NaN, Number.NaN];
  if (index === 0) return;
  const counter = index === undefined ? undefined : counters[index - 1];
  if (!counter || remainingMs === undefined || Number.isNaN(remainingMs)) {
    throw new Error(`rate limit: unexpected answer from redis: ${JSON.stringify(answer)}`);
  }
  throw rateLimited(Math.max(1, Math.ceil(remainingMs / 1000)), counter.what);
}
