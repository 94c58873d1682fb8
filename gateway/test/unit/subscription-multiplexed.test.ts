import { createServer, type Server } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { buildSchema, type GraphQLFieldConfig, type GraphQLFormattedError } from 'graphql';
import type { FormattedExecutionResult } from 'graphql-ws';
import { WebSocket } from 'ws';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  createLogger,
  EventQueue,
  graphqlSubscriptionRunner,
  OperationGuard,
  requireViewer,
  startSubscriptionServer,
  unauthenticated,
  type ResultStream,
  type SubscriptionServer,
  type Viewer,
} from '@platform/shared';
import { createTestTokens, type TestTokens } from '@platform/shared/testing';
import { createUpstreamPool, operationFailureOf, socketFailureOf, type UpstreamFailure, type UpstreamPool, type UpstreamSettings } from '../../src/subscriptions/upstream.ts';

// The gateway's shared upstream sockets against a real subscription server on a loopback port
// (the shared server a subgraph uses, with multiplexed connections allowed): several users'
// subscriptions on one socket, each verified and served as its own user; a missing, forged or
// expiring per-operation token ends that operation only; a normal connection cannot switch user
// with extensions.authorization; the pool stays within its bounds and one socket's failure ends
// exactly the subscriptions it carried.

const silent = createLogger('test', { level: 'error', sink: () => undefined });

interface Context {
  viewer: Viewer | null;
}

/** A subgraph-like schema: `events` streams the viewer's own channel, resolved per event with the operation's viewer. */
const schema = buildSchema('type Query { ok: Boolean } type Event { userId: String! text: String! } type Subscription { events: Event! }');
const channels = new Map<string, Set<EventQueue<string>>>();
const events = schema.getSubscriptionType()!.getFields().events! as unknown as GraphQLFieldConfig<string, Context>;
events.subscribe = (_root, _args, context) => {
  const viewer = requireViewer(context);
  const listeners = channels.get(viewer.id) ?? new Set<EventQueue<string>>();
  channels.set(viewer.id, listeners);
  const queue: EventQueue<string> = new EventQueue<string>({ capacity: 100, onClose: () => listeners.delete(queue) });
  listeners.add(queue);
  return queue;
};
events.resolve = (text, _args, context) => ({ userId: requireViewer(context).id, text });

const publish = (userId: string, text: string): void => {
  for (const queue of channels.get(userId) ?? []) queue.push(text);
};
const listening = (userId: string): number => channels.get(userId)?.size ?? 0;

async function waitFor<T>(probe: () => T, accept: (value: T) => boolean, what: string, timeoutMs = 5_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = probe();
    if (accept(value)) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}; last value ${JSON.stringify(value)}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

interface Endpoint {
  url: string;
  httpServer: Server;
  server: SubscriptionServer;
  /** the TCP sockets of upgraded connections, in arrival order */
  sockets: Socket[];
}

async function startEndpoint(tokens: TestTokens, options: { allowMultiplexedConnections: boolean }): Promise<Endpoint> {
  const httpServer = createServer((_request, response) => response.writeHead(404).end());
  const sockets: Socket[] = [];
  httpServer.on('upgrade', (_request, socket: Socket) => sockets.push(socket));
  const server = startSubscriptionServer({
    httpServer,
    schema,
    verifier: tokens.verifier,
    logger: silent,
    limits: { keepAliveMs: 0, maxOperationsPerConnection: 1_000 },
    allowMultiplexedConnections: options.allowMultiplexedConnections,
    run: graphqlSubscriptionRunner<Context>({ schema, createContext: (connection) => ({ viewer: connection.viewer }) }),
  });
  await new Promise<void>((resolve) => httpServer.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${(httpServer.address() as AddressInfo).port}/graphql`, httpServer, server, sockets };
}

async function stopEndpoint(endpoint: Endpoint | undefined): Promise<void> {
  if (!endpoint) return;
  await endpoint.server.close();
  await new Promise((resolve) => endpoint.httpServer.close(resolve));
}

/** One upstream subscription's record. */
interface Received {
  events: FormattedExecutionResult[];
  failure: UpstreamFailure | undefined;
  completed: boolean;
  stop: () => void;
}

function subscribeThrough(pool: UpstreamPool, url: string, token: string, query = 'subscription { events { userId text } }'): Received {
  const received: Received = { events: [], failure: undefined, completed: false, stop: () => undefined };
  received.stop = pool.subscribe({ serviceName: 'events', url }, `Bearer ${token}`, { query, extensions: { requestId: 'request-0001' } }, {
    next: (result) => received.events.push(result),
    error: (failure) => {
      received.failure = failure;
    },
    complete: () => {
      received.completed = true;
    },
  });
  return received;
}

const textsOf = (received: Received) => received.events.map((event) => (event.data as { events: { userId: string; text: string } }).events);

/** A protocol-level client, for what the pool would never send. */
class RawClient {
  readonly socket: WebSocket;
  readonly messages: Record<string, unknown>[] = [];
  readonly closed: Promise<{ code: number; reason: string }>;
  // Listened for from the start: callers often await something (a token) between creating the
  // client and open(), and an 'open' event that fired meanwhile would otherwise be missed.
  readonly #opened: Promise<void>;

  constructor(url: string) {
    this.socket = new WebSocket(url.replace(/^http/, 'ws'), 'graphql-transport-ws');
    this.socket.on('message', (data: Buffer) => this.messages.push(JSON.parse(data.toString()) as Record<string, unknown>));
    this.closed = new Promise((resolve) => this.socket.once('close', (code: number, reason: Buffer) => resolve({ code, reason: reason.toString() })));
    this.#opened = new Promise<void>((resolve, reject) => {
      this.socket.once('open', () => resolve());
      this.socket.once('error', reject);
    });
    // A client that is never opened must not leave an unhandled rejection behind.
    this.#opened.catch(() => undefined);
  }

  async open(init: Record<string, unknown>): Promise<void> {
    await this.#opened;
    this.send({ type: 'connection_init', payload: init });
  }

  send(message: Record<string, unknown>): void {
    this.socket.send(JSON.stringify(message));
  }

  next(matches: (message: Record<string, unknown>) => boolean, what: string): Promise<Record<string, unknown>> {
    return waitFor(() => this.messages.find(matches), (found) => found !== undefined, what) as Promise<Record<string, unknown>>;
  }

  close(): void {
    this.socket.terminate();
  }
}

describe('multiplexed upstream subscriptions', () => {
  let tokens: TestTokens;
  let subgraph: Endpoint;
  const pools: UpstreamPool[] = [];
  const clients: RawClient[] = [];

  const poolWith = (settings: Partial<UpstreamSettings> = {}): UpstreamPool => {
    const pool = createUpstreamPool({ logger: silent, keepAliveMs: 60_000, idleTimeoutMs: 0, ...settings });
    pools.push(pool);
    return pool;
  };
  const rawClient = (url = subgraph.url): RawClient => {
    const client = new RawClient(url);
    clients.push(client);
    return client;
  };

  beforeAll(async () => {
    tokens = await createTestTokens();
    subgraph = await startEndpoint(tokens, { allowMultiplexedConnections: true });
  });

  afterEach(async () => {
    await Promise.all(pools.splice(0).map((pool) => pool.close()));
    for (const client of clients.splice(0)) client.close();
    await waitFor(() => subgraph.server.connectionCount(), (count) => count === 0, 'the subgraph’s sockets to close');
    await waitFor(() => [...channels.values()].reduce((sum, set) => sum + set.size, 0), (count) => count === 0, 'every channel to be released');
  });

  afterAll(async () => {
    await stopEndpoint(subgraph);
  });

  it('carries two users’ subscriptions on one socket, each getting only their own events', async () => {
    const pool = poolWith();
    const alice = subscribeThrough(pool, subgraph.url, await tokens.sign('alice'));
    const bob = subscribeThrough(pool, subgraph.url, await tokens.sign('bob'));
    await waitFor(() => listening('alice') + listening('bob'), (count) => count === 2, 'both subscriptions to run');
    expect(pool.openConnections()).toBe(1);
    expect(subgraph.server.connectionCount()).toBe(1);

    publish('bob', 'for bob');
    publish('alice', 'for alice');
    publish('alice', 'again for alice');
    await waitFor(() => alice.events.length + bob.events.length, (count) => count === 3, 'three events');
    // Each event was resolved with the operation's own viewer (userId), on the shared socket.
    expect(textsOf(alice)).toEqual([
      { userId: 'alice', text: 'for alice' },
      { userId: 'alice', text: 'again for alice' },
    ]);
    expect(textsOf(bob)).toEqual([{ userId: 'bob', text: 'for bob' }]);

    // Ending one ends it upstream (the channel is released); the other keeps going on the same socket.
    alice.stop();
    await waitFor(() => listening('alice'), (count) => count === 0, 'alice’s channel to be released');
    publish('bob', 'still there');
    await waitFor(() => bob.events.length, (count) => count === 2, 'bob’s second event');
    expect(pool.openConnections()).toBe(1);
    bob.stop();
    // idleTimeoutMs 0: the socket closes with its last subscription.
    await waitFor(() => pool.openConnections(), (count) => count === 0, 'the idle socket to close');
  });

  it('keeps the socket for idleTimeoutMs after the last subscription, and reuses it meanwhile', async () => {
    const pool = poolWith({ idleTimeoutMs: 300 });
    const first = subscribeThrough(pool, subgraph.url, await tokens.sign('carol'));
    await waitFor(() => listening('carol'), (count) => count === 1, 'the subscription');
    first.stop();
    await waitFor(() => listening('carol'), (count) => count === 0, 'the channel to be released');
    expect(pool.openConnections()).toBe(1);
    const second = subscribeThrough(pool, subgraph.url, await tokens.sign('dave'));
    await waitFor(() => listening('dave'), (count) => count === 1, 'the second subscription');
    expect(subgraph.server.connectionCount()).toBe(1);
    second.stop();
    await waitFor(() => pool.openConnections(), (count) => count === 0, 'the idle socket to close', 3_000);
  });

  it('stays within socketsPerSubgraph × operationsPerSocket however many users subscribe', async () => {
    const pool = poolWith({ socketsPerSubgraph: 3, operationsPerSocket: 10 });
    const users = Array.from({ length: 30 }, (_, index) => `user-${index}`);
    const subscriptions = await Promise.all(users.map(async (userId) => subscribeThrough(pool, subgraph.url, await tokens.sign(userId))));
    await waitFor(() => users.reduce((sum, userId) => sum + listening(userId), 0), (count) => count === 30, 'all 30 subscriptions to run');
    expect(pool.openConnections()).toBe(3);
    expect(subgraph.server.connectionCount()).toBe(3);

    // Every socket full: refused (SERVICE_UNAVAILABLE for the client), no fourth socket.
    const refused = subscribeThrough(pool, subgraph.url, await tokens.sign('one-too-many'));
    await waitFor(() => refused.failure, (failure) => failure !== undefined, 'the refusal');
    expect(refused.failure).toEqual({ kind: 'unreachable', message: 'every upstream socket is full' });
    expect(pool.openConnections()).toBe(3);

    for (const [index, userId] of users.entries()) publish(userId, `event ${index}`);
    await waitFor(() => subscriptions.filter((received) => received.events.length === 1).length, (count) => count === 30, 'every user’s event');
    subscriptions.forEach((received, index) => expect(textsOf(received)).toEqual([{ userId: `user-${index}`, text: `event ${index}` }]));

    // A freed slot is used again.
    subscriptions[0]!.stop();
    const admitted = subscribeThrough(pool, subgraph.url, await tokens.sign('late'));
    await waitFor(() => listening('late'), (count) => count === 1, 'the late subscription');
    expect(admitted.failure).toBeUndefined();
    expect(pool.openConnections()).toBe(3);
  });

  it('ends exactly the subscriptions of a socket that fails', async () => {
    const pool = poolWith({ operationsPerSocket: 2 });
    const onFirst = [subscribeThrough(pool, subgraph.url, await tokens.sign('f1')), subscribeThrough(pool, subgraph.url, await tokens.sign('f2'))];
    await waitFor(() => listening('f1') + listening('f2'), (count) => count === 2, 'the first socket’s subscriptions');
    const onSecond = [subscribeThrough(pool, subgraph.url, await tokens.sign('s1')), subscribeThrough(pool, subgraph.url, await tokens.sign('s2'))];
    await waitFor(() => listening('s1') + listening('s2'), (count) => count === 2, 'the second socket’s subscriptions');
    expect(pool.openConnections()).toBe(2);

    const firstSocket = subgraph.sockets.at(-2)!;
    firstSocket.destroy();
    await waitFor(() => onFirst.every((received) => received.failure !== undefined), (failed) => failed, 'the first socket’s subscriptions to fail');
    expect(onFirst.map((received) => received.failure)).toEqual([
      { kind: 'closed', code: 1006, reason: '' },
      { kind: 'closed', code: 1006, reason: '' },
    ]);
    // The subgraph side released them too.
    await waitFor(() => listening('f1') + listening('f2'), (count) => count === 0, 'the failed subscriptions’ channels');

    publish('s1', 'unaffected');
    publish('s2', 'unaffected');
    await waitFor(() => onSecond.every((received) => received.events.length === 1), (ok) => ok, 'the second socket’s events');
    expect(onSecond.every((received) => received.failure === undefined)).toBe(true);
    expect(pool.openConnections()).toBe(1);
  });

  it('passes a per-operation token refusal on as the token’s end (4403), other rejections as they are', async () => {
    const pool = poolWith();
    const expired = subscribeThrough(pool, subgraph.url, await tokens.sign('gone', { expiresInSeconds: -10 }));
    const forged = subscribeThrough(pool, subgraph.url, 'not.a.token');
    const invalid = subscribeThrough(pool, subgraph.url, await tokens.sign('typo'), 'subscription { nope }');
    const fine = subscribeThrough(pool, subgraph.url, await tokens.sign('fine'));
    await waitFor(() => [expired, forged, invalid].every((received) => received.failure !== undefined), (ok) => ok, 'three refusals');
    expect(expired.failure).toMatchObject({ kind: 'closed', code: 4403, reason: expect.stringContaining('expired') });
    expect(forged.failure).toMatchObject({ kind: 'closed', code: 4403 });
    expect(invalid.failure).toMatchObject({ kind: 'rejected', errors: [expect.objectContaining({ extensions: expect.objectContaining({ code: 'GRAPHQL_VALIDATION_FAILED' }) })] });
    // None of that touched the shared socket.
    await waitFor(() => listening('fine'), (count) => count === 1, 'the valid subscription');
    publish('fine', 'ok');
    await waitFor(() => fine.events.length, (count) => count === 1, 'its event');
    expect(fine.failure).toBeUndefined();
    expect(pool.openConnections()).toBe(1);
  });

  it('ends an operation, not the socket, when its token expires', async () => {
    const pool = poolWith();
    const shortLived = subscribeThrough(pool, subgraph.url, await tokens.sign('brief', { expiresInSeconds: 2 }));
    const longLived = subscribeThrough(pool, subgraph.url, await tokens.sign('lasting'));
    await waitFor(() => listening('brief') + listening('lasting'), (count) => count === 2, 'both subscriptions');
    await waitFor(() => shortLived.failure, (failure) => failure !== undefined, 'the expiry', 5_000);
    expect(shortLived.failure).toEqual({ kind: 'closed', code: 4403, reason: 'Access token expired; subscribe again with a fresh token' });
    expect(listening('brief')).toBe(0);
    publish('lasting', 'still here');
    await waitFor(() => longLived.events.length, (count) => count === 1, 'the other user’s event');
    expect(pool.openConnections()).toBe(1);
    expect(subgraph.server.connectionCount()).toBe(1);
  });

  it('does not mistake a refused shared socket for a refused token', async () => {
    const clientFacing = await startEndpoint(tokens, { allowMultiplexedConnections: false });
    try {
      const pool = poolWith();
      const received = subscribeThrough(pool, clientFacing.url, await tokens.sign('erin'));
      await waitFor(() => received.failure, (failure) => failure !== undefined, 'the failure');
      // Not { kind: 'closed', code: 4403 }, which would close the client's connection as if its token were bad.
      expect(received.failure?.kind).toBe('unreachable');
      expect(pool.openConnections()).toBe(0);
    } finally {
      await stopEndpoint(clientFacing);
    }
  });

  describe('the server side', () => {
    const subscribeMessage = (id: string, extensions?: Record<string, unknown>) => ({
      type: 'subscribe',
      id,
      payload: { query: 'subscription { events { userId text } }', ...(extensions ? { extensions } : {}) },
    });

    it('refuses a subscribe without a valid token with UNAUTHENTICATED, keeping the socket', async () => {
      const client = rawClient();
      await client.open({ multiplexed: true });
      await client.next((message) => message.type === 'connection_ack', 'connection_ack');
      client.send(subscribeMessage('none'));
      client.send(subscribeMessage('forged', { authorization: 'Bearer forged.token.here' }));
      client.send(subscribeMessage('not-a-string', { authorization: 42 }));
      client.send(subscribeMessage('no-bearer', { authorization: await tokens.sign('mallory') }));
      for (const id of ['none', 'forged', 'not-a-string', 'no-bearer']) {
        const answer = (await client.next((message) => message.id === id, `the answer to ${id}`)) as { type: string; payload: GraphQLFormattedError[] };
        expect(answer.type).toBe('error');
        expect(answer.payload.map((error) => error.extensions?.code)).toEqual(['UNAUTHENTICATED']);
      }
      expect(listening('mallory')).toBe(0);

      client.send(subscribeMessage('valid', { authorization: `Bearer ${await tokens.sign('frank')}` }));
      await waitFor(() => listening('frank'), (count) => count === 1, 'the valid subscription');
      publish('frank', 'hello');
      const next = await client.next((message) => message.id === 'valid' && message.type === 'next', 'the event');
      expect(next.payload).toEqual({ data: { events: { userId: 'frank', text: 'hello' } } });
      expect(client.socket.readyState).toBe(WebSocket.OPEN);
    });

    it('refuses a connection_init that is both multiplexed and authorized (4400)', async () => {
      const client = rawClient();
      await client.open({ multiplexed: true, authorization: `Bearer ${await tokens.sign('grace')}` });
      expect((await client.closed).code).toBe(4400);
    });

    it('refuses multiplexed connections where they are not allowed (4403)', async () => {
      const clientFacing = await startEndpoint(tokens, { allowMultiplexedConnections: false });
      try {
        const client = rawClient(clientFacing.url);
        await client.open({ multiplexed: true });
        const closed = await client.closed;
        expect(closed.code).toBe(4403);
        expect(closed.reason).toContain('multiplexed');
      } finally {
        await stopEndpoint(clientFacing);
      }
    });

    it('never lets extensions.authorization switch the user of a normal connection', async () => {
      const client = rawClient();
      await client.open({ authorization: `Bearer ${await tokens.sign('heidi')}` });
      await client.next((message) => message.type === 'connection_ack', 'connection_ack');
      client.send(subscribeMessage('switch', { authorization: `Bearer ${await tokens.sign('ivan')}` }));
      await waitFor(() => listening('heidi'), (count) => count === 1, 'the subscription, as heidi');
      expect(listening('ivan')).toBe(0);
      publish('ivan', 'for ivan');
      publish('heidi', 'for heidi');
      const next = await client.next((message) => message.id === 'switch' && message.type === 'next', 'the event');
      expect(next.payload).toEqual({ data: { events: { userId: 'heidi', text: 'for heidi' } } });
      await new Promise((resolve) => setTimeout(resolve, 50));
      expect(client.messages.filter((message) => message.id === 'switch')).toHaveLength(1);
    });
  });
});

describe('failure classification of shared sockets', () => {
  it('reads an all-UNAUTHENTICATED operation error as the token’s end, anything else as a rejection', () => {
    expect(operationFailureOf([{ message: 'Access token expired', extensions: { code: 'UNAUTHENTICATED' } }])).toEqual({ kind: 'closed', code: 4403, reason: 'Access token expired' });
    const mixed = [{ message: 'a', extensions: { code: 'UNAUTHENTICATED' } }, { message: 'b', extensions: { code: 'BAD_USER_INPUT' } }];
    expect(operationFailureOf(mixed)).toEqual({ kind: 'rejected', errors: mixed });
    expect(operationFailureOf([])).toEqual({ kind: 'rejected', errors: [] });
  });

  it('never reports a shared socket’s close as a token refusal', () => {
    expect(socketFailureOf(4403, 'Forbidden', true, undefined).kind).toBe('unreachable');
    expect(socketFailureOf(4403, 'Forbidden', false, undefined).kind).toBe('unreachable');
    expect(socketFailureOf(1006, '', false, 'connect ECONNREFUSED 10.0.0.7:4004')).toEqual({ kind: 'unreachable', message: 'connect ECONNREFUSED 10.0.0.7:4004' });
    expect(socketFailureOf(1001, 'Server shutting down', true, undefined)).toEqual({ kind: 'closed', code: 1001, reason: 'Server shutting down' });
  });
});

describe('OperationGuard', () => {
  const source = () => {
    const queue = new EventQueue<FormattedExecutionResult>({ capacity: 10 });
    return { queue, stream: queue as unknown as ResultStream };
  };

  it('fails a waiting next() once, releases the source, then ends', async () => {
    const { queue, stream } = source();
    const guard = new OperationGuard();
    const wrapped = guard.wrap(stream);
    queue.push({ data: { n: 1 } });
    expect(await wrapped.next()).toEqual({ done: false, value: { data: { n: 1 } } });
    const waiting = wrapped.next();
    expect(guard.fail(unauthenticated('Access token expired'))).toBe(true);
    await expect(waiting).rejects.toMatchObject({ errors: [expect.objectContaining({ message: 'Access token expired' })] });
    expect(queue.open).toBe(false);
    expect(await wrapped.next()).toEqual({ done: true, value: undefined });
    expect(guard.fail(unauthenticated())).toBe(false);
  });

  it('fails at the given time, and not after the operation ended by itself', async () => {
    const { stream } = source();
    const guard = new OperationGuard();
    const wrapped = guard.wrap(stream);
    let fired = 0;
    guard.failAt(Date.now() + 30, () => unauthenticated('expired'), () => (fired += 1));
    await expect(wrapped.next()).rejects.toMatchObject({ errors: [expect.objectContaining({ message: 'expired' })] });
    expect(fired).toBe(1);

    const other = source();
    const ended = new OperationGuard();
    const endedStream = ended.wrap(other.stream);
    ended.failAt(Date.now() + 30, () => unauthenticated('expired'), () => (fired += 1));
    await endedStream.return();
    await new Promise((resolve) => setTimeout(resolve, 60));
    expect(fired).toBe(1);
    expect(ended.failure).toBeNull();
  });
});
