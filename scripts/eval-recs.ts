// npm run eval:recs -- <mode> [model options]
// Offline evaluation of the recommendation model with the Microsoft Recommenders protocol
// (subgraphs/recommendations/src/model/evaluation.ts): per-movie stratified 75/25 split, top-k
// without training movies, every held-out rating relevant. Three modes:
//   --train <csv> --test <csv> [--k 10] [--out <recs.csv>]   train, score, write userId,movieId,rank
//   --split <ratings.csv> --seed 42 --out-dir <dir>          write <dir>/train.csv and test.csv
//   --movielens <dir> [--seeds 42,43,44] [--k 10]            split in memory, per-seed and mean rows
//     [--validation]   score on validation splits carved out of each seed's training part
//                      instead of its test part: the model options are tuned with them, so the
//                      test parts stay unseen until the final report. Each seed's training part is
//                      split again per movie, `--validation-ratio` (0.9) to training, once per
//                      repeat r = 1..`--validation-repeats` (5) with seed + 1000·r
// The model options (--similarity, --neighbours, --alpha, ...) select the variants compared in
// the README; without them the defaults of model/similarity.ts (what production builds) are used.
// Input: CSV with the header userId,movieId,rating,timestamp (MovieLens ratings.csv, seconds).
// Errors (arguments, missing or malformed files) are one line on stderr and exit code 2.
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { ConfigError } from '@platform/shared';
import {
  createInMemoryEngine,
  createPopularityEngine,
  evaluateEngine,
  formatRatingsCsv,
  parseRatingsCsv,
  RatingsFileError,
  stratifiedSplit,
  type EngineEvaluation,
  type RankingMetrics,
  type RatingRow,
  type RecommenderEngine,
} from '../subgraphs/recommendations/src/model/evaluation.ts';
import {
  defaultSimilarityOptions,
  maxProfileItems,
  resolveSimilarityOptions,
  type InteractionWeighting,
  type ModelParameters,
} from '../subgraphs/recommendations/src/model/similarity.ts';
import { runCli } from './lib/cli.ts';
import { createGraphEngine } from './lib/graph-eval-engine.ts';

const usage = [
  'usage: npm run eval:recs -- --train <csv> --test <csv> [--k 10] [--out <recs.csv>]',
  '   or: npm run eval:recs -- --split <ratings.csv> --seed <n> --out-dir <dir>',
  '   or: npm run eval:recs -- --movielens <dir> [--seeds 42,43,44] [--k 10] [--validation [--validation-ratio 0.9] [--validation-repeats 5]]',
  'model options: --engine memory|graph --similarity rp3beta|cosine|ease --neighbours N --alpha A --beta B --shrinkage S',
  '  --neighbourhood outgoing|incoming --normalize-rows true|false --min-rating R --rating-scale binary|linear',
  '  --like-weight W --half-life-days D|none --profile-items N|all',
  '  --ease-movies N --lambda L --ease-user-scaling true|false --ease-dropout P --low-rank-weight A --low-rank-dimensions K --popularity-penalty G',
].join('\n');

const optionSpec = {
  train: { type: 'string' },
  test: { type: 'string' },
  k: { type: 'string' },
  out: { type: 'string' },
  split: { type: 'string' },
  seed: { type: 'string' },
  'out-dir': { type: 'string' },
  movielens: { type: 'string' },
  seeds: { type: 'string' },
  validation: { type: 'boolean' },
  'validation-ratio': { type: 'string' },
  'validation-repeats': { type: 'string' },
  engine: { type: 'string' },
  similarity: { type: 'string' },
  neighbours: { type: 'string' },
  alpha: { type: 'string' },
  beta: { type: 'string' },
  shrinkage: { type: 'string' },
  neighbourhood: { type: 'string' },
  'normalize-rows': { type: 'string' },
  'min-rating': { type: 'string' },
  'rating-scale': { type: 'string' },
  'like-weight': { type: 'string' },
  'half-life-days': { type: 'string' },
  'profile-items': { type: 'string' },
  'ease-movies': { type: 'string' },
  lambda: { type: 'string' },
  'ease-user-scaling': { type: 'string' },
  'ease-dropout': { type: 'string' },
  'low-rank-weight': { type: 'string' },
  'low-rank-dimensions': { type: 'string' },
  'popularity-penalty': { type: 'string' },
  help: { type: 'boolean' },
} as const;

type Values = ReturnType<typeof parseArgs<{ options: typeof optionSpec }>>['values'];

function parseArguments(argv: string[]): Values {
  try {
    return parseArgs({ args: argv, options: optionSpec, strict: true, allowPositionals: false }).values;
  } catch (error) {
    // parseArgs's own messages (unknown flag, missing value) already name the flag.
    const message = (error instanceof Error ? error.message : String(error)).replace(/\s*\n\s*/g, ' ');
    throw new ConfigError('arguments:', `${message}; see --help`);
  }
}

function wholeNumber(flag: string, text: string, min: number): number {
  const value = Number(text);
  if (text.trim() === '' || !Number.isSafeInteger(value) || value < min) throw new ConfigError(`--${flag}`, `must be a whole number >= ${min}, got "${text}"`);
  return value;
}

function decimal(flag: string, text: string, check: (value: number) => boolean, expected: string): number {
  const value = Number(text);
  if (text.trim() === '' || !Number.isFinite(value) || !check(value)) throw new ConfigError(`--${flag}`, `must be ${expected}, got "${text}"`);
  return value;
}

function oneOf<T extends string>(flag: string, text: string, allowed: readonly T[]): T {
  if (!(allowed as readonly string[]).includes(text)) throw new ConfigError(`--${flag}`, `must be one of ${allowed.join(', ')}, got "${text}"`);
  return text as T;
}

// ---------------------------------------------------------------------------------------------
// Engines. The in-memory engine runs the production algorithm without a database; an engine that
// goes through Neo4j (the production path) plugs in here under another --engine name.

interface ModelSettings {
  /** Every option resolved (defaults of the chosen measure filled in), as the model records them. */
  similarity: ModelParameters;
  profileItems: number;
}

const engineFactories: Record<string, (settings: ModelSettings) => RecommenderEngine> = {
  memory: (settings) => createInMemoryEngine({ similarity: settings.similarity, profileItems: settings.profileItems }),
  graph: (settings) =>
    createGraphEngine({ similarity: settings.similarity, profileItems: settings.profileItems, log: (message) => process.stderr.write(`eval-recs: ${message}\n`) }),
};

function readModelSettings(values: Values): ModelSettings {
  const defaults = defaultSimilarityOptions;
  const weighting: InteractionWeighting = { ...defaults.weighting };
  if (values['min-rating'] !== undefined) weighting.minRating = decimal('min-rating', values['min-rating'], (v) => v >= 0 && v <= 5, 'a rating in 0..5');
  if (values['rating-scale'] !== undefined) weighting.ratingScale = oneOf('rating-scale', values['rating-scale'], ['binary', 'linear'] as const);
  if (values['like-weight'] !== undefined) weighting.likeWeight = decimal('like-weight', values['like-weight'], (v) => v >= 0, 'a number >= 0');
  if (values['half-life-days'] !== undefined) {
    weighting.halfLifeDays = values['half-life-days'] === 'none' ? null : decimal('half-life-days', values['half-life-days'], (v) => v > 0, 'a number of days > 0 or "none"');
  }
  // Options not given are left to resolveSimilarityOptions, whose defaults follow the measure
  // (e.g. 50 neighbours for rp3beta, 200 for ease).
  const given = <T>(text: string | undefined, parse: (text: string) => T): T | undefined => (text === undefined ? undefined : parse(text));
  let similarity: ModelParameters;
  try {
    similarity = resolveSimilarityOptions({
      neighboursPerMovie: given(values.neighbours, (text) => wholeNumber('neighbours', text, 1)),
      similarity: given(values.similarity, (text) => oneOf('similarity', text, ['rp3beta', 'cosine', 'ease'] as const)),
      alpha: given(values.alpha, (text) => decimal('alpha', text, (v) => v > 0, 'a number > 0')),
      beta: given(values.beta, (text) => decimal('beta', text, (v) => v >= 0, 'a number >= 0')),
      shrinkage: given(values.shrinkage, (text) => decimal('shrinkage', text, (v) => v >= 0, 'a number >= 0')),
      neighbourhood: given(values.neighbourhood, (text) => oneOf('neighbourhood', text, ['outgoing', 'incoming'] as const)),
      normalizeRows: given(values['normalize-rows'], (text) => oneOf('normalize-rows', text, ['true', 'false'] as const) === 'true'),
      weighting,
      easeMovies: given(values['ease-movies'], (text) => wholeNumber('ease-movies', text, 2)),
      easeLambda: given(values.lambda, (text) => decimal('lambda', text, (v) => v > 0, 'a number > 0')),
      easeUserScaling: given(values['ease-user-scaling'], (text) => oneOf('ease-user-scaling', text, ['true', 'false'] as const) === 'true'),
      easeDropout: given(values['ease-dropout'], (text) => decimal('ease-dropout', text, (v) => v >= 0 && v < 1, 'a number in [0, 1)')),
      easeLowRankWeight: given(values['low-rank-weight'], (text) => decimal('low-rank-weight', text, (v) => v >= 0, 'a number >= 0')),
      easeLowRankDimensions: given(values['low-rank-dimensions'], (text) => wholeNumber('low-rank-dimensions', text, 1)),
      popularityPenalty: given(values['popularity-penalty'], (text) => decimal('popularity-penalty', text, (v) => v >= 0, 'a number >= 0')),
    });
  } catch (error) {
    if (error instanceof RangeError) throw new ConfigError('arguments:', error.message);
    throw error;
  }
  const profileText = values['profile-items'];
  const profileItems = profileText === undefined ? maxProfileItems : profileText === 'all' ? Number.MAX_SAFE_INTEGER : wholeNumber('profile-items', profileText, 1);
  return { similarity, profileItems };
}

function describeModel(settings: ModelSettings): string {
  const s = settings.similarity;
  const w = s.weighting;
  const measure =
    s.similarity === 'cosine'
      ? `cosine shrinkage=${s.shrinkage}`
      : s.similarity === 'ease'
        ? `ease ${s.easeMovies} most rated movies lambda=${s.easeLambda}${s.easeDropout > 0 ? ` dropout=${s.easeDropout}` : ''}${s.easeLowRankWeight > 0 ? ` + low-rank ${s.easeLowRankDimensions} dimensions weight ${s.easeLowRankWeight}` : ''}${s.easeUserScaling ? ' (users scaled 1/sqrt(interactions))' : ''}`
        : `rp3beta alpha=${s.alpha} beta=${s.beta}`;
  const penalty = s.popularityPenalty > 0 ? `, popularity penalty ${s.popularityPenalty}` : '';
  const ratings = `ratings >= ${w.minRating} ${w.ratingScale}`;
  const decay = w.halfLifeDays === null ? 'no time decay' : `half-life ${w.halfLifeDays} d`;
  const profile = settings.profileItems >= Number.MAX_SAFE_INTEGER ? 'all' : String(settings.profileItems);
  return `${measure}, ${s.neighboursPerMovie} ${s.neighbourhood} neighbours${s.normalizeRows ? ' (rows normalised)' : ''}, ${ratings}, like ${w.likeWeight}, ${decay}, profile ${profile} most recent${penalty}`;
}

// ---------------------------------------------------------------------------------------------
// Files.

async function readRatings(flag: string, path: string): Promise<RatingRow[]> {
  const absolute = resolve(path);
  let text: string;
  try {
    text = await readFile(absolute, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    const reason = code === 'ENOENT' ? 'does not exist' : code === 'EISDIR' ? 'is a directory, not a CSV file' : code === 'EACCES' ? 'cannot be read (permission denied)' : `cannot be read (${code ?? String(error)})`;
    throw new ConfigError(`--${flag}`, `${absolute} ${reason}`);
  }
  try {
    return parseRatingsCsv(text, absolute);
  } catch (error) {
    if (error instanceof RatingsFileError) throw new ConfigError(`--${flag}`, error.message);
    throw error;
  }
}

async function writeOutput(flag: string, path: string, content: string): Promise<void> {
  try {
    await writeFile(path, content);
  } catch (error) {
    throw new ConfigError(`--${flag}`, `cannot write ${path} (${(error as NodeJS.ErrnoException).code ?? String(error)})`);
  }
}

function recommendationsCsv(evaluation: EngineEvaluation): string {
  const lines = ['userId,movieId,rank'];
  for (const [userId, movies] of evaluation.recommendations) movies.forEach((movieId, index) => lines.push(`${userId},${movieId},${index + 1}`));
  return `${lines.join('\n')}\n`;
}

// ---------------------------------------------------------------------------------------------
// Output: one aligned table.

interface ResultRow {
  label: string;
  engine: string;
  metrics: Pick<RankingMetrics, 'map' | 'ndcg' | 'precision' | 'recall'>;
  /** Milliseconds to train (model: computeSimilarities only), or undefined; CPU time when known. */
  buildMs: number | undefined;
  buildCpuMs?: number | undefined;
  recommendMs: number;
}

function printTable(rows: readonly ResultRow[], k: number): void {
  const header = ['', 'engine', 'MAP', `nDCG@${k}`, `Precision@${k}`, `Recall@${k}`, 'build', 'build CPU', 'recommend (all users)'];
  const cells = rows.map((row) => [
    row.label,
    row.engine,
    row.metrics.map.toFixed(4),
    row.metrics.ndcg.toFixed(4),
    row.metrics.precision.toFixed(4),
    row.metrics.recall.toFixed(4),
    row.buildMs === undefined ? '-' : `${(row.buildMs / 1000).toFixed(2)} s`,
    row.buildCpuMs === undefined ? '-' : `${(row.buildCpuMs / 1000).toFixed(2)} s`,
    `${(row.recommendMs / 1000).toFixed(2)} s`,
  ]);
  const widths = header.map((title, column) => Math.max(title.length, ...cells.map((line) => line[column]!.length)));
  const format = (line: string[]): string => line.map((cell, column) => (column < 2 ? cell.padEnd(widths[column]!) : cell.padStart(widths[column]!))).join('  ').trimEnd();
  process.stdout.write(`${format(header)}\n${cells.map(format).join('\n')}\n`);
}

interface BothEvaluations {
  model: EngineEvaluation;
  modelBuildMs: number;
  modelBuildCpuMs: number | undefined;
  /** Users whose model list was topped up with popular movies, when the engine counts them. */
  toppedUp: number | undefined;
  popularity: EngineEvaluation;
}

async function evaluateBoth(settings: ModelSettings, engineName: string, train: RatingRow[], test: RatingRow[], k: number): Promise<BothEvaluations> {
  const engine = engineFactories[engineName]!(settings);
  try {
    const model = await evaluateEngine(engine, train, test, k);
    // The in-memory engine times computeSimilarities alone; other engines report their whole train().
    const modelBuildMs = 'buildMs' in engine && typeof engine.buildMs === 'number' ? engine.buildMs : model.trainMs;
    const modelBuildCpuMs = 'buildCpuMs' in engine && typeof engine.buildCpuMs === 'number' ? engine.buildCpuMs : undefined;
    const toppedUp = 'filledFromPopular' in engine && typeof engine.filledFromPopular === 'number' ? engine.filledFromPopular : undefined;
    const popularity = await evaluateEngine(createPopularityEngine(), train, test, k);
    return { model, modelBuildMs, modelBuildCpuMs, toppedUp, popularity };
  } finally {
    await engine.close?.();
  }
}

// ---------------------------------------------------------------------------------------------
// Modes.

async function trainAndTest(values: Values, settings: ModelSettings, engineName: string, k: number): Promise<void> {
  if (values.test === undefined) throw new ConfigError('--test', 'is required with --train; see --help');
  const train = await readRatings('train', values.train!);
  const test = await readRatings('test', values.test);
  const { model, modelBuildMs, modelBuildCpuMs, toppedUp, popularity } = await evaluateBoth(settings, engineName, train, test, k);
  if (values.out !== undefined) await writeOutput('out', resolve(values.out), recommendationsCsv(model));
  process.stdout.write(`model: ${describeModel(settings)}\n${train.length} training rows, ${test.length} test rows, ${model.metrics.users} test users, k=${k}\n`);
  printTable(
    [
      { label: '', engine: engineName === 'memory' ? 'model' : `model (${engineName})`, metrics: model.metrics, buildMs: modelBuildMs, buildCpuMs: modelBuildCpuMs, recommendMs: model.recommendMs },
      { label: '', engine: 'popularity', metrics: popularity.metrics, buildMs: undefined, recommendMs: popularity.recommendMs },
    ],
    k,
  );
  if (toppedUp !== undefined) process.stdout.write(`model lists topped up with popular movies: ${toppedUp} of ${model.metrics.users} users\n`);
  if (values.out !== undefined) process.stdout.write(`wrote ${resolve(values.out)} (userId,movieId,rank for ${model.recommendations.size} users)\n`);
}

async function splitToFiles(values: Values): Promise<void> {
  if (values.seed === undefined) throw new ConfigError('--seed', 'is required with --split; see --help');
  if (values['out-dir'] === undefined) throw new ConfigError('--out-dir', 'is required with --split; see --help');
  const seed = wholeNumber('seed', values.seed, 0);
  const rows = await readRatings('split', values.split!);
  const { train, test } = stratifiedSplit(rows, { ratio: 0.75, seed });
  const dir = resolve(values['out-dir']);
  try {
    await mkdir(dir, { recursive: true });
  } catch (error) {
    throw new ConfigError('--out-dir', `cannot create ${dir} (${(error as NodeJS.ErrnoException).code ?? String(error)})`);
  }
  await writeOutput('out-dir', join(dir, 'train.csv'), formatRatingsCsv(train));
  await writeOutput('out-dir', join(dir, 'test.csv'), formatRatingsCsv(test));
  process.stdout.write(`wrote ${join(dir, 'train.csv')} (${train.length} rows) and ${join(dir, 'test.csv')} (${test.length} rows), seed ${seed}\n`);
}

async function movieLens(values: Values, settings: ModelSettings, engineName: string, k: number): Promise<void> {
  const seeds = (values.seeds ?? '42,43,44').split(',').map((text) => wholeNumber('seeds', text.trim(), 0));
  const rows = await readRatings('movielens', join(values.movielens!, 'ratings.csv'));
  const validation = values.validation === true;
  const validationRatio = values['validation-ratio'] === undefined ? 0.9 : decimal('validation-ratio', values['validation-ratio'], (v) => v > 0 && v < 1, 'a number between 0 and 1');
  const repeats = values['validation-repeats'] === undefined ? 5 : wholeNumber('validation-repeats', values['validation-repeats'], 1);
  const scoredOn = validation
    ? `scored on validation splits of each training part (${validationRatio} to training, ${repeats} per seed: seed + 1000·r), test parts unused`
    : 'scored on the test parts';
  process.stdout.write(`model: ${describeModel(settings)}\n${rows.length} ratings, stratified 75/25 split per movie, k=${k}, seeds ${seeds.join(', ')}, ${scoredOn}\n`);
  const results: ResultRow[] = [];
  const toppedUpBySeed: string[] = [];
  for (const seed of seeds) {
    const outer = stratifiedSplit(rows, { ratio: 0.75, seed });
    const parts = validation
      ? Array.from({ length: repeats }, (_, index) => ({ label: `seed ${seed}.${index + 1}`, ...stratifiedSplit(outer.train, { ratio: validationRatio, seed: seed + 1000 * (index + 1) }) }))
      : [{ label: `seed ${seed}`, ...outer }];
    for (const { label, train, test } of parts) {
      const { model, modelBuildMs, modelBuildCpuMs, toppedUp, popularity } = await evaluateBoth(settings, engineName, train, test, k);
      if (toppedUp !== undefined) toppedUpBySeed.push(`${label}: ${toppedUp} of ${model.metrics.users} users`);
      results.push({ label, engine: 'model', metrics: model.metrics, buildMs: modelBuildMs, buildCpuMs: modelBuildCpuMs, recommendMs: model.recommendMs });
      results.push({ label, engine: 'popularity', metrics: popularity.metrics, buildMs: undefined, recommendMs: popularity.recommendMs });
    }
  }
  const mean = (engine: string): ResultRow => {
    const mine = results.filter((row) => row.engine === engine);
    const average = (pick: (row: ResultRow) => number): number => mine.reduce((sum, row) => sum + pick(row), 0) / mine.length;
    return {
      label: 'mean',
      engine,
      metrics: { map: average((r) => r.metrics.map), ndcg: average((r) => r.metrics.ndcg), precision: average((r) => r.metrics.precision), recall: average((r) => r.metrics.recall) },
      buildMs: mine[0]!.buildMs === undefined ? undefined : average((r) => r.buildMs!),
      buildCpuMs: mine[0]!.buildCpuMs === undefined ? undefined : average((r) => r.buildCpuMs!),
      recommendMs: average((r) => r.recommendMs),
    };
  };
  printTable([...results, mean('model'), mean('popularity')], k);
  if (toppedUpBySeed.length > 0) process.stdout.write(`model lists topped up with popular movies: ${toppedUpBySeed.join(', ')}\n`);
}

await runCli(async () => {
  const values = parseArguments(process.argv.slice(2));
  if (values.help) {
    process.stdout.write(`${usage}\n`);
    return;
  }
  const modes = (['train', 'split', 'movielens'] as const).filter((mode) => values[mode] !== undefined);
  if (modes.length !== 1) throw new ConfigError('arguments:', 'give exactly one of --train, --split, --movielens; see --help');
  const engineName = values.engine ?? 'memory';
  if (!(engineName in engineFactories)) throw new ConfigError('--engine', `must be one of ${Object.keys(engineFactories).join(', ')}, got "${engineName}"`);
  const settings = readModelSettings(values);
  const k = values.k === undefined ? 10 : wholeNumber('k', values.k, 1);
  if ((values['validation-ratio'] !== undefined || values['validation-repeats'] !== undefined) && !values.validation) {
    throw new ConfigError('--validation-ratio', 'and --validation-repeats only apply with --validation; see --help');
  }
  if (values.validation && modes[0] !== 'movielens') throw new ConfigError('--validation', 'only applies to --movielens (it splits each seed\'s training part); see --help');
  if (modes[0] === 'split') await splitToFiles(values);
  else if (modes[0] === 'train') await trainAndTest(values, settings, engineName, k);
  else await movieLens(values, settings, engineName, k);
});
