import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { repoRoot } from '@platform/shared';

// Everything the tooling knows about the subgraphs is derived from supergraph.yaml, so adding a
// subgraph means adding it there (and its folder), nowhere else.

export interface SubgraphInfo {
  name: string;
  routingUrl: string;
  port: number;
  schemaFile: string;
  /** process entry point */
  entry: string;
  /** drizzle-kit migrations folder, when the subgraph owns a PostgreSQL schema */
  migrationsFolder: string | null;
}

interface SupergraphConfigFile {
  federation_version?: string;
  subgraphs?: Record<string, { routing_url?: string; schema?: { file?: string } }>;
}

export function readSupergraphConfig(path = join(repoRoot, 'supergraph.yaml')): { federationVersion: string; subgraphs: SubgraphInfo[] } {
  const config = parseYaml(readFileSync(path, 'utf8')) as SupergraphConfigFile;
  const subgraphs = Object.entries(config.subgraphs ?? {}).map(([name, entry]): SubgraphInfo => {
    if (!entry.routing_url || !entry.schema?.file) {
      throw new Error(`supergraph.yaml: subgraph "${name}" needs routing_url and schema.file`);
    }
    const migrationsFolder = join(repoRoot, 'subgraphs', name, 'drizzle');
    return {
      name,
      routingUrl: entry.routing_url,
      port: Number(new URL(entry.routing_url).port),
      schemaFile: join(repoRoot, entry.schema.file),
      entry: join(repoRoot, 'subgraphs', name, 'src', 'main.ts'),
      migrationsFolder: existsSync(migrationsFolder) ? migrationsFolder : null,
    };
  });
  return { federationVersion: config.federation_version ?? '', subgraphs };
}
