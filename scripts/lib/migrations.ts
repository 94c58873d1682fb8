import { migrateSchema } from '@platform/shared';
import { readSupergraphConfig } from './platform.ts';

/** Applies every subgraph's migrations, each into its own PostgreSQL schema (named after it). */
export async function migrateAll(databaseUrl: string, log: (message: string) => void = () => {}): Promise<void> {
  for (const subgraph of readSupergraphConfig().subgraphs) {
    if (!subgraph.migrationsFolder) continue;
    const started = performance.now();
    await migrateSchema(databaseUrl, subgraph.name, subgraph.migrationsFolder);
    log(`migrated ${subgraph.name} in ${Math.round(performance.now() - started)} ms`);
  }
}
