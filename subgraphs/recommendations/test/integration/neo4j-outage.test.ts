import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { Redis } from 'ioredis';
import neo4j from 'neo4j-driver';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { connectNeo4j, createLogger, type AnyEvent, type Driver, type RunningServer } from '@platform/shared';
import { createTestTokens, graphqlClient, type GraphQLTestClient, type TestTokens } from '@platform/shared/testing';
import { startNeo4j, type RunningNeo4j } from '../../../../scripts/lib/neo4j.ts';
import type { StreamLag } from '../../src/event-consumer.ts';
import { startRecommendationsSubgraph } from '../../src/index.ts';
import { caughtUp, deleteStreams, event, iso, publish, reviewEvents as review, testStreams } from '../helpers/events.ts';
import { uniqueIds } from '../helpers/test-graph.ts';

// Neo4j goes away under a running subgraph: queries answer SERVICE_UNAVAILABLE, the consumer
// keeps the events pending (retrying with backoff, never dead-lettering them), and once Neo4j is
// back on the same store every one of them is applied. Neo4j restarts on the same port, so the
// subgraph's driver finds it again without any reconfiguration.

const redisUrl = inject('services').redisUrl;
const quietLogger = createLogger('recommendations-test', { sink: () => {} });
const lagQuery = `{ recommendationEventLag { stream pending undelivered unacknowledged } }`;
const recommendationsQuery = `{ recommendations(first: 5) { movie { id } source } }`;

describe('recommendations subgraph while Neo4j is down', () => {
  const ids = uniqueIds();
  const streams = testStreams();
  const redis = new Redis(redisUrl);
  let home: string;
  let neo4jServer: RunningNeo4j;
  let port: number;
  let server: RunningServer;
  let tokens: TestTokens;
  let graphql: GraphQLTestClient;
  let checker: Driver | undefined;

  beforeAll(async () => {
    home = await mkdtemp(join(tmpdir(), 'recommendations-outage-neo4j-'));
    neo4jServer = await startNeo4j({ home, port: 0, heapMb: 512, pageCacheMb: 128 });
    port = Number(new URL(neo4jServer.uri).port);
    tokens = await createTestTokens();
    server = await startRecommendationsSubgraph(
      { NEO4J_URI: neo4jServer.uri, NEO4J_USER: neo4jServer.user, NEO4J_PASSWORD: neo4jServer.password, REDIS_URL: redisUrl, PORT: '0', LOG_LEVEL: 'error' },
      // Short waits keep the test quick; the backoff still doubles up to retryMaxMs.
      { verifier: tokens.verifier, logger: quietLogger, events: { streams: streams.all, blockMs: 100, retryInitialMs: 100, retryMaxMs: 1_000 } },
    );
    graphql = graphqlClient(server.url);
  });

  afterAll(async () => {
    await checker?.close();
    await server?.stop();
    await neo4jServer?.stop();
    if (home) await rm(home, { recursive: true, force: true });
    await deleteStreams(redisUrl, streams);
    redis.disconnect();
  });

  const lag = async (): Promise<StreamLag[]> => {
    const result = await graphql<{ recommendationEventLag: StreamLag[] }>(lagQuery, {}, { token: await tokens.sign(ids.user('admin'), { role: 'ADMIN' }) });
    if (result.errors) throw new Error(JSON.stringify(result.errors));
    return result.data?.recommendationEventLag ?? [];
  };

  /**
   * How often the consumer has tried the entries it holds. While a round fails it retries that
   * round's entries and reads nothing newer, so only the streams of the first failed round have
   * delivered entries; the rest wait undelivered (they count in `pending` all the same).
   */
  const mostDeliveries = async (): Promise<number> => {
    let most = 0;
    for (const stream of streams.all) {
      const pending = (await redis.xpending(stream, 'recommendations', '-', '+', 1)) as [string, string, number, number][];
      most = Math.max(most, pending[0]?.[3] ?? 0);
    }
    return most;
  };

  it('keeps every event pending while Neo4j is down and applies all of them once it is back', async () => {
    const viewer = ids.user('viewer');
    const fan = ids.user('fan');
    const m = (n: number) => ids.movie(n);

    // Working normally: an event is applied.
    await publish(redis, streams, [event('movie.created', { movieId: m(0), title: 'Before', year: 2001, genres: [ids.genre('Drama')], languages: [], personIds: [], at: iso(1_000) })]);
    await caughtUp(lag);

    await neo4jServer.stop();

    const duringOutage: AnyEvent[] = [
      event('user.registered', { userId: viewer, username: 'viewer', at: iso(1_000) }),
      event('user.profile-updated', { userId: viewer, favoriteGenres: [ids.genre('Drama')], at: iso(1_100) }),
      ...Array.from({ length: 20 }, (_, index) =>
        event('movie.created', { movieId: m(index + 1), title: `Movie ${index + 1}`, year: 2000 + index, genres: [ids.genre('Drama')], languages: [], personIds: [], at: iso(1_000) }),
      ),
      ...Array.from({ length: 20 }, (_, index) => review.upserted(fan, m(index + 1), 4.5, 2_000 + index)),
      review.upserted(viewer, m(1), 5, 2_000),
      review.upserted(viewer, m(2), 2, 2_000),
      review.deleted(viewer, m(2), 3_000),
      review.reacted(viewer, m(3), 'DISLIKE', 2_000),
      review.excluded(viewer, m(4), 2_000),
    ];
    await publish(redis, streams, duringOutage);
    const reviewEvents = duringOutage.filter((item) => item.producer === 'reviews').length;

    // Queries fail fast with a coded error while the events wait.
    const during = await graphql(recommendationsQuery, {}, { token: await tokens.sign(viewer) });
    expect(during.errors?.[0]?.extensions?.code).toBe('SERVICE_UNAVAILABLE');

    // Retried again and again (more often than the shared consumer's 10 deliveries before it
    // would dead-letter), and still all pending: nothing applied, nothing thrown away.
    const deadline = Date.now() + 45_000;
    while ((await mostDeliveries()) <= 10 && Date.now() < deadline) await delay(200);
    expect(await mostDeliveries()).toBeGreaterThan(10);
    const waiting = await lag();
    expect(waiting.find((stream) => stream.stream === streams.reviews)?.pending).toBe(reviewEvents);
    expect(waiting.find((stream) => stream.stream === streams.movies)?.pending).toBe(20);
    expect(waiting.find((stream) => stream.stream === streams.users)?.pending).toBe(2);
    expect(await redis.exists(...streams.all.map((stream) => `${stream}:dead`))).toBe(0);

    // Neo4j back on the same store and port.
    neo4jServer = await startNeo4j({ home, port, heapMb: 512, pageCacheMb: 128 });
    await caughtUp(lag, 60_000);

    checker = connectNeo4j({ uri: neo4jServer.uri, user: neo4jServer.user, password: neo4jServer.password });
    const { records } = await checker.executeQuery(
      `RETURN COUNT { MATCH (m:Movie) WHERE m.id IN $movieIds AND m.title IS NOT NULL } AS movies,
              COUNT { MATCH (:User {id: $fan})-[:RATED]->() } AS fanRatings,
              COUNT { MATCH (:User {id: $viewer})-[:PREFERS]->() } AS preferences,
              [(v:User {id: $viewer})-[r]->(m:Movie) | type(r) + ' ' + toString(m.id)] AS viewerPairs`,
      { movieIds: Array.from({ length: 21 }, (_, index) => neo4j.int(m(index))), fan, viewer },
    );
    expect(records[0]?.get('movies')).toBe(21);
    expect(records[0]?.get('fanRatings')).toBe(20);
    expect(records[0]?.get('preferences')).toBe(1);
    expect((records[0]?.get('viewerPairs') as string[]).sort()).toEqual([`DISLIKED ${m(3)}`, `EXCLUDED ${m(4)}`, `RATED ${m(1)}`, `RATING_DELETED ${m(2)}`].sort());

    const after = await graphql<{ recommendations: { movie: { id: string }; source: string }[] }>(recommendationsQuery, {}, { token: await tokens.sign(viewer) });
    expect(after.errors).toBeUndefined();
    const recommended = after.data?.recommendations.map((item) => item.movie.id) ?? [];
    expect(recommended).toHaveLength(5);
    // Rated, disliked and excluded movies are never recommended (the deleted rating no longer counts).
    for (const seen of [m(1), m(3), m(4)]) expect(recommended).not.toContain(String(seen));
  }, 150_000);
});
