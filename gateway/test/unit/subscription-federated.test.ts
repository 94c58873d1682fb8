import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { GraphQLDataSource } from '@apollo/gateway';
import { getOperationAST, parse, type FormattedExecutionResult } from 'graphql';
import { describe, expect, it, vi } from 'vitest';
import { createLogger, OperationFailed, repoRoot, type SubscriptionConnection, type ValidatedOperation } from '@platform/shared';
import { startFederatedSubscription } from '../../src/subscriptions/federated-subscription.ts';
import { createSubscriptionPlanner } from '../../src/subscriptions/planner.ts';
import type { UpstreamPool, UpstreamSink } from '../../src/subscriptions/upstream.ts';

// One federated subscription with the network replaced: a fake upstream pool (the owning
// subgraph's events) and fake data sources for movies and reviews (the `rest` of the plan).
// What is real: the planner over the committed supergraph and @apollo/gateway's executeQueryPlan.

const planner = createSubscriptionPlanner(readFileSync(join(repoRoot, 'schema', 'supergraph.graphql'), 'utf8'));
const silent = createLogger('test', { level: 'error', sink: () => undefined });

function entitySource(fields: (id: string) => Record<string, unknown>, calls: unknown[][]): GraphQLDataSource & { url: string } {
  return {
    url: 'http://subgraph.invalid/graphql',
    async process(options) {
      const representations = (options.request.variables?.representations ?? []) as { id: string }[];
      calls.push(representations.map((representation) => representation.id));
      return { data: { _entities: representations.map((representation) => ({ __typename: 'Movie', ...fields(representation.id) })) } };
    },
  };
}

function fakePool() {
  const subscriptions: { request: unknown; sink: UpstreamSink; stopped: boolean; authorization: string }[] = [];
  const pool: UpstreamPool = {
    subscribe(_target, authorization, request, sink) {
      const entry = { request, sink, stopped: false, authorization };
      subscriptions.push(entry);
      return () => {
        entry.stopped = true;
      };
    },
    openConnections: () => subscriptions.filter((entry) => !entry.stopped).length,
    close: async () => undefined,
  };
  return { pool, subscriptions };
}

function setUp(query: string, options: { bufferSize?: number; variables?: Record<string, unknown> } = {}) {
  const movieCalls: unknown[][] = [];
  const reviewCalls: unknown[][] = [];
  const dataSources = new Map<string, GraphQLDataSource & { url: string }>([
    ['movies', entitySource((id) => ({ title: `Movie ${id}` }), movieCalls)],
    ['reviews', entitySource((id) => ({ averageRating: Number(id) / 2 }), reviewCalls)],
    ['recommendations', { url: 'http://recommendations.invalid/graphql', process: async () => ({ data: {} }) }],
  ]);
  const { pool, subscriptions } = fakePool();
  const document = parse(query);
  const operation: ValidatedOperation = {
    id: '1',
    requestId: 'request-0001',
    query,
    document,
    operation: getOperationAST(document)!,
    operationName: undefined,
    variables: options.variables ?? {},
  };
  const close = vi.fn();
  const connection: SubscriptionConnection = {
    id: 'connection-1',
    viewer: { id: 'user-1', role: 'USER', expiresAt: Math.floor(Date.now() / 1000) + 600 },
    authorization: 'Bearer token-1',
    clientAddress: '127.0.0.1',
    logger: silent,
    close,
  };
  const plan = planner.plan(document, query, undefined);
  const stream = startFederatedSubscription({ planner, pool, dataSources, bufferSize: options.bufferSize ?? 10 }, plan, operation, connection);
  return { stream, upstream: subscriptions[0]!, close, movieCalls, reviewCalls };
}

const updateEvent = (reason: string, movieIds: string[]): FormattedExecutionResult => ({
  data: { recommendationsUpdated: { reason, recommendations: movieIds.map((id) => ({ score: 1, movie: { __typename: 'Movie', id } })) } },
});

const updatesQuery = 'subscription($n: Int) { recommendationsUpdated(first: $n) { reason recommendations { score movie { title averageRating } } } }';

describe('a federated subscription', () => {
  it('subscribes upstream with the primary operation, the token and the used variables', () => {
    const { upstream } = setUp(updatesQuery, { variables: { n: 3 } });
    expect(upstream.authorization).toBe('Bearer token-1');
    expect(upstream.request).toMatchObject({ variables: { n: 3 }, extensions: { requestId: 'request-0001' } });
    expect((upstream.request as { query: string }).query).toContain('recommendationsUpdated(first:$n)');
  });

  it('completes each event from the other subgraphs and shapes it to the client’s selection', async () => {
    const { stream, upstream, movieCalls, reviewCalls } = setUp(updatesQuery);
    upstream.sink.next(updateEvent('you liked Heat', ['2', '4']));
    const { value } = await stream.next();
    expect(value).toEqual({
      data: {
        recommendationsUpdated: {
          reason: 'you liked Heat',
          recommendations: [
            { score: 1, movie: { title: 'Movie 2', averageRating: 1 } },
            { score: 1, movie: { title: 'Movie 4', averageRating: 2 } },
          ],
        },
      },
    });
    expect(movieCalls).toEqual([['2', '4']]);
    expect(reviewCalls).toEqual([['2', '4']]);
  });

  it('keeps the order of events and reports the ones dropped for a slow consumer', async () => {
    const { stream, upstream } = setUp('subscription { recommendationsUpdated { reason } }', { bufferSize: 2 });
    for (const reason of ['r1', 'r2', 'r3', 'r4', 'r5']) upstream.sink.next(updateEvent(reason, []));
    const first = await stream.next();
    expect(first.value).toEqual({ data: { recommendationsUpdated: { reason: 'r4' } }, extensions: { droppedEvents: 3 } });
    const second = await stream.next();
    expect(second.value).toEqual({ data: { recommendationsUpdated: { reason: 'r5' } } });
  });

  it('delivers the events that arrived before the upstream completed, then ends', async () => {
    const { stream, upstream } = setUp('subscription { recommendationsUpdated { reason } }');
    upstream.sink.next(updateEvent('last words', []));
    upstream.sink.complete();
    expect((await stream.next()).value).toEqual({ data: { recommendationsUpdated: { reason: 'last words' } } });
    expect(await stream.next()).toEqual({ done: true, value: undefined });
  });

  it('ends the upstream subscription when the client goes away', async () => {
    const { stream, upstream } = setUp('subscription { notifications { id } }');
    const waiting = stream.next();
    await stream.return();
    expect(upstream.stopped).toBe(true);
    expect(await waiting).toEqual({ done: true, value: undefined });
  });

  it('passes an event’s subgraph errors on with the subgraph’s name', async () => {
    const { stream, upstream } = setUp('subscription { recommendationsUpdated { reason } }');
    upstream.sink.next({ data: null, errors: [{ message: 'The recommendation graph (Neo4j) is unavailable', path: ['recommendationsUpdated'], extensions: { code: 'SERVICE_UNAVAILABLE' } }] });
    const { value } = await stream.next();
    expect(value?.data).toBeNull();
    const errors = (value?.errors ?? []) as readonly { message: string; extensions?: unknown }[];
    expect(errors.map((error) => ({ message: error.message, extensions: error.extensions }))).toEqual([
      { message: 'The recommendation graph (Neo4j) is unavailable', extensions: { code: 'SERVICE_UNAVAILABLE', serviceName: 'recommendations' } },
    ]);
  });

  it('fails with SERVICE_UNAVAILABLE when the upstream socket closes', async () => {
    const { stream, upstream, close } = setUp('subscription { notifications { id } }');
    upstream.sink.error({ kind: 'closed', code: 1006, reason: '' });
    const failure = await stream.next().catch((error: unknown) => error);
    expect(failure).toBeInstanceOf(OperationFailed);
    expect((failure as OperationFailed).errors.map((error) => error.extensions.code)).toEqual(['SERVICE_UNAVAILABLE']);
    expect(close).not.toHaveBeenCalled();
  });

  it('closes the client’s connection with 4403 when the subgraph refuses the token', async () => {
    const { stream, upstream, close } = setUp('subscription { notifications { id } }');
    upstream.sink.error({ kind: 'closed', code: 4403, reason: 'Forbidden' });
    await expect(stream.next()).rejects.toBeInstanceOf(OperationFailed);
    expect(close).toHaveBeenCalledWith(4403, expect.stringContaining('fresh token'));
  });

  it('passes the subgraph’s rejection of the subscription on as the error', async () => {
    const { stream, upstream } = setUp('subscription { recommendationsUpdated(first: 0) { reason } }');
    upstream.sink.error({ kind: 'rejected', errors: [{ message: 'first: must be between 1 and 100', extensions: { code: 'BAD_USER_INPUT', field: 'first' } }] });
    const failure = (await stream.next().catch((error: unknown) => error)) as OperationFailed;
    expect(failure.errors.map((error) => error.toJSON())).toEqual([
      { message: 'first: must be between 1 and 100', extensions: { code: 'BAD_USER_INPUT', field: 'first', serviceName: 'recommendations' } },
    ]);
  });
});
