import { Redis } from 'ioredis';
import type { Client } from 'graphql-ws';
import { afterAll, afterEach, beforeAll, describe, expect, inject, it } from 'vitest';
import { liveChannelFor, publishLive } from '@platform/shared';
import { generateSyntheticDataset } from '../../../scripts/lib/synthetic.ts';
import { loadDataset } from '../../../scripts/lib/load-dataset.ts';
import { startTestEnvironment, type TestEnvironment } from '../../helpers/test-environment.ts';
import { collect, connect, liveSubscribers, RawSocket, waitFor, wsUrlOf } from './helpers.ts';

// Subscriptions through the gateway, end to end: the recommendations subgraph owns
// Subscription.recommendationsUpdated / notifications (Redis pub/sub per user), the gateway
// proxies the primary subscription over graphql-ws and completes each event with the movies and
// reviews subgraphs. Live messages are published straight onto this stack's channels (the
// producer side is tested on its own), except in the last test, which likes a movie over HTTP.

interface UpdateEvent {
  recommendationsUpdated: {
    reason: string;
    at: string;
    recommendations: { source: string; movie: { id: string; title: string; averageRating: number | null } }[];
  };
}

const updatesSubscription = `
  subscription Updates($n: Int) {
    recommendationsUpdated(first: $n) {
      reason
      at
      recommendations { source movie { id title averageRating } }
    }
  }`;

describe('federated subscriptions through the gateway', () => {
  let env: TestEnvironment;
  let redis: Redis;
  let wsUrl: string;
  const clients: Client[] = [];
  const sockets: RawSocket[] = [];

  const client = (token: string): Client => {
    const made = connect(wsUrl, token);
    clients.push(made);
    return made;
  };
  const publishUpdate = (userId: string, reason: string) =>
    publishLive(redis, { kind: 'recommendations-updated', userId, reason, at: new Date().toISOString() }, env.eventStreamPrefix);
  const subscribersOf = (userId: string) => liveSubscribers(redis, userId, env.eventStreamPrefix);

  beforeAll(async () => {
    env = await startTestEnvironment();
    await loadDataset(generateSyntheticDataset({ seed: 11, users: 30, movies: 40, ratingsPerUser: 15 }), {
      databaseUrl: env.databaseUrl,
      neo4j: inject('e2eNeo4j')!,
    });
    redis = new Redis(inject('services').redisUrl);
    wsUrl = wsUrlOf(env.gatewayUrl);
  });

  afterEach(async () => {
    await Promise.all(clients.splice(0).map((made) => made.dispose()));
    for (const socket of sockets.splice(0)) socket.close();
  });

  afterAll(async () => {
    redis?.disconnect();
    await env?.stop();
  });

  it('delivers an update with fields from recommendations, movies and reviews', async () => {
    const user = await env.signUp('live');
    const updates = collect<UpdateEvent>(client(user.token), { query: updatesSubscription, variables: { n: 5 } });
    // Nothing is sent on subscribe; the subgraph listens once its Redis SUBSCRIBE is confirmed.
    await waitFor(() => subscribersOf(user.id), (count) => count === 1, 10_000, 'the subgraph to listen');
    expect(updates.events).toEqual([]);

    await publishUpdate(user.id, 'you liked Heat');
    await waitFor(() => updates.events.length, (count) => count === 1, 10_000, 'the update');
    const [event] = updates.events;
    expect(event!.errors).toBeUndefined();
    const update = event!.data!.recommendationsUpdated;
    expect(update.reason).toBe('you liked Heat');

    // The same list a query returns now (a fresh user gets the popular fallback from the seed).
    const query = await env.graphql<{ recommendations: { movie: { id: string } }[] }>('{ recommendations(first: 5) { movie { id } } }', {}, user.token);
    expect(update.recommendations.map((item) => item.movie.id)).toEqual(query.data!.recommendations.map((item) => item.movie.id));
    expect(update.recommendations.length).toBeGreaterThan(0);

    // title from the movies subgraph, averageRating from the reviews subgraph: the `rest` of the plan ran.
    const rows = await env.sql<{ id: string; title: string; avg: number | null }>(
      `SELECT m.id::text AS id, m.title, s.rating_halves_sum::float / NULLIF(s.rating_count, 0) / 2 AS avg
         FROM movies.movies m LEFT JOIN reviews.movie_stats s ON s.movie_id = m.id WHERE m.id = ANY($1::bigint[])`,
      [update.recommendations.map((item) => item.movie.id)],
    );
    const byId = new Map(rows.map((row) => [row.id, row]));
    for (const item of update.recommendations) {
      const expected = byId.get(item.movie.id)!;
      expect(item.movie.title).toBe(expected.title);
      if (expected.avg === null) expect(item.movie.averageRating).toBeNull();
      else expect(item.movie.averageRating).toBeCloseTo(expected.avg, 6);
    }
    expect(update.recommendations.some((item) => item.movie.averageRating !== null)).toBe(true);
  });

  it('delivers notifications, with the movie as an entity completed by the movies subgraph', async () => {
    const user = await env.signUp('notified');
    const [movie] = await env.sql<{ id: string; title: string }>('SELECT id::text AS id, title FROM movies.movies ORDER BY id LIMIT 1');
    const notifications = collect<{ notifications: { id: string; kind: string; message: string; at: string; movie: { id: string; title: string } | null } }>(client(user.token), {
      query: 'subscription { notifications { id kind message at movie { id title } } }',
    });
    await waitFor(() => subscribersOf(user.id), (count) => count === 1, 10_000, 'the subgraph to listen');

    const at = '2026-11-21T20:04:00.000Z';
    await publishLive(redis, { kind: 'notification', notificationKind: 'NEW_RECOMMENDATION', id: 'n-1', userId: user.id, movieId: Number(movie!.id), message: 'New: a movie', at }, env.eventStreamPrefix);
    await publishLive(redis, { kind: 'notification', notificationKind: 'NEW_RECOMMENDATION', id: 'n-2', userId: user.id, movieId: null, message: 'No movie', at }, env.eventStreamPrefix);
    await waitFor(() => notifications.events.length, (count) => count === 2, 10_000, 'two notifications');
    expect(notifications.events.map((event) => event.data?.notifications)).toEqual([
      { id: 'n-1', kind: 'NEW_RECOMMENDATION', message: 'New: a movie', at, movie: { id: movie!.id, title: movie!.title } },
      { id: 'n-2', kind: 'NEW_RECOMMENDATION', message: 'No movie', at, movie: null },
    ]);
  });

  it('delivers one subscription’s events in the order they were published', async () => {
    const user = await env.signUp('ordered');
    const updates = collect<{ recommendationsUpdated: { reason: string } }>(client(user.token), { query: 'subscription { recommendationsUpdated(first: 3) { reason } }' });
    await waitFor(() => subscribersOf(user.id), (count) => count === 1, 10_000, 'the subgraph to listen');
    const reasons = Array.from({ length: 8 }, (_, index) => `change ${index + 1}`);
    for (const reason of reasons) await publishUpdate(user.id, reason);
    await waitFor(() => updates.events.length, (count) => count === reasons.length, 15_000, 'every update');
    expect(updates.events.map((event) => event.data?.recommendationsUpdated.reason)).toEqual(reasons);
  });

  it('never gives one user another user’s events', async () => {
    const alice = await env.signUp('alice');
    const bob = await env.signUp('bob');
    const aliceUpdates = collect<{ recommendationsUpdated: { reason: string } }>(client(alice.token), { query: 'subscription { recommendationsUpdated { reason } }' });
    const bobUpdates = collect<{ recommendationsUpdated: { reason: string } }>(client(bob.token), { query: 'subscription { recommendationsUpdated { reason } }' });
    await waitFor(() => subscribersOf(alice.id), (count) => count === 1, 10_000, 'alice’s channel');
    await waitFor(() => subscribersOf(bob.id), (count) => count === 1, 10_000, 'bob’s channel');

    await publishUpdate(bob.id, 'for bob');
    // A message on alice's channel that claims to be bob's is not delivered to anyone.
    await redis.publish(liveChannelFor(alice.id, env.eventStreamPrefix), JSON.stringify({ kind: 'recommendations-updated', userId: bob.id, reason: 'misrouted', at: new Date().toISOString() }));
    await publishUpdate(alice.id, 'for alice');

    await waitFor(() => aliceUpdates.events.length + bobUpdates.events.length, (count) => count >= 2, 10_000, 'both updates');
    // alice's own message came last on her channel: anything else for her would have come first.
    expect(aliceUpdates.events.map((event) => event.data?.recommendationsUpdated.reason)).toEqual(['for alice']);
    expect(bobUpdates.events.map((event) => event.data?.recommendationsUpdated.reason)).toEqual(['for bob']);
  });

  describe('the recommendations subgraph’s own endpoint (what the gateway’s shared upstream sockets use)', () => {
    const rawSubgraphSocket = async (): Promise<RawSocket> => {
      const socket = await RawSocket.open(wsUrlOf(env.subgraphUrl('recommendations')));
      sockets.push(socket);
      return socket;
    };
    const updatesOf = (socket: RawSocket, id: string) =>
      socket.messages.filter((message) => message.id === id && message.type === 'next').map((message) => (message.payload as { data: { recommendationsUpdated: { reason: string } } }).data.recommendationsUpdated.reason);
    const subscribe = (socket: RawSocket, id: string, authorization?: string) =>
      socket.send({ type: 'subscribe', id, payload: { query: 'subscription { recommendationsUpdated { reason } }', ...(authorization === undefined ? {} : { extensions: { authorization } }) } });

    it('serves several users on one multiplexed connection, each with their own verified token and events', async () => {
      const carol = await env.signUp('carol');
      const dan = await env.signUp('dan');
      const socket = await rawSubgraphSocket();
      socket.send({ type: 'connection_init', payload: { multiplexed: true } });
      await socket.nextMessage((message) => message.type === 'connection_ack');

      subscribe(socket, 'carol', `Bearer ${carol.token}`);
      subscribe(socket, 'dan', `Bearer ${dan.token}`);
      // Refused per operation (UNAUTHENTICATED), the shared socket stays open.
      subscribe(socket, 'absent');
      subscribe(socket, 'forged', 'Bearer forged.token.here');
      for (const id of ['absent', 'forged']) {
        const refused = (await socket.nextMessage((message) => message.id === id)) as { type: string; payload: { extensions: { code: string } }[] };
        expect(refused.type).toBe('error');
        expect(refused.payload.map((error) => error.extensions.code)).toEqual(['UNAUTHENTICATED']);
      }
      await waitFor(() => subscribersOf(carol.id), (count) => count === 1, 10_000, 'carol’s channel');
      await waitFor(() => subscribersOf(dan.id), (count) => count === 1, 10_000, 'dan’s channel');

      await publishUpdate(dan.id, 'for dan');
      await publishUpdate(carol.id, 'for carol');
      await waitFor(() => updatesOf(socket, 'carol').length + updatesOf(socket, 'dan').length, (count) => count >= 2, 10_000, 'both updates');
      expect(updatesOf(socket, 'carol')).toEqual(['for carol']);
      expect(updatesOf(socket, 'dan')).toEqual(['for dan']);
      expect(socket.socket.readyState).toBe(socket.socket.OPEN);

      // Completing one operation releases that user's channel only.
      socket.send({ type: 'complete', id: 'carol' });
      await waitFor(() => subscribersOf(carol.id), (count) => count === 0, 10_000, 'carol’s channel to be released');
      expect(await subscribersOf(dan.id)).toBe(1);
    });

    it('ignores extensions.authorization on a normal connection: no switching user', async () => {
      const erin = await env.signUp('erin');
      const frank = await env.signUp('frank');
      const socket = await rawSubgraphSocket();
      await socket.init(erin.token);
      subscribe(socket, 'switch', `Bearer ${frank.token}`);
      await waitFor(() => subscribersOf(erin.id), (count) => count === 1, 10_000, 'erin’s channel');
      expect(await subscribersOf(frank.id)).toBe(0);
      await publishUpdate(frank.id, 'for frank');
      await publishUpdate(erin.id, 'for erin');
      await waitFor(() => updatesOf(socket, 'switch').length, (count) => count >= 1, 10_000, 'the update');
      expect(updatesOf(socket, 'switch')).toEqual(['for erin']);
    });
  });

  it('ends the upstream subscription when the client completes it or disconnects', async () => {
    const user = await env.signUp('leaver');
    const gatewayClient = client(user.token);
    const updates = collect(gatewayClient, { query: 'subscription { recommendationsUpdated { reason } }' });
    const notifications = collect(gatewayClient, { query: 'subscription { notifications { id } }' });
    // Two subscriptions of one user share one Redis SUBSCRIBE in the subgraph.
    await waitFor(() => subscribersOf(user.id), (count) => count === 1, 10_000, 'the subgraph to listen');

    updates.stop();
    // Still listening for the notifications subscription.
    await publishLive(redis, { kind: 'notification', notificationKind: 'NEW_RECOMMENDATION', id: 'still-there', userId: user.id, movieId: null, message: 'hi', at: new Date().toISOString() }, env.eventStreamPrefix);
    await waitFor(() => notifications.events.length, (count) => count === 1, 10_000, 'the notification');
    expect(await subscribersOf(user.id)).toBe(1);

    notifications.stop();
    await waitFor(() => subscribersOf(user.id), (count) => count === 0, 10_000, 'the channel to be released after complete');

    // Disconnecting (without completing anything) releases it too.
    const second = client(user.token);
    collect(second, { query: 'subscription { recommendationsUpdated { reason } }' });
    await waitFor(() => subscribersOf(user.id), (count) => count === 1, 10_000, 'the subgraph to listen again');
    second.terminate();
    await waitFor(() => subscribersOf(user.id), (count) => count === 0, 10_000, 'the channel to be released after disconnect');
  });

  it('pushes an update after the user likes a movie over HTTP (the real producer)', async () => {
    const user = await env.signUp('liker');
    const updates = collect<UpdateEvent>(client(user.token), { query: updatesSubscription, variables: { n: 5 } });
    await waitFor(() => subscribersOf(user.id), (count) => count === 1, 10_000, 'the subgraph to listen');
    const [movie] = await env.sql<{ id: string; title: string }>(
      'SELECT m.id::text AS id, m.title FROM movies.movies m JOIN reviews.movie_stats s ON s.movie_id = m.id ORDER BY s.rating_count DESC, m.id LIMIT 1',
    );
    const liked = await env.graphql('mutation($id: ID!) { reactToMovie(movieId: $id, reaction: LIKE) { id } }', { id: movie!.id }, user.token);
    expect(liked.errors).toBeUndefined();

    await waitFor(() => updates.events.length, (count) => count >= 1, 20_000, 'an update after the like');
    const update = updates.events[0]!.data!.recommendationsUpdated;
    expect(update.reason).toContain(movie!.title);
    expect(update.recommendations.map((item) => item.movie.id)).not.toContain(movie!.id);
  });
});
