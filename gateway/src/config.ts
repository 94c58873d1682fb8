import { join } from 'node:path';
import { envReader, readCommonConfig, repoRoot } from '@platform/shared';

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
  };
}
