import { join } from 'node:path';
import { defaultSubscriptionLimits, envReader, readCommonConfig, repoRoot, type SubscriptionLimits } from '@platform/shared';
import { defaultUpstreamSettings, type UpstreamSettings } from './subscriptions/upstream.ts';

export interface GatewayConfig {
  host: string;
  port: number;
  supergraphFile: string;
  /** per-subgraph URL overrides (SUBGRAPH_URL_USERS=...), else the supergraph's routing URLs */
  subgraphUrls: Record<string, string>;
  subgraphTimeoutMs: number;
  jwtIssuer: string;
  jwtAudience: string;
  jwksUrl: string;
  logLevel: 'debug' | 'info' | 'warn' | 'error';
  /** WebSocket (graphql-ws) limits: WS_* variables, see gateway/src/subscriptions. */
  subscriptions: SubscriptionLimits;
  /** The shared sockets to subgraphs that carry subscriptions: WS_UPSTREAM_* variables, see subscriptions/upstream.ts. */
  upstreamSubscriptions: UpstreamSettings;
}

export function readGatewayConfig(env: Record<string, string | undefined> = process.env): GatewayConfig {
  const read = envReader(env);
  const subgraphUrls: Record<string, string> = {};
  for (const name of Object.keys(env)) {
    const match = /^SUBGRAPH_URL_([A-Z0-9_]+)$/.exec(name);
    if (match?.[1]) subgraphUrls[match[1].toLowerCase()] = read.url(name, ['http:', 'https:']);
  }
  return {
    ...readCommonConfig(env),
    host: read.string('HOST', '127.0.0.1'),
    port: read.port('PORT', 4000),
    supergraphFile: read.string('SUPERGRAPH_FILE', join(repoRoot, 'schema', 'supergraph.graphql')),
    subgraphUrls,
    subgraphTimeoutMs: read.int('SUBGRAPH_TIMEOUT_MS', 10_000, { min: 100, max: 300_000 }),
    subscriptions: {
      maxOperationsPerConnection: read.int('WS_MAX_OPERATIONS_PER_CONNECTION', defaultSubscriptionLimits.maxOperationsPerConnection, { min: 1, max: 10_000 }),
      maxConnectionsPerUser: read.int('WS_MAX_CONNECTIONS_PER_USER', defaultSubscriptionLimits.maxConnectionsPerUser, { min: 1, max: 10_000 }),
      maxMessageBytes: read.int('WS_MAX_MESSAGE_BYTES', defaultSubscriptionLimits.maxMessageBytes, { min: 1_024, max: 16 * 1024 * 1024 }),
      connectionInitTimeoutMs: read.int('WS_CONNECTION_INIT_TIMEOUT_MS', defaultSubscriptionLimits.connectionInitTimeoutMs, { min: 100, max: 60_000 }),
      keepAliveMs: read.int('WS_KEEPALIVE_MS', defaultSubscriptionLimits.keepAliveMs, { min: 1_000, max: 300_000 }),
      eventBufferSize: read.int('WS_EVENT_BUFFER_SIZE', defaultSubscriptionLimits.eventBufferSize, { min: 1, max: 100_000 }),
      maxBufferedBytes: read.int('WS_MAX_BUFFERED_BYTES', defaultSubscriptionLimits.maxBufferedBytes, { min: 64 * 1024, max: 1024 * 1024 * 1024 }),
    },
    upstreamSubscriptions: {
      socketsPerSubgraph: read.int('WS_UPSTREAM_SOCKETS_PER_SUBGRAPH', defaultUpstreamSettings.socketsPerSubgraph, { min: 1, max: 1_000 }),
      operationsPerSocket: read.int('WS_UPSTREAM_OPERATIONS_PER_SOCKET', defaultUpstreamSettings.operationsPerSocket, { min: 1, max: 100_000 }),
      idleTimeoutMs: read.int('WS_UPSTREAM_IDLE_CLOSE_MS', defaultUpstreamSettings.idleTimeoutMs, { min: 0, max: 3_600_000 }),
    },
  };
}
