import { buildOperationContext, executeQueryPlan, type GraphQLDataSource } from '@apollo/gateway';
import { GraphQLError, type ExecutionResult, type FormattedExecutionResult, type GraphQLFormattedError } from 'graphql';
import {
  EventQueue,
  mapEventStream,
  OperationFailed,
  serviceUnavailable,
  SocketCloseCode,
  type Logger,
  type ResultStream,
  type SubscriptionConnection,
  type ValidatedOperation,
} from '@platform/shared';
import type { GatewayContext } from '../context.ts';
import { subscriptionEventService, type SubscriptionPlan, type SubscriptionPlanner } from './planner.ts';
import type { UpstreamFailure, UpstreamPool } from './upstream.ts';

// One client subscription, federated:
//
//   client ──subscribe──▶ gateway ──primary (graphql-ws)──▶ owning subgraph
//                            │  each upstream event, in order:
//                            └─ executeQueryPlan(perEvent) ── `rest` entity fetches (HTTP, through
//                               the gateway's data sources: auth, request id, timeouts as for HTTP)
//
// Upstream events wait in a bounded per-subscription queue (EventQueue) while the previous one
// is being completed or the client's socket is busy; the queue drains before `complete` is sent,
// so the last events are never lost. When it is full the oldest event is dropped, and the next
// delivered result says how many were dropped since the previous one in `extensions.droppedEvents`.

type GatewayRequestContext = Parameters<typeof executeQueryPlan>[2];

/** executeQueryPlan's logger type (Apollo's) accepts anything as a message. */
function apolloLoggerOf(logger: Logger) {
  const text = (message: unknown): string => (message instanceof Error ? message.message : String(message));
  return {
    debug: (message: unknown) => logger.debug(text(message)),
    info: (message: unknown) => logger.info(text(message)),
    warn: (message: unknown) => logger.warn(text(message)),
    error: (message: unknown) => logger.error(text(message)),
  };
}

/** The client's variables that the primary fetch uses (the planner lists them). */
export function variablesFor(usages: readonly string[] | undefined, variables: Record<string, unknown>): Record<string, unknown> {
  const picked: Record<string, unknown> = {};
  for (const name of usages ?? []) {
    if (Object.hasOwn(variables, name) && variables[name] !== undefined) picked[name] = variables[name];
  }
  return picked;
}

/** A subgraph's errors as the client sees them: its message, code and path, plus `serviceName`. */
export function errorsFromSubgraph(errors: readonly GraphQLFormattedError[] | undefined, serviceName: string): GraphQLError[] {
  return (errors ?? []).map(
    (error) =>
      // No `locations`: they point into the planner's operation text, not the client's document.
      new GraphQLError(typeof error.message === 'string' && error.message !== '' ? error.message : `Error from the ${serviceName} service`, {
        path: error.path,
        extensions: { ...error.extensions, serviceName },
      }),
  );
}

/** How an upstream failure ends the client's subscription. */
export function errorsForFailure(failure: UpstreamFailure, serviceName: string): GraphQLError[] {
  if (failure.kind === 'rejected') return errorsFromSubgraph(failure.errors, serviceName);
  // Never the URL or the socket's error text: they name internal hosts.
  return [serviceUnavailable(`The ${serviceName} service`)];
}

export interface FederatedSubscriptionDeps {
  planner: SubscriptionPlanner;
  pool: UpstreamPool;
  /** The gateway's data sources (SubgraphDataSource), by subgraph name. */
  dataSources: ReadonlyMap<string, GraphQLDataSource<GatewayContext> & { url?: string }>;
  bufferSize: number;
}

export function startFederatedSubscription(
  deps: FederatedSubscriptionDeps,
  plan: SubscriptionPlan,
  operation: ValidatedOperation,
  connection: SubscriptionConnection,
): ResultStream {
  const serviceName = plan.primary.serviceName;
  const url = deps.dataSources.get(serviceName)?.url;
  const log = connection.logger;
  if (!url) throw new Error(`no data source for subgraph "${serviceName}"`);

  const context: GatewayContext = {
    // One id for the whole subscription: every event's subgraph calls and log lines share it.
    requestId: operation.requestId,
    viewer: connection.viewer,
    authorization: connection.authorization,
    clientAddress: connection.clientAddress,
  };
  const operationContext = buildOperationContext({ schema: deps.planner.apiSchema, operationDocument: operation.document, operationName: operation.operationName });
  const apolloLogger = apolloLoggerOf(log);
  // executeQueryPlan reads only `request`, `context`, `logger` and `metrics` of Apollo Server's
  // request context; the rest (caching, hashing, timing) has no meaning for one event. A new one
  // per event: executeQueryPlan appends to `metrics`, which must not grow for the subscription's life.
  const requestContextFor = (): GatewayRequestContext =>
    ({
      request: { query: operation.query, operationName: operation.operationName, variables: operation.variables },
      context,
      logger: apolloLogger,
      metrics: {},
    }) as unknown as GatewayRequestContext;

  const executeEvent = async (event: FormattedExecutionResult): Promise<ExecutionResult> => {
    const upstreamErrors = errorsFromSubgraph(event.errors, serviceName);
    if (event.data === null || event.data === undefined) return { data: null, errors: upstreamErrors };
    const eventData = event.data;
    // The stand-in for the primary fetch: answers with this event's data (see planner.ts).
    const eventSource: GraphQLDataSource = { process: async () => ({ data: eventData }) };
    const serviceMap = { ...Object.fromEntries(deps.dataSources), [subscriptionEventService]: eventSource };
    try {
      const result = await executeQueryPlan(plan.perEvent, serviceMap, requestContextFor(), operationContext, deps.planner.supergraphSchema, deps.planner.apiSchemaInternal);
      const errors = [...upstreamErrors, ...(result.errors ?? [])];
      return errors.length > 0 ? { data: result.data ?? null, errors } : { data: result.data ?? null };
    } catch (error) {
      // Masked (and logged) by the error formatter: an executor failure is ours, not the client's.
      return { data: null, errors: [new GraphQLError('event execution failed', { originalError: error instanceof Error ? error : new Error(String(error)) })] };
    }
  };

  let stopUpstream: (() => void) | undefined;
  const queue = new EventQueue<FormattedExecutionResult>({
    capacity: deps.bufferSize,
    onClose: () => stopUpstream?.(),
    onDrop: (dropped) => {
      if (dropped === 1 || dropped % 100 === 0) log.warn('slow subscriber: dropped the oldest events', { subgraph: serviceName, dropped });
    },
  });
  stopUpstream = deps.pool.subscribe(
    { serviceName, url },
    connection.authorization,
    {
      query: plan.primary.operation,
      operationName: plan.primary.operationName ?? null,
      variables: variablesFor(plan.primary.variableUsages, operation.variables),
      extensions: { requestId: operation.requestId },
    },
    {
      next: (event) => queue.push(event),
      error: (failure) => {
        if (failure.kind === 'closed' && failure.code === SocketCloseCode.Forbidden) {
          // The subgraph refused the token (expired or revoked): it is the client's token, so the
          // client's connection ends the same way and the client reconnects with a fresh one.
          connection.close(SocketCloseCode.Forbidden, 'Access token expired or refused; reconnect with a fresh token');
        } else if (failure.kind !== 'rejected') {
          log.warn('upstream subscription ended abnormally', { subgraph: serviceName, failure });
        }
        queue.fail(new OperationFailed(errorsForFailure(failure, serviceName)));
      },
      complete: () => queue.end(),
    },
  );

  return mapEventStream(queue, async (event) => {
    const result = await executeEvent(event);
    const dropped = queue.takeDropped();
    return dropped > 0 ? { ...result, extensions: { ...result.extensions, droppedEvents: dropped } } : result;
  });
}
