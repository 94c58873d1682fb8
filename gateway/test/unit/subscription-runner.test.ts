import { buildSchema, getOperationAST, parse, type GraphQLFieldConfig } from 'graphql';
import { describe, expect, it } from 'vitest';
import { createLogger, EventQueue, graphqlSubscriptionRunner, unauthenticated, type SubscriptionConnection, type ValidatedOperation } from '@platform/shared';

// How a subgraph runs its own Subscription fields (startSubgraphServer's `subscriptions`
// option): like graphql-js `subscribe`, but with a fresh context per event and set-up errors
// reported as errors (an `error` message) instead of a result.

interface TestContext {
  serial: number;
  allowed: boolean;
}

const schema = buildSchema('type Query { ok: Boolean } type Subscription { ticks(scale: Int = 1): Int }');
const source = new EventQueue<number>({ capacity: 10 });
const ticks = schema.getSubscriptionType()!.getFields().ticks! as unknown as GraphQLFieldConfig<number, TestContext, { scale: number }>;
ticks.subscribe = (_root, _args, context) => {
  if (!context.allowed) throw unauthenticated();
  return source;
};
// Each event reports which context it ran with.
ticks.resolve = (event, args, context) => event * args.scale * 1000 + context.serial;

const connection: SubscriptionConnection = {
  id: 'c1',
  viewer: { id: 'user-1', role: 'USER', expiresAt: Math.floor(Date.now() / 1000) + 600 },
  authorization: 'Bearer t',
  clientAddress: '127.0.0.1',
  logger: createLogger('test', { level: 'error', sink: () => undefined }),
  close: () => undefined,
};

function operationOf(query: string, variables: Record<string, unknown> = {}): ValidatedOperation {
  const document = parse(query);
  return { id: '1', requestId: 'request-0001', query, document, operation: getOperationAST(document)!, operationName: undefined, variables };
}

describe('graphqlSubscriptionRunner', () => {
  it('executes every event with a context of its own', async () => {
    let serial = 0;
    const run = graphqlSubscriptionRunner<TestContext>({ schema, createContext: () => ({ serial: (serial += 1), allowed: true }) });
    const outcome = await run(operationOf('subscription($s: Int) { ticks(scale: $s) }', { s: 2 }), connection);
    if (!('stream' in outcome)) throw new Error(`expected a stream, got ${JSON.stringify(outcome)}`);
    source.push(1);
    source.push(2);
    // Context 1 set the subscription up; events got 2 and 3.
    expect((await outcome.stream.next()).value).toEqual({ data: { ticks: 2002 } });
    expect((await outcome.stream.next()).value).toEqual({ data: { ticks: 4003 } });
    await outcome.stream.return();
    expect(source.open).toBe(false);
  });

  it('reports an error of the subscribe resolver as errors, not as a result', async () => {
    const run = graphqlSubscriptionRunner<TestContext>({ schema, createContext: () => ({ serial: 0, allowed: false }) });
    const outcome = await run(operationOf('subscription { ticks }'), connection);
    expect('errors' in outcome && outcome.errors.map((error) => error.extensions.code)).toEqual(['UNAUTHENTICATED']);
  });

  it('leaves queries and mutations to HTTP', async () => {
    const run = graphqlSubscriptionRunner<TestContext>({ schema, createContext: () => ({ serial: 0, allowed: true }) });
    const outcome = await run(operationOf('{ ok }'), connection);
    expect('errors' in outcome && outcome.errors.map((error) => error.extensions.code)).toEqual(['BAD_REQUEST']);
  });
});
