import type { Driver } from 'neo4j-driver';
import { createLogger, type Logger } from '@platform/shared';
import { computeSimilaritiesInWorker, type WorkerRun } from './build-worker.ts';
import { defaultSimilarityOptions, type SimilarityOptions } from './similarity.ts';
import {
  activateModel,
  beginBuild,
  checkModelKey,
  defaultModelKey,
  listModels,
  newModelVersion,
  overallProgress,
  popularityRanking,
  readActiveModel,
  readTrainingData,
  recordBuildFailure,
  recordBuildProgress,
  retireOldVersions,
  writeSimilarityEdges,
  type ModelPhase,
  type ModelRecord,
} from './store.ts';

// Builds of the precomputed model: read the interactions, compute the neighbours on a worker
// thread, write the SIMILAR edges of a new version, activate it in one transaction, and later
// delete the edges of versions no reader needs any more. Failures leave the active model as it
// was and record the reason on the FAILED model node.
//
// One build at a time per key: within a process a second request gets the running build; across
// processes beginBuild's locked check in the graph does the same (a build whose heartbeat stops
// for `staleAfterMs` counts as abandoned, so a crashed process cannot block builds for ever).

export interface ModelBuildOptions {
  /** Which model lifecycle: 'default' in production; tests and the evaluation use their own. */
  modelKey: string;
  similarity: Omit<SimilarityOptions, 'onProgress'>;
  usersPerPage: number;
  /** Write transactions in flight at once. */
  writeConcurrency: number;
  /** How many of the most popular movies the model keeps for the POPULAR fallback. */
  popularMovies: number;
  /** Progress (and heartbeat) written to the model node at most this often. */
  progressWriteMs: number;
  /** A running build refreshes its heartbeat at least this often, whatever its progress. */
  heartbeatMs: number;
  /** Another process treats a BUILDING model as abandoned after this long without a heartbeat. */
  staleAfterMs: number;
  /**
   * How long a superseded version keeps its edges. Longer than the longest read transaction
   * (the recommenders' 10 s timeout), so a reader that resolved the old version just before the
   * flip still finds its edges.
   */
  retireAfterMs: number;
  hooks: BuildHooks;
}

/** Test seams around the moment of activation. */
export interface BuildHooks {
  /** Runs after the edges are written, before the flip; a throw fails the build. */
  beforeActivate?(version: string): Promise<void>;
}

export const defaultModelBuildOptions: ModelBuildOptions = {
  modelKey: defaultModelKey,
  similarity: defaultSimilarityOptions,
  usersPerPage: 2_000,
  writeConcurrency: 2,
  popularMovies: 500,
  progressWriteMs: 1_000,
  heartbeatMs: 5_000,
  staleAfterMs: 60_000,
  retireAfterMs: 60_000,
  hooks: {},
};

export interface PhaseMillis {
  read: number;
  compute: number;
  write: number;
  activate: number;
}

export interface BuildSummary {
  model: ModelRecord;
  /** (user, movie) pairs read */
  interactions: number;
  phaseMillis: PhaseMillis;
}

export interface BuildProgress {
  version: string;
  phase: ModelPhase;
  /** 0..1 over the whole build */
  progress: number;
}

/** Asked for a build while another process runs one for the same key. */
export class BuildAlreadyRunningError extends Error {
  readonly running: ModelRecord;
  constructor(running: ModelRecord) {
    super(`a build of model "${running.key}" is already running (version ${running.version}, ${running.phase})`);
    this.name = 'BuildAlreadyRunningError';
    this.running = running;
  }
}

interface BuildControl {
  stopping(): boolean;
  onWorker(run: WorkerRun | null): void;
}

const silentLogger = createLogger('recommendations-model', { sink: () => {} });
const errorMessage = (error: unknown) => (error instanceof Error ? error.message : String(error));

/**
 * Keeps the model node's phase, progress and heartbeat current: at most one write in flight,
 * at most one per `progressWriteMs` unless the phase changed, and one per `heartbeatMs` even
 * when nothing moves (the compute phase can report rarely). A write that finds the model no longer
 * BUILDING (another process declared it abandoned) makes `abandoned()` true.
 */
function progressReporter(driver: Driver, logger: Logger, model: ModelRecord, options: ModelBuildOptions, listener: (progress: BuildProgress) => void) {
  let phase: ModelPhase = model.phase;
  let progress = model.progress;
  let lastWrite = 0;
  let writing: Promise<void> | null = null;
  let lostOwnership = false;
  let stopped = false;

  const write = (): void => {
    if (writing || stopped) return;
    lastWrite = Date.now();
    writing = recordBuildProgress(driver, model.version, phase, progress)
      .then((stillBuilding) => {
        if (!stillBuilding) lostOwnership = true;
      })
      .catch((error: unknown) => logger.warn('could not record model build progress', { version: model.version, error: errorMessage(error) }))
      .finally(() => {
        writing = null;
      });
  };
  const heartbeat = setInterval(write, options.heartbeatMs);
  heartbeat.unref();

  return {
    report(nextPhase: ModelPhase, fraction: number): void {
      const changed = nextPhase !== phase;
      phase = nextPhase;
      progress = overallProgress(nextPhase, fraction);
      listener({ version: model.version, phase, progress });
      if (changed || Date.now() - lastWrite >= options.progressWriteMs) write();
    },
    current: (): BuildProgress => ({ version: model.version, phase, progress }),
    abandoned: () => lostOwnership,
    async stop(): Promise<void> {
      stopped = true;
      clearInterval(heartbeat);
      await writing;
    },
  };
}

async function runBuild(
  driver: Driver,
  logger: Logger,
  model: ModelRecord,
  options: ModelBuildOptions,
  control: BuildControl,
  listener: (progress: BuildProgress) => void,
): Promise<BuildSummary> {
  const started = performance.now();
  const reporter = progressReporter(driver, logger, model, options, listener);
  const phaseMillis: PhaseMillis = { read: 0, compute: 0, write: 0, activate: 0 };
  const checkStillOurs = (): void => {
    if (control.stopping()) throw new Error('interrupted: the process is stopping');
    if (reporter.abandoned()) throw new Error('abandoned: another process declared this build stale');
  };
  try {
    logger.info('model build started', { key: model.key, version: model.version });
    let phaseStarted = performance.now();
    reporter.report('READING', 0);
    const training = await readTrainingData(driver, {
      usersPerPage: options.usersPerPage,
      onProgress: (read, total) => reporter.report('READING', total > 0 ? read / total : 1),
    });
    phaseMillis.read = performance.now() - phaseStarted;
    checkStillOurs();

    phaseStarted = performance.now();
    reporter.report('COMPUTING', 0);
    const popular = popularityRanking(training.interactions, options.popularMovies);
    const worker = computeSimilaritiesInWorker(training.interactions, options.similarity, (fraction) => reporter.report('COMPUTING', fraction));
    control.onWorker(worker);
    const computed = await worker.result.finally(() => control.onWorker(null));
    phaseMillis.compute = performance.now() - phaseStarted;
    checkStillOurs();

    phaseStarted = performance.now();
    reporter.report('WRITING', 0);
    const similarityEdges = await writeSimilarityEdges(driver, model.version, computed.columns, {
      concurrency: options.writeConcurrency,
      onProgress: (written, total) => reporter.report('WRITING', total > 0 ? written / total : 1),
      shouldStop: () => control.stopping() || reporter.abandoned(),
    });
    phaseMillis.write = performance.now() - phaseStarted;
    await options.hooks.beforeActivate?.(model.version);
    checkStillOurs();

    phaseStarted = performance.now();
    reporter.report('ACTIVATING', 0);
    await reporter.stop();
    const buildMillis = performance.now() - started;
    const activated = await activateModel(driver, model.key, model.version, {
      users: computed.users,
      movies: computed.movies,
      // What was created: an edge whose movie disappeared since the read is not counted.
      similarityEdges,
      buildMillis,
      maxMovieId: training.maxMovieId,
      unratedMovieIds: training.unratedMovieIds,
      popularMovieIds: popular.movieIds,
      popularCounts: popular.counts,
      penaltyMovieIds: computed.penalty ? [...computed.penalty.movieIds] : [],
      penaltyValues: computed.penalty ? [...computed.penalty.values] : [],
      parameters: computed.parameters,
      phaseMillis: { ...phaseMillis },
    });
    phaseMillis.activate = performance.now() - phaseStarted;
    listener({ version: model.version, phase: 'DONE', progress: 1 });
    logger.info('model build activated', {
      key: model.key,
      version: model.version,
      users: activated.users,
      movies: activated.movies,
      similarityEdges: activated.similarityEdges,
      interactions: training.interactions.length,
      buildMillis: Math.round(buildMillis),
      phaseMillis: Object.fromEntries(Object.entries(phaseMillis).map(([phase, ms]) => [phase, Math.round(ms)])),
    });
    return { model: activated, interactions: training.interactions.length, phaseMillis };
  } catch (error) {
    await reporter.stop();
    const message = errorMessage(error);
    logger.error('model build failed; the active model is unchanged', { key: model.key, version: model.version, error: message });
    listener({ version: model.version, phase: 'FAILED', progress: 0 });
    // Bounded: with Neo4j down the driver would retry for 30 s; the model then goes stale and the
    // next build marks it abandoned.
    await Promise.race([
      recordBuildFailure(driver, model.version, message).catch((recordError: unknown) =>
        logger.warn('could not record the model build failure', { version: model.version, error: errorMessage(recordError) }),
      ),
      new Promise((resolve) => setTimeout(resolve, 5_000).unref()),
    ]);
    throw error;
  }
}

function resolveOptions(overrides: Partial<ModelBuildOptions>): ModelBuildOptions {
  const options = { ...defaultModelBuildOptions, ...overrides };
  checkModelKey(options.modelKey);
  return options;
}

export interface BuildNowOptions extends Partial<ModelBuildOptions> {
  onProgress?(progress: BuildProgress): void;
  logger?: Logger;
}

/**
 * Runs one build to the end and returns its summary (the evaluation command and the bench use
 * this): the same code path as the background builds. Throws BuildAlreadyRunningError when a
 * build of the key runs elsewhere, or the build's error (the model is then FAILED and the
 * previously active one still serves). Versions superseded longer than `retireAfterMs` ago are
 * retired afterwards.
 */
export async function buildModelNow(driver: Driver, options: BuildNowOptions = {}): Promise<BuildSummary> {
  const resolved = resolveOptions(options);
  const logger = options.logger ?? silentLogger;
  const begun = await beginBuild(driver, { key: resolved.modelKey, version: newModelVersion(resolved.modelKey), now: Date.now(), staleAfterMs: resolved.staleAfterMs });
  if (!begun.started) throw new BuildAlreadyRunningError(begun.model);
  const summary = await runBuild(driver, logger, begun.model, resolved, { stopping: () => false, onWorker: () => {} }, options.onProgress ?? (() => {}));
  await retireOldVersions(driver, resolved.modelKey, { graceMs: resolved.retireAfterMs }).catch((error: unknown) =>
    logger.warn('could not retire old model versions', { key: resolved.modelKey, error: errorMessage(error) }),
  );
  return summary;
}

export interface ModelBuilderOptions extends Partial<ModelBuildOptions> {
  /** Rebuild this often; 0 = no automatic builds (neither periodic nor at start). */
  rebuildEveryMs?: number;
  /** When the start-up check cannot reach Neo4j, try again after this long. */
  startRetryMs?: number;
  /** Told after each activation (e.g. to drop cached lists computed from the previous model). */
  onActivated?(model: ModelRecord): void | Promise<void>;
}

export interface ModelBuilder {
  /**
   * Starts a build in the background and returns its BUILDING record at once; while a build of
   * the key runs (here or in another process) returns that one instead of starting another.
   */
  rebuild(): Promise<ModelRecord>;
  /** This process's running build, with live progress; null when none runs here. */
  running(): ModelRecord | null;
  /** Automatic builds: one at start when no model is active, then every `rebuildEveryMs`. */
  start(): void;
  /** Resolves when no build runs in this process (tests, shutdown). */
  idle(): Promise<void>;
  /** Stops the schedule and interrupts a running build (recorded as FAILED). */
  stop(): Promise<void>;
  readonly modelKey: string;
}

/** How long stop() waits for an interrupted build to record its failure. */
const stopWaitMs = 5_000;

export function createModelBuilder(driver: Driver, logger: Logger, overrides: ModelBuilderOptions = {}): ModelBuilder {
  const { rebuildEveryMs = 0, startRetryMs = 30_000, onActivated, ...buildOverrides } = overrides;
  const options = resolveOptions(buildOverrides);
  let current: { model: ModelRecord; done: Promise<void>; worker: WorkerRun | null } | null = null;
  let stopping = false;
  const timers = new Set<NodeJS.Timeout>();

  const later = (ms: number, work: () => void): void => {
    if (stopping) return;
    const timer = setTimeout(() => {
      timers.delete(timer);
      work();
    }, ms);
    timer.unref();
    timers.add(timer);
  };

  const retire = (): void => {
    retireOldVersions(driver, options.modelKey, { graceMs: options.retireAfterMs })
      .then((retired) => {
        if (retired.versions.length > 0) logger.info('retired old model versions', { key: options.modelKey, ...retired });
      })
      .catch((error: unknown) => logger.warn('could not retire old model versions; the next build tries again', { key: options.modelKey, error: errorMessage(error) }));
  };

  async function startBuild(): Promise<ModelRecord> {
    const begun = await beginBuild(driver, { key: options.modelKey, version: newModelVersion(options.modelKey), now: Date.now(), staleAfterMs: options.staleAfterMs });
    if (!begun.started) return begun.model;
    const entry: { model: ModelRecord; done: Promise<void>; worker: WorkerRun | null } = { model: begun.model, done: Promise.resolve(), worker: null };
    const control: BuildControl = {
      stopping: () => stopping,
      onWorker: (run) => {
        entry.worker = run;
      },
    };
    const onProgress = (progress: BuildProgress): void => {
      entry.model = { ...entry.model, phase: progress.phase, progress: progress.progress };
    };
    current = entry;
    entry.done = runBuild(driver, logger, begun.model, options, control, onProgress).then(
      async (summary) => {
        current = null;
        try {
          await onActivated?.(summary.model);
        } catch (error) {
          logger.warn('after activating the model: the activation listener failed', { version: summary.model.version, error: errorMessage(error) });
        }
        // Right away for versions left over from earlier builds and failures; after the grace
        // period for the version this build just superseded.
        retire();
        later(options.retireAfterMs, retire);
      },
      () => {
        current = null;
      },
    );
    return entry.model;
  }

  // Concurrent callers in this process share one beginBuild; across processes the graph lock
  // decides.
  let starting: Promise<ModelRecord> | null = null;
  async function rebuild(): Promise<ModelRecord> {
    if (current) return current.model;
    if (stopping) throw new Error('the model builder is stopping');
    starting ??= startBuild().finally(() => {
      starting = null;
    });
    return starting;
  }

  const ensureModelAtStart = (): void => {
    readActiveOrNull()
      .then(async (hasModel) => {
        if (!hasModel) {
          logger.info('no active recommendation model; building one in the background', { key: options.modelKey });
          await rebuild();
        }
      })
      .catch((error: unknown) => {
        logger.warn('could not check or start the recommendation model; retrying later', { key: options.modelKey, error: errorMessage(error) });
        later(startRetryMs, ensureModelAtStart);
      });
  };

  const readActiveOrNull = async (): Promise<boolean> => (await readActiveModel(driver, options.modelKey)) !== null;

  // Every replica runs this schedule: a tick skips when another replica (or an admin) built a
  // model recently, so N replicas still build about once per interval, not N times.
  const scheduledBuild = async (): Promise<void> => {
    const active = await readActiveModel(driver, options.modelKey);
    if (active?.finishedAt && Date.now() - active.finishedAt < rebuildEveryMs * 0.9) return;
    await rebuild();
  };
  const scheduleNext = (): void => {
    later(rebuildEveryMs, () => {
      scheduledBuild().catch((error: unknown) => logger.warn('scheduled model build could not start', { key: options.modelKey, error: errorMessage(error) }));
      scheduleNext();
    });
  };

  return {
    modelKey: options.modelKey,
    rebuild,
    running: () => current?.model ?? null,
    start() {
      if (rebuildEveryMs <= 0) return;
      ensureModelAtStart();
      scheduleNext();
    },
    async idle() {
      while (current) await current.done;
    },
    async stop() {
      stopping = true;
      for (const timer of timers) clearTimeout(timer);
      timers.clear();
      await starting?.catch(() => undefined);
      const running = current;
      if (running) {
        await running.worker?.terminate();
        // A write stuck on an unreachable Neo4j must not hold up the shutdown: the build is
        // abandoned (its heartbeat stops) and the next build marks it FAILED.
        await Promise.race([running.done, new Promise((resolve) => setTimeout(resolve, stopWaitMs).unref())]);
      }
    },
  };
}

/** What the admin API asks of the model (resolvers.ts), reading the graph so every replica answers alike. */
export interface ModelAdmin {
  active(): Promise<ModelRecord | null>;
  recent(first: number): Promise<ModelRecord[]>;
  rebuild(): Promise<ModelRecord>;
}

/** Admin reads over the graph, with this process's running build showing its live progress. */
export function createModelAdmin(driver: Driver, builder: ModelBuilder): ModelAdmin {
  const withLiveProgress = (model: ModelRecord): ModelRecord => {
    const running = builder.running();
    return running && running.version === model.version && model.status === 'BUILDING' ? { ...model, phase: running.phase, progress: running.progress } : model;
  };
  return {
    active: () => readActiveModel(driver, builder.modelKey),
    recent: async (first) => (await listModels(driver, builder.modelKey, first)).map(withLiveProgress),
    rebuild: () => builder.rebuild(),
  };
}
