import { readFileSync } from 'node:fs';
import { ApolloGateway } from '@apollo/gateway';
import { ApolloServer } from '@apollo/server';
import { ApolloServerPluginDrainHttpServer } from '@apollo/server/plugin/drainHttpServer';
import { ApolloServerPluginLandingPageDisabled } from '@apollo/server/plugin/disabled';
import { expressMiddleware } from '@as-integrations/express5';
import express from 'express';
import { GraphQLError } from 'graphql';
import {
  createApp,
  createErrorFormatter,
  createLogger,
  createTokenVerifier,
  httpServerFor,
  listen,
  operationLimitsRule,
  requestIdFor,
  viewerFromAuthorization,
  type RunningServer,
  type TokenVerifier,
} from '@platform/shared';
import { readGatewayConfig } from './config.ts';
import { mountExplorer } from './explorer.ts';
import type { GatewayContext } from './context.ts';
import { SubgraphDataSource } from './subgraph-data-source.ts';
import { refuseSubscriptionsOverHttp, startGatewaySubscriptions } from './subscriptions/index.ts';

export interface GatewayOptions {
  verifier?: TokenVerifier;
}

export async function startGateway(env: Record<string, string | undefined> = process.env, options: GatewayOptions = {}): Promise<RunningServer> {
  // @apollo/gateway reports anonymous usage unless told not to; this platform sends nothing out.
  process.env.APOLLO_TELEMETRY_DISABLED ??= '1';
  const config = readGatewayConfig(env);
  const logger = createLogger('gateway', { level: config.logLevel });
  const verifier =
    options.verifier ?? createTokenVerifier({ issuer: config.jwtIssuer, audience: config.jwtAudience, keys: config.jwksUrl, logger });
  const dataSources = new Map<string, SubgraphDataSource>();
  const supergraphSdl = readFileSync(config.supergraphFile, 'utf8');

  const gateway = new ApolloGateway({
    // A static, committed supergraph: the gateway never composes or polls at runtime.
    supergraphSdl,
    buildService: ({ name, url }) => {
      const source = new SubgraphDataSource({ name, url: config.subgraphUrls[name] ?? url ?? '', timeoutMs: config.subgraphTimeoutMs });
      dataSources.set(name, source);
      return source;
    },
    logger: {
      debug: (message) => logger.debug(String(message)),
      info: (message) => logger.info(String(message)),
      warn: (message) => logger.warn(String(message)),
      error: (message) => logger.error(String(message)),
    },
  });

  const app = createApp();
  const httpServer = httpServerFor(app);
  const apollo = new ApolloServer<GatewayContext>({
    gateway,
    formatError: createErrorFormatter(logger),
    includeStacktraceInErrorResponses: false,
    // runService owns SIGINT/SIGTERM (drain, close pools, exit); Apollo's own handlers would race it.
    stopOnTerminationSignals: false,
    validationRules: [operationLimitsRule()],
    plugins: [ApolloServerPluginDrainHttpServer({ httpServer }), ApolloServerPluginLandingPageDisabled(), refuseSubscriptionsOverHttp],
  });
  await apollo.start();

  app.get('/health', (_request, response) => {
    response.json({ status: 'ok', service: 'gateway' });
  });
  app.get('/ready', async (_request, response) => {
    const checks = await Promise.all(
      [...dataSources.values()].map(async (source) => {
        const healthUrl = new URL('/health', source.url).toString();
        const ok = await fetch(healthUrl, { signal: AbortSignal.timeout(2_000) }).then(
          (answer) => answer.ok,
          () => false,
        );
        return [source.serviceName, ok] as const;
      }),
    );
    const subgraphs = Object.fromEntries(checks);
    const ready = checks.every(([, ok]) => ok);
    response.status(ready ? 200 : 503).json({ status: ready ? 'ready' : 'unavailable', subgraphs });
  });
  // Before Apollo's route: a browser's GET /graphql gets the explorer page, everything else passes on.
  mountExplorer(app);
  app.use(
    '/graphql',
    express.json({ limit: '1mb' }),
    expressMiddleware(apollo, {
      context: async ({ req, res }) => {
        const authorization = req.headers.authorization;
        try {
          const viewer = await viewerFromAuthorization(authorization, verifier);
          return { requestId: requestIdFor(res), viewer, authorization, clientAddress: req.socket.remoteAddress };
        } catch (error) {
          // A bad token rejects the whole request (401) instead of silently running it as anonymous.
          if (error instanceof GraphQLError) {
            throw new GraphQLError(error.message, { extensions: { ...error.extensions, http: { status: 401 } } });
          }
          throw error;
        }
      },
    }),
  );

  // WebSocket on the same server and path (subscriptions/index.ts); data sources exist once Apollo started.
  const subscriptions = startGatewaySubscriptions({
    httpServer,
    supergraphSdl,
    dataSources,
    verifier,
    logger,
    limits: config.subscriptions,
    upstream: config.upstreamSubscriptions,
    executeOperation: async (request, contextValue) => {
      const response = await apollo.executeOperation(request, { contextValue });
      if (response.body.kind === 'single') return response.body.singleResult;
      return { errors: [{ message: 'Incremental delivery (@defer) is not available over WebSocket', extensions: { code: 'BAD_REQUEST' } }] };
    },
  });

  const { url, port } = await listen(httpServer, config.port, config.host);
  logger.info('listening', { url: `${url}/graphql`, port, subgraphs: Object.fromEntries([...dataSources].map(([name, s]) => [name, s.url])) });
  return {
    name: 'gateway',
    url: `${url}/graphql`,
    port,
    httpServer,
    stop: async () => {
      // Sockets first: the HTTP drain would otherwise wait for them until its grace period ends.
      await subscriptions.close();
      await apollo.stop();
    },
  };
}
