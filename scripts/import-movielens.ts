// npm run import:movielens -- <dir>
// Loads a MovieLens "latest" directory (e.g. ml-latest-small from grouplens.org, unzipped:
// movies.csv and ratings.csv, optionally links.csv and tags.csv) into PostgreSQL (DATABASE_URL)
// and Neo4j (NEO4J_URI, NEO4J_USER, NEO4J_PASSWORD), after applying migrations. Progress goes to
// stderr (one updating line on a terminal), the summary with timings to stdout. Re-importing
// the same directory changes nothing.
import { stat } from 'node:fs/promises';
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { ConfigError } from '@platform/shared';
import { runCli } from './lib/cli.ts';
import { migrateAll } from './lib/migrations.ts';
import { createProgressDisplay, formatLoadSummary, loadDataset, readLoadTarget } from './lib/load-dataset.ts';
import { readMovieLensDataset } from './lib/movielens.ts';

const expectedFiles = 'movies.csv and ratings.csv (links.csv and tags.csv are optional)';
const usage = `usage: npm run import:movielens -- <dir>, where <dir> is an unzipped MovieLens "latest" directory with ${expectedFiles}`;

async function movieLensDirectory(argv: string[]): Promise<string> {
  const { positionals } = parseArgs({ args: argv, allowPositionals: true, strict: true, options: {} });
  const [given, ...extra] = positionals;
  if (given === undefined || extra.length > 0) throw new ConfigError('arguments:', usage);
  const dir = resolve(given);
  const info = await stat(dir).catch(() => null);
  if (info === null) throw new Error(`${dir} does not exist; expected a MovieLens "latest" directory with ${expectedFiles}`);
  if (!info.isDirectory()) throw new Error(`${dir} is not a directory; expected a MovieLens "latest" directory with ${expectedFiles}`);
  return dir;
}

const seconds = (ms: number): string => `${(ms / 1000).toFixed(1)} s`;

await runCli(async () => {
  const dir = await movieLensDirectory(process.argv.slice(2));
  const target = readLoadTarget();
  const started = performance.now();
  // Reading first: a broken file is reported before the database is touched.
  process.stderr.write(`reading ${dir}\n`);
  const dataset = await readMovieLensDataset(dir);
  const read = performance.now();
  await migrateAll(target.databaseUrl);
  const migrated = performance.now();

  const display = createProgressDisplay(process.stderr);
  try {
    const summary = await loadDataset(dataset, target, { onProgress: (progress) => display.update(progress) });
    display.finish();
    const finished = performance.now();
    process.stdout.write(`${formatLoadSummary(summary)}\n`);
    process.stdout.write(
      `timings: reading ${seconds(read - started)}, migrations ${seconds(migrated - read)}, loading ${seconds(finished - migrated)}, total ${seconds(finished - started)}\n`,
    );
  } finally {
    display.finish();
  }
});
