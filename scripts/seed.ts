// npm run seed -- [--users N] [--movies N] [--ratings-per-user N] [--people N] [--seed S] [--if-empty]
// Generates the synthetic demo dataset and loads it into PostgreSQL (DATABASE_URL) and Neo4j
// (NEO4J_URI, NEO4J_USER, NEO4J_PASSWORD), after applying migrations; the loader creates the
// graph schema (ensureGraphSchema) before writing. Loading is idempotent: seeding twice with the
// same options changes nothing. --if-empty does nothing when movies.movies already has rows.
// Progress goes to stderr (one updating line on a terminal), the summary to stdout.
import { parseArgs } from 'node:util';
import { ConfigError } from '@platform/shared';
import { runCli } from './lib/cli.ts';
import { migrateAll } from './lib/migrations.ts';
import {
  createProgressDisplay,
  formatLoadSummary,
  loadDataset,
  readLoadTarget,
  seedIfEmpty,
  type LoadOptions,
  type LoadTarget,
} from './lib/load-dataset.ts';
import { generateSyntheticDataset, type SyntheticDatasetOptions } from './lib/synthetic.ts';

const usage = 'usage: npm run seed -- [--users N] [--movies N] [--ratings-per-user N] [--people N] [--seed S] [--if-empty]';

interface SeedArguments {
  synthetic: SyntheticDatasetOptions;
  ifEmpty: boolean;
}

function wholeNumber(flag: string, text: string | undefined, min: number): number | undefined {
  if (text === undefined) return undefined;
  const value = Number(text);
  if (!Number.isSafeInteger(value) || value < min) throw new ConfigError(`--${flag}`, `must be a whole number >= ${min}, got "${text}"`);
  return value;
}

function positiveNumber(flag: string, text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  const value = Number(text);
  if (!Number.isFinite(value) || value < 0) throw new ConfigError(`--${flag}`, `must be a number >= 0, got "${text}"`);
  return value;
}

function parseSeedFlags(argv: string[]) {
  try {
    return parseArgs({
      args: argv,
      strict: true,
      options: {
        users: { type: 'string' },
        movies: { type: 'string' },
        'ratings-per-user': { type: 'string' },
        people: { type: 'string' },
        seed: { type: 'string' },
        'if-empty': { type: 'boolean', default: false },
      },
    }).values;
  } catch (error) {
    // parseArgs's own messages (unknown flag, missing value) already name the flag.
    const message = (error instanceof Error ? error.message : String(error)).replace(/\s*\n\s*/g, ' ');
    throw new ConfigError('arguments:', `${message}; ${usage}`);
  }
}

function readSeedArguments(argv: string[]): SeedArguments {
  const flags = parseSeedFlags(argv);
  const given: SyntheticDatasetOptions = {
    users: wholeNumber('users', flags.users, 0),
    movies: wholeNumber('movies', flags.movies, 0),
    people: wholeNumber('people', flags.people, 0),
    seed: wholeNumber('seed', flags.seed, Number.MIN_SAFE_INTEGER),
    ratingsPerUser: positiveNumber('ratings-per-user', flags['ratings-per-user']),
  };
  // Unset options are left out, so the generator's own defaults apply.
  const synthetic = Object.fromEntries(Object.entries(given).filter(([, value]) => value !== undefined)) as SyntheticDatasetOptions;
  return { synthetic, ifEmpty: flags['if-empty'] };
}

async function seed(target: LoadTarget, synthetic: SyntheticDatasetOptions, options: LoadOptions): Promise<string> {
  return formatLoadSummary(await loadDataset(generateSyntheticDataset(synthetic), target, options));
}

async function seedWhenEmpty(target: LoadTarget, synthetic: SyntheticDatasetOptions, options: LoadOptions): Promise<string> {
  const summary = await seedIfEmpty(target, () => {}, synthetic, options);
  return summary ? formatLoadSummary(summary) : 'movies.movies already has rows; nothing seeded (--if-empty)';
}

await runCli(async () => {
  const args = readSeedArguments(process.argv.slice(2));
  const target = readLoadTarget();
  await migrateAll(target.databaseUrl);
  const display = createProgressDisplay(process.stderr);
  const options: LoadOptions = { onProgress: (progress) => display.update(progress) };
  try {
    const report = args.ifEmpty ? await seedWhenEmpty(target, args.synthetic, options) : await seed(target, args.synthetic, options);
    display.finish();
    process.stdout.write(`${report}\n`);
  } finally {
    display.finish();
  }
});
