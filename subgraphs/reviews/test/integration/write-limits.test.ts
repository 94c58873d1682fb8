import { randomInt } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { newMovieId, startReviewsHarness, type ReviewsHarness, type TestUser } from './harness.ts';

// Abuse limits on review writes, against real Redis: every field call counts (aliases too), a
// refused call writes nothing (no review, history row or event), and the per-user and
// per-address counters are separate. Each test uses its own users and its own client address
// (x-forwarded-for, which the subgraph takes as the caller's address as the gateway sets it).
//
// The limited mutations return non-null types, so a refused call nulls the whole `data` and
// GraphQL runs no later mutation of the document (mutations run in order): what was written is
// therefore checked in the database, not in the response.

const perUser = 100;
const perAddress = 250;
let harness: ReviewsHarness;
let url: string;

beforeAll(async () => {
  harness = await startReviewsHarness('reviews_limits_it', {
    env: { REVIEW_WRITES_PER_MINUTE_PER_USER: String(perUser), REVIEW_WRITES_PER_MINUTE_PER_ADDRESS: String(perAddress) },
  });
  url = harness.url;
});

afterAll(async () => {
  await harness?.stop();
});

interface ErrorShape {
  message: string;
  path?: string[];
  extensions?: { code?: string; retryAfterSeconds?: number };
}
interface Response {
  data?: Record<string, unknown> | null;
  errors?: ErrorShape[];
}

const newAddress = (): string => `10.${randomInt(0, 256)}.${randomInt(0, 256)}.${randomInt(1, 255)}`;

async function send(user: TestUser, address: string, query: string): Promise<Response> {
  const response = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${user.token}`, 'x-forwarded-for': address },
    body: JSON.stringify({ query }),
  });
  return (await response.json()) as Response;
}

/** One mutation document with `count` aliased rateMovie calls on distinct new movies. */
function aliasedRatings(count: number): string {
  const fields = Array.from({ length: count }, (_, index) => `r${index}: rateMovie(movieId: "${newMovieId()}", rating: 3) { id }`);
  return `mutation { ${fields.join(' ')} }`;
}

async function writtenBy(userId: string): Promise<{ reviews: number; history: number; outbox: number }> {
  const [row] = await harness.rows<{ reviews: number; history: number; outbox: number }>(
    `SELECT (SELECT count(*)::int FROM reviews.reviews WHERE user_id = $1) AS reviews,
            (SELECT count(*)::int FROM reviews.review_history WHERE user_id = $1) AS history,
            (SELECT count(*)::int FROM reviews.outbox WHERE envelope->'payload'->>'userId' = $1::text) AS outbox`,
    [userId],
  );
  return row!;
}

function expectRateLimited(result: Response, path: string, what: RegExp): void {
  expect(result.data ?? null).toBeNull();
  expect(result.errors).toHaveLength(1);
  const error = result.errors![0]!;
  expect(error.path).toEqual([path]);
  expect(error.extensions?.code).toBe('RATE_LIMITED');
  const retryAfter = error.extensions?.retryAfterSeconds ?? 0;
  expect(retryAfter).toBeGreaterThanOrEqual(1);
  expect(retryAfter).toBeLessThanOrEqual(60);
  expect(error.message).toMatch(what);
  expect(error.message).toContain(`retry in ${retryAfter} s`);
}

describe('review write limits', () => {
  it('counts each aliased call: 100 aliased rateMovie calls use 100 units', async () => {
    const user = await harness.newUser();
    const address = newAddress();
    const hundred = await send(user, address, aliasedRatings(100));
    expect(hundred.errors).toBeUndefined();
    expect(Object.keys(hundred.data ?? {})).toHaveLength(100);
    // The user's 100 units are used up by that one request: the next call is refused and writes nothing.
    const next = await send(user, address, aliasedRatings(1));
    expectRateLimited(next, 'r0', /review writes by your account \(limit 100 per 1 min\)/);
    expect(await writtenBy(user.id)).toEqual({ reviews: 100, history: 100, outbox: 100 });
  });

  it('refuses the calls over the limit inside one request and writes nothing for them', async () => {
    const user = await harness.newUser();
    const address = newAddress();
    expect((await send(user, address, aliasedRatings(perUser - 3))).errors).toBeUndefined();
    const movie = newMovieId();
    const result = await send(
      user,
      address,
      `mutation {
        a: rateMovie(movieId: "${movie}", rating: 2) { id }
        b: reactToMovie(movieId: "${movie}", reaction: LIKE) { id }
        c: clearReaction(movieId: "${movie}") { id }
        d: deleteReview(movieId: "${movie}")
        e: rateMovie(movieId: "${movie}", rating: 4) { id }
      }`,
    );
    // a, b and c used the last three units (every limited mutation counts); d was refused.
    expectRateLimited(result, 'd', /review writes by your account/);
    const [review] = await harness.rows<{ rating_halves: number }>('SELECT rating_halves FROM reviews.reviews WHERE user_id = $1 AND movie_id = $2', [user.id, movie]);
    expect(review?.rating_halves).toBe(4); // a's rating: d deleted nothing and e never ran
    expect(await writtenBy(user.id)).toEqual({ reviews: perUser - 2, history: perUser - 2, outbox: perUser - 2 + 2 }); // + reaction.set, reaction.cleared
    // Exclusions are not limited.
    const exclusion = await send(user, address, `mutation { excludeFromRecommendations(movieId: "${movie}") }`);
    expect(exclusion).toEqual({ data: { excludeFromRecommendations: true } });
  });

  it('limits one client address across users, without touching another address', async () => {
    const address = newAddress();
    const users = await Promise.all([1, 2, 3].map(() => harness.newUser()));
    expect((await send(users[0]!, address, aliasedRatings(100))).errors).toBeUndefined();
    expect((await send(users[1]!, address, aliasedRatings(100))).errors).toBeUndefined();
    const third = await send(users[2]!, address, aliasedRatings(100));
    expectRateLimited(third, `r${perAddress - 200}`, /review writes from your address \(limit 250 per 1 min\)/);
    expect((await writtenBy(users[2]!.id)).reviews).toBe(perAddress - 200);

    // The same address written as an IPv4-mapped IPv6 address is the same client.
    const mapped = await send(await harness.newUser(), `::ffff:${address}`, aliasedRatings(1));
    expectRateLimited(mapped, 'r0', /from your address/);
    // A new user from another address is not affected.
    const elsewhere = await send(await harness.newUser(), newAddress(), aliasedRatings(1));
    expect(elsewhere.errors).toBeUndefined();
  });
});
