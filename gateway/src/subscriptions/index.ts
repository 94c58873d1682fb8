import type { Server } from 'node:http';
import type { ApolloServerPlugin } from '@apollo/server';
import type { GraphQLDataSource } from '@apollo/gateway';
import { GraphQLError, type FormattedExecutionResult } from 'graphql';
import {
  operationLimitsRule,
  serviceUnavailable,
  startSubscriptionServer,
  type Logger,
  type SubscriptionLimits,
  type SubscriptionServer,
  type TokenVerifier,
} from '@platform/shared';
import type { GatewayContext } from '../context.ts';
import { startFederatedSubscription } from './federated-subscription.ts';
import { createSubscriptionPlanner, type SubscriptionPlanner } from './planner.ts';
import { createUpstreamPool, type UpstreamPool, type UpstreamSettings } from './upstream.ts';

// The gateway's WebSocket endpoint: ws://<gateway>/graphql, protocol graphql-transport-ws
// (graphql-ws), beside HTTP on the same server and path. Connection rules, limits and close
// codes are those of @platform/shared's subscription server; what runs is decided here:
//
// - subscription: validated against the API schema with the same rules as HTTP, planned over the
//   supergraph (plans cached by text + operation name), proxied to the owning subgraph and
//   completed per event across the others (federated-subscription.ts);
// - query / mutation: executed by Apollo Server exactly as if POSTed (same validation, same
//   error masking, same subgraph calls), answered with one `next` and `complete`.

export interface GatewayOperationRequest {
  query: string;
  operationName: string | undefined;
  variables: Record<string, unknown>;
}

export interface GatewaySubscriptionsOptions {
  httpServer: Server;
  supergraphSdl: string;
  /** The gateway's data sources by subgraph name (filled when Apollo Server has started). */
  dataSources: ReadonlyMap<string, GraphQLDataSource<GatewayContext> & { url?: string }>;
  verifier: TokenVerifier;
  logger: Logger;
  limits: SubscriptionLimits;
  /** The shared upstream sockets per subgraph (WS_UPSTREAM_* variables, upstream.ts); defaults when absent. */
  upstream?: Partial<UpstreamSettings>;
  /** Runs a query or mutation through Apollo Server (the gateway's HTTP pipeline). */
  executeOperation(request: GatewayOperationRequest, context: GatewayContext): Promise<FormattedExecutionResult>;
}

export interface GatewaySubscriptions extends SubscriptionServer {
  planner: SubscriptionPlanner;
  upstreams: UpstreamPool;
}

export function startGatewaySubscriptions(options: GatewaySubscriptionsOptions): GatewaySubscriptions {
  const planner = createSubscriptionPlanner(options.supergraphSdl);
  const upstreams = createUpstreamPool({ ...options.upstream, logger: options.logger, keepAliveMs: options.limits.keepAliveMs || 12_000 });
  const server = startSubscriptionServer({
    httpServer: options.httpServer,
    schema: planner.apiSchema,
    // The same rules as HTTP (Apollo Server applies graphql-js's plus these).
    validationRules: [operationLimitsRule()],
    verifier: options.verifier,
    logger: options.logger,
    limits: options.limits,
    trustForwardedFor: false,
    // Client-facing: a connection is always one user's, whatever its connection_init asks for.
    allowMultiplexedConnections: false,
    async run(operation, connection) {
      if (operation.operation.operation !== 'subscription') {
        const context: GatewayContext = {
          requestId: operation.requestId,
          viewer: connection.viewer,
          authorization: connection.authorization,
          clientAddress: connection.clientAddress,
        };
        const result = await options.executeOperation({ query: operation.query, operationName: operation.operationName, variables: operation.variables }, context);
        return { result };
      }
      let plan;
      try {
        plan = planner.plan(operation.document, operation.query, operation.operationName);
      } catch (error) {
        // Masked and logged by the error formatter: a planner failure is ours, not the client's.
        return { errors: [new GraphQLError('planning failed', { originalError: error instanceof Error ? error : new Error(String(error)) })] };
      }
      if (!options.dataSources.get(plan.primary.serviceName)?.url) {
        return { errors: [serviceUnavailable(`The ${plan.primary.serviceName} service`)] };
      }
      return { stream: startFederatedSubscription({ planner, pool: upstreams, dataSources: options.dataSources, bufferSize: options.limits.eventBufferSize }, plan, operation, connection) };
    },
  });
  return {
    planner,
    upstreams,
    connectionCount: () => server.connectionCount(),
    async close() {
      // Client sockets first (their subscriptions release the upstreams), then what is left upstream.
      await server.close();
      await upstreams.close();
    },
  };
}

/**
 * Apollo Server plugin: a subscription POSTed over HTTP gets a clear 400 instead of
 * @apollo/gateway's "Execution of subscriptions not supported by gateway" (an internal error).
 */
export const refuseSubscriptionsOverHttp: ApolloServerPlugin<GatewayContext> = {
  async requestDidStart() {
    return {
      async didResolveOperation({ operation }) {
        if (operation?.operation !== 'subscription') return;
        throw new GraphQLError('Subscriptions are served over WebSocket: connect to this URL with the graphql-transport-ws protocol (graphql-ws)', {
          extensions: { code: 'BAD_REQUEST', http: { status: 400 } },
        });
      },
    };
  },
};
