import type { Server } from 'node:http';
import type { DocumentNode } from 'graphql';
import { ApolloServer, type ApolloServerPlugin, type BaseContext } from '@apollo/server';
import { ApolloServerPluginDrainHttpServer } from '@apollo/server/plugin/drainHttpServer';
import { ApolloServerPluginCacheControlDisabled, ApolloServerPluginInlineTraceDisabled, ApolloServerPluginLandingPageDisabled } from '@apollo/server/plugin/disabled';
import { expressMiddleware } from '@as-integrations/express5';
import { buildSubgraphSchema } from '@apollo/subgraph';
import type { GraphQLResolverMap } from '@apollo/subgraph/dist/schema-helper/resolverMap.js';
import express, { type Express } from 'express';
import { viewerFromAuthorization, type TokenVerifier, type Viewer } from './auth.ts';
import { applyAuthDirectives } from './auth-directives.ts';
import { createErrorFormatter } from './errors.ts';
import { createApp, httpServerFor, listen, requestIdFor } from './http-server.ts';
import type { Logger } from './logger.ts';
import { graphqlSubscriptionRunner, startSubscriptionServer, type SubscriptionLimits, type SubscriptionServer } from './subscription-server.ts';

/** What every subgraph's per-request context starts from. */
export interface RequestContext extends BaseContext {
  viewer: Viewer | null;
  requestId: string;
  logger: Logger;
  /**
   * The caller's address for per-client limits: the gateway's x-forwarded-for when present, else
   * the socket peer. Trustworthy only while subgraphs are reachable from the gateway alone.
   */
  clientAddress: string;
}

export interface SubgraphServerOptions<TContext extends RequestContext> {
  name: string;
  typeDefs: DocumentNode;
  resolvers: GraphQLResolverMap<TContext>;
  host: string;
  port: number;
  logger: Logger;
  verifier: TokenVerifier;
  /** Adds per-request state (DataLoaders, data access) to the base context. */
  createContext(base: RequestContext): TContext | Promise<TContext>;
  /** Throws when a dependency is down; backs GET /ready. */
  checkReady?(): Promise<void>;
  /** Extra HTTP routes (e.g. the users subgraph's JWKS). */
  routes?(app: Express): void;
  plugins?: ApolloServerPlugin<TContext>[];
  /**
   * Serve the schema's Subscription fields over graphql-ws at /graphql (same URL as HTTP; see
   * subscription-server.ts). Each event runs with a fresh createContext() for the operation's
   * viewer. `allowMultiplexedConnections`: let the gateway carry many users' subscriptions on a
   * few sockets, each operation with its own token (verified here per operation).
   */
  subscriptions?: { limits?: Partial<SubscriptionLimits>; allowMultiplexedConnections?: boolean };
}

export interface RunningServer {
  name: string;
  url: string;
  port: number;
  httpServer: Server;
  stop(): Promise<void>;
}

export async function startSubgraphServer<TContext extends RequestContext>(
  options: SubgraphServerOptions<TContext>,
): Promise<RunningServer> {
  const { logger } = options;
  const app = createApp();
  const httpServer = httpServerFor(app);
  const schema = applyAuthDirectives(buildSubgraphSchema([{ typeDefs: options.typeDefs, resolvers: options.resolvers }]));
  const apollo = new ApolloServer<TContext>({
    schema,
    formatError: createErrorFormatter(logger),
    includeStacktraceInErrorResponses: false,
    // runService owns SIGINT/SIGTERM (drain, close pools, exit); Apollo's own handlers would race it.
    stopOnTerminationSignals: false,
    plugins: [
      ApolloServerPluginDrainHttpServer({ httpServer }),
      ApolloServerPluginLandingPageDisabled(),
      // Traces are for Apollo's hosted studio, which this platform does not use.
      ApolloServerPluginInlineTraceDisabled(),
      // No field declares a cache hint (@cacheControl), yet the default cache-control plugin would
      // wrap every field's resolver to compute one: ~2.5 % of a recommendations request's CPU.
      ApolloServerPluginCacheControlDisabled(),
      ...(options.plugins ?? []),
    ],
  });
  await apollo.start();

  app.get('/health', (_request, response) => {
    response.json({ status: 'ok', service: options.name });
  });
  app.get('/ready', async (_request, response) => {
    try {
      await options.checkReady?.();
      response.json({ status: 'ready', service: options.name });
    } catch (error) {
      logger.warn('not ready', { error: error instanceof Error ? error.message : String(error) });
      response.status(503).json({ status: 'unavailable', service: options.name });
    }
  });
  options.routes?.(app);
  app.use(
    '/graphql',
    express.json({ limit: '1mb' }),
    expressMiddleware(apollo, {
      context: async ({ req, res }) => {
        const requestId = requestIdFor(res);
        const viewer = await viewerFromAuthorization(req.headers.authorization, options.verifier);
        const forwarded = req.headers['x-forwarded-for'];
        const clientAddress = (Array.isArray(forwarded) ? forwarded[0] : forwarded)?.split(',')[0]?.trim() || req.socket.remoteAddress || 'unknown';
        return options.createContext({ viewer, requestId, logger: logger.child({ requestId }), clientAddress });
      },
    }),
  );

  let subscriptionServer: SubscriptionServer | undefined;
  if (options.subscriptions) {
    subscriptionServer = startSubscriptionServer({
      httpServer,
      schema,
      verifier: options.verifier,
      logger,
      limits: options.subscriptions.limits ?? {},
      allowMultiplexedConnections: options.subscriptions.allowMultiplexedConnections ?? false,
      // Subgraphs sit behind the gateway, which sets x-forwarded-for (as for HTTP above).
      trustForwardedFor: true,
      run: graphqlSubscriptionRunner({
        schema,
        createContext: (connection, requestId) =>
          options.createContext({ viewer: connection.viewer, requestId, logger: logger.child({ requestId }), clientAddress: connection.clientAddress }),
      }),
    });
  }

  const { port, url } = await listen(httpServer, options.port, options.host);
  logger.info('listening', { url: `${url}/graphql`, port });
  return {
    name: options.name,
    url: `${url}/graphql`,
    port,
    httpServer,
    stop: async () => {
      // Sockets first: the HTTP drain below would otherwise wait for them until its grace period ends.
      await subscriptionServer?.close();
      await apollo.stop();
    },
  };
}
