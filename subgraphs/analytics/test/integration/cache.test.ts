import { createServer, connect, type Server, type Socket } from 'node:net';
import { afterEach, describe, expect, it, vi } from 'vitest';
import pg from 'pg';
import { cacheNamespaceOf } from '../../src/cache.ts';
import { createHarness, type Harness } from './harness.ts';

// The Redis cache in front of the list fields, proven without timing: rows are changed directly
// in PostgreSQL behind the subgraph's back, so an unchanged answer can only have come from Redis,
// and a changed one from PostgreSQL.

let harness: Harness | undefined;
let proxy: RedisProxy | undefined;
afterEach(async () => {
  vi.restoreAllMocks();
  await harness?.close();
  harness = undefined;
  await proxy?.close();
  proxy = undefined;
});

const userA = '0b5e2c8e-6d7f-4c2a-9a51-4f7e0d7f1a11';
const userB = '7c9d2f31-0e4b-4a8d-b6c2-5e1f9a3d7b42';

/** Three movies, two users, two days of activity, and the totals the Bayesian average reads. */
async function seedReadModel(client: pg.Client): Promise<void> {
  await client.query(`
    INSERT INTO analytics.movie_stats (movie_id, rating_count, rating_halves_sum) VALUES (1, 30, 240), (2, 20, 100), (3, 10, 90);
    INSERT INTO analytics.user_activity (user_id, rating_count, rating_halves_sum, last_active_at) VALUES
      ('${userA}', 5, 40, '2031-01-02T10:00:00Z'), ('${userB}', 3, 30, NULL);
    INSERT INTO analytics.activity_buckets (granularity, start, ratings) VALUES ('DAY', '2031-01-01T00:00:00Z', 4), ('DAY', '2031-01-02T00:00:00Z', 7);
    UPDATE analytics.platform_totals SET ratings = 60, rating_halves_sum = 430 WHERE id = 1;`);
}

/** Changes every row the lists return, as the consumer would: movie 3 to the top, B ahead of A, day 2 busier. */
async function changeReadModel(client: pg.Client): Promise<void> {
  await client.query(`
    UPDATE analytics.movie_stats SET rating_count = 50, rating_halves_sum = 500 WHERE movie_id = 3;
    UPDATE analytics.user_activity SET rating_count = 9, rating_halves_sum = 90 WHERE user_id = '${userB}';
    UPDATE analytics.activity_buckets SET ratings = 70 WHERE start = '2031-01-02T00:00:00Z';`);
}

const listsQuery = `query($to: DateTime!) { analytics {
  byCount: topMovies(by: COUNT, minRatings: 0, first: 2) { movie { id } ratingCount }
  byRating: topMovies(by: RATING, minRatings: 0, first: 2) { movie { id } averageRating }
  users: mostActiveUsers(first: 2) { user { id } ratingCount lastActiveAt }
  days: activity(from: "2031-01-01T00:00:00Z", to: $to, interval: DAY) { start ratings }
} }`;

const before = {
  byCount: [{ movie: { id: '1' }, ratingCount: 30 }, { movie: { id: '2' }, ratingCount: 20 }],
  byRating: [{ movie: { id: '3' }, averageRating: 4.5 }, { movie: { id: '1' }, averageRating: 4 }],
  users: [
    { user: { id: userA }, ratingCount: 5, lastActiveAt: '2031-01-02T10:00:00.000Z' },
    { user: { id: userB }, ratingCount: 3, lastActiveAt: null },
  ],
  days: [{ start: '2031-01-01T00:00:00.000Z', ratings: 4 }, { start: '2031-01-02T00:00:00.000Z', ratings: 7 }],
};
const after = {
  byCount: [{ movie: { id: '3' }, ratingCount: 50 }, { movie: { id: '1' }, ratingCount: 30 }],
  byRating: [{ movie: { id: '3' }, averageRating: 5 }, { movie: { id: '1' }, averageRating: 4 }],
  users: [
    { user: { id: userB }, ratingCount: 9, lastActiveAt: null },
    { user: { id: userA }, ratingCount: 5, lastActiveAt: '2031-01-02T10:00:00.000Z' },
  ],
  days: [{ start: '2031-01-01T00:00:00.000Z', ratings: 4 }, { start: '2031-01-02T00:00:00.000Z', ratings: 70 }],
};

/** The Redis keys of listsQuery's four lists (with the default `to`). */
const listKeys = (databaseUrl: string): string[] =>
  ['topMovies:COUNT:0:2', 'topMovies:RATING:0:2', 'mostActiveUsers:2', 'activity:DAY:2031-01-01T00:00:00.000Z:2'].map((key) => `${cacheNamespaceOf(databaseUrl)}:${key}`);

async function lists(h: Harness, to = '2031-01-03T00:00:00Z'): Promise<unknown> {
  const response = await h.graphql<{ analytics: unknown }>(listsQuery, { to });
  expect(response.errors).toBeUndefined();
  return response.data?.analytics;
}

async function withClient<T>(url: string, work: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return await work(client);
  } finally {
    await client.end();
  }
}

describe('the analytics cache', () => {
  it('serves a repeated read from Redis until the entry expires, keyed by field and arguments', async () => {
    harness = await createHarness({ sources: false });
    const h = harness;
    await withClient(h.databaseUrl, seedReadModel);
    await h.start({ ANALYTICS_CACHE_TTL_SECONDS: '60' });
    expect(await lists(h)).toEqual(before);

    const keys = listKeys(h.databaseUrl);
    for (const key of keys) {
      const ttl = await h.redis.pttl(key);
      expect(ttl, key).toBeGreaterThan(0);
      expect(ttl, key).toBeLessThanOrEqual(60_000);
    }

    await withClient(h.databaseUrl, changeReadModel);
    expect(await lists(h), 'within the TTL: the cached answers').toEqual(before);
    // A `to` later in the same last bucket asks for the same buckets: the same entry.
    expect(await lists(h, '2031-01-02T18:30:00Z'), 'same buckets, same entry').toEqual(before);

    // Other arguments are other entries, read from PostgreSQL.
    const other = await h.graphql<{ analytics: { byCount: unknown[]; users: unknown[] } }>(
      '{ analytics { byCount: topMovies(by: COUNT, minRatings: 0, first: 1) { movie { id } ratingCount } users: mostActiveUsers(first: 1) { user { id } ratingCount } } }',
    );
    expect(other.data?.analytics).toEqual({ byCount: [{ movie: { id: '3' }, ratingCount: 50 }], users: [{ user: { id: userB }, ratingCount: 9 }] });

    // What expiry does: the entries gone, the next read is fresh (and cached again).
    await h.redis.del(...keys);
    expect(await lists(h), 'after expiry: fresh').toEqual(after);
    for (const key of keys) expect(await h.redis.exists(key), key).toBe(1);

    // With the cache off, the subgraph neither reads nor writes the entries.
    await h.stopServer();
    await h.start({ ANALYTICS_CACHE_TTL_SECONDS: '0' });
    await withClient(h.databaseUrl, (client) => client.query("UPDATE analytics.activity_buckets SET ratings = 700 WHERE start = '2031-01-02T00:00:00Z'"));
    const uncached = (await lists(h)) as typeof after;
    expect(uncached.days[1]).toEqual({ start: '2031-01-02T00:00:00.000Z', ratings: 700 });
    const [, , , activityKey] = keys;
    expect(JSON.parse((await h.redis.get(activityKey ?? '')) ?? '[]')[1], 'the entry as the cached subgraph left it').toMatchObject({ ratings: 70 });
    const namespace = cacheNamespaceOf(h.databaseUrl);
    await h.redis.del(...keys, `${namespace}:topMovies:COUNT:0:1`, `${namespace}:mostActiveUsers:1`);
  });

  it('answers from PostgreSQL when the cache Redis hangs or is gone, and logs it', async () => {
    harness = await createHarness({ sources: false });
    const h = harness;
    await withClient(h.databaseUrl, seedReadModel);
    proxy = await startRedisProxy(h.redis.options.host ?? '127.0.0.1', h.redis.options.port ?? 6379);
    const logged: string[] = [];
    const write = process.stdout.write.bind(process.stdout);
    // The subgraph's JSON log lines are kept here (and out of the test output); the rest passes.
    vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array, encoding?: BufferEncoding, callback?: (error?: Error | null) => void) => {
      if (typeof chunk === 'string' && chunk.includes('"service":"analytics"')) {
        logged.push(chunk);
        return true;
      }
      return write(chunk, encoding, callback);
    });
    await h.start({ ANALYTICS_CACHE_TTL_SECONDS: '60', ANALYTICS_CACHE_REDIS_URL: `redis://127.0.0.1:${proxy.port}`, LOG_LEVEL: 'warn' });
    expect(await lists(h), 'through the proxy, cached').toEqual(before);
    await withClient(h.databaseUrl, changeReadModel);
    expect(await lists(h), 'still cached').toEqual(before);

    // Redis stops answering (the connection stays open): the GET times out, PostgreSQL answers.
    proxy.freeze();
    expect(await lists(h), 'Redis hangs').toEqual(after);
    expect(await lists(h), 'Redis hangs, skipped').toEqual(after);
    expect(logged.some((line) => line.includes('analytics cache unavailable; reading PostgreSQL instead'))).toBe(true);

    // Redis gone (connections cut, nothing listens): the same.
    await proxy.close();
    await withClient(h.databaseUrl, (client) => client.query('UPDATE analytics.movie_stats SET rating_count = 60 WHERE movie_id = 3'));
    const gone = (await lists(h)) as typeof after;
    expect(gone.byCount[0], 'Redis gone').toEqual({ movie: { id: '3' }, ratingCount: 60 });
    await h.redis.del(...listKeys(h.databaseUrl));
  });
});

interface RedisProxy {
  port: number;
  /** stops forwarding in both directions; the connections stay open, as with a hung server */
  freeze(): void;
  /** cuts every connection and stops listening, as with a server that went away */
  close(): Promise<void>;
}

/** A TCP relay to the test Redis that a test can make hang or disappear, without touching the shared Redis. */
async function startRedisProxy(host: string, port: number): Promise<RedisProxy> {
  const sockets = new Set<Socket>();
  let frozen = false;
  const server: Server = createServer((client) => {
    const upstream = connect(port, host);
    for (const socket of [client, upstream]) {
      sockets.add(socket);
      socket.on('error', () => socket.destroy());
      socket.on('close', () => sockets.delete(socket));
    }
    client.on('data', (chunk) => frozen || upstream.write(chunk));
    upstream.on('data', (chunk) => frozen || client.write(chunk));
    client.on('close', () => upstream.destroy());
    upstream.on('close', () => client.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('the proxy has no port');
  let closing: Promise<void> | undefined;
  return {
    port: address.port,
    freeze: () => {
      frozen = true;
    },
    close() {
      closing ??= new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      });
      return closing;
    },
  };
}
