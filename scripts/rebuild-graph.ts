// npm run graph:rebuild -- [--batch-size N]
// Rebuilds the recommendation like-graph in Neo4j (NEO4J_URI, NEO4J_USER, NEO4J_PASSWORD) from
// PostgreSQL (DATABASE_URL), the source of truth: after losing Neo4j's data, or to resync a graph
// that drifted. Writes every movie, user, rating, reaction and exclusion (idempotent, latest wins)
// and removes the ratings, reactions and exclusions PostgreSQL no longer has; see
// subgraphs/recommendations/src/rebuild.ts. Safe while the services run. Progress goes to stderr,
// the summary to stdout.
import { parseArgs } from 'node:util';
import { checkPostgres, ConfigError, connectNeo4j, connectPostgres } from '@platform/shared';
import { isGraphAuthError } from '../subgraphs/recommendations/src/graph-errors.ts';
import { formatRebuildSummary, readRebuildConfig, rebuildGraph } from '../subgraphs/recommendations/src/rebuild.ts';
import { runCli } from './lib/cli.ts';
import { createProgressDisplay } from './lib/load-dataset.ts';

const usage = 'usage: npm run graph:rebuild -- [--batch-size N]';

function readBatchSize(argv: string[]): number | undefined {
  let text: string | undefined;
  try {
    text = parseArgs({ args: argv, strict: true, options: { 'batch-size': { type: 'string' } } }).values['batch-size'];
  } catch (error) {
    // parseArgs's own messages (unknown flag, missing value) already name the flag.
    const message = (error instanceof Error ? error.message : String(error)).replace(/\s*\n\s*/g, ' ');
    throw new ConfigError('arguments:', `${message}; ${usage}`);
  }
  if (text === undefined) return undefined;
  const value = Number(text);
  if (!Number.isSafeInteger(value) || value < 1) throw new ConfigError('--batch-size', `must be a whole number >= 1, got "${text}"`);
  return value;
}

await runCli(async () => {
  const batchSize = readBatchSize(process.argv.slice(2));
  const config = readRebuildConfig();
  const postgres = connectPostgres(config.databaseUrl, { applicationName: 'rebuild-graph', max: 4 });
  const driver = connectNeo4j(config.neo4j);
  const display = createProgressDisplay(process.stderr);
  try {
    await checkPostgres(postgres.pool);
    try {
      // One connection attempt: the first write would otherwise retry for 30 s before failing.
      await driver.getServerInfo();
    } catch (error) {
      if (isGraphAuthError(error)) throw new ConfigError('NEO4J_PASSWORD', `(with NEO4J_USER "${config.neo4j.user}") was rejected by Neo4j at ${config.neo4j.uri}; check both`);
      throw new ConfigError('NEO4J_URI', `(${config.neo4j.uri}) does not answer (${error instanceof Error ? error.message : String(error)}): start Neo4j there or fix the URI`);
    }
    const summary = await rebuildGraph(postgres.pool, driver, { batchSize, onProgress: (progress) => display.update(progress) });
    display.finish();
    process.stdout.write(`${formatRebuildSummary(summary)}\n`);
  } finally {
    display.finish();
    await Promise.allSettled([postgres.close(), driver.close()]);
  }
});
