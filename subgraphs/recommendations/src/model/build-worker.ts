import { parentPort, Worker, workerData } from 'node:worker_threads';
import {
  computeSimilarities,
  defaultSimilarityOptions,
  type ModelParameters,
  type Neighbour,
  type SimilarityOptions,
  type TrainingInteraction,
} from './similarity.ts';

// The similarity computation runs in a worker thread: on ml-latest-small it takes seconds of pure
// CPU, and the subgraph must keep answering requests meanwhile. This file is both sides: the
// main thread calls computeSimilaritiesInWorker, which starts this same file as a worker.
//
// Data crosses the thread boundary as typed arrays whose buffers are transferred (moved, not
// copied): structured-cloning 100,000 interaction objects would block the main thread for about
// as long as it takes to send them, which is what the worker is there to avoid.

/** Interactions as parallel columns; `userIndex` points into `userIds`. */
export interface InteractionColumns {
  userIds: string[];
  userIndex: Uint32Array<ArrayBuffer>;
  movieIds: Float64Array<ArrayBuffer>;
  /** NaN when the user only reacted */
  ratings: Float64Array<ArrayBuffer>;
  /** 0 none, 1 LIKE, 2 DISLIKE */
  reactions: Uint8Array<ArrayBuffer>;
  ats: Float64Array<ArrayBuffer>;
}

const reactionCodes = [null, 'LIKE', 'DISLIKE'] as const;

export function interactionColumnsOf(interactions: readonly TrainingInteraction[]): InteractionColumns {
  const userPositions = new Map<string, number>();
  const columns: InteractionColumns = {
    userIds: [],
    userIndex: new Uint32Array(interactions.length),
    movieIds: new Float64Array(interactions.length),
    ratings: new Float64Array(interactions.length),
    reactions: new Uint8Array(interactions.length),
    ats: new Float64Array(interactions.length),
  };
  interactions.forEach((interaction, index) => {
    let position = userPositions.get(interaction.userId);
    if (position === undefined) {
      position = columns.userIds.length;
      userPositions.set(interaction.userId, position);
      columns.userIds.push(interaction.userId);
    }
    columns.userIndex[index] = position;
    columns.movieIds[index] = interaction.movieId;
    columns.ratings[index] = interaction.rating ?? Number.NaN;
    columns.reactions[index] = interaction.reaction === 'LIKE' ? 1 : interaction.reaction === 'DISLIKE' ? 2 : 0;
    columns.ats[index] = interaction.at;
  });
  return columns;
}

export function interactionsOf(columns: InteractionColumns): TrainingInteraction[] {
  const interactions: TrainingInteraction[] = new Array(columns.movieIds.length);
  for (let index = 0; index < columns.movieIds.length; index++) {
    const rating = columns.ratings[index] as number;
    interactions[index] = {
      userId: columns.userIds[columns.userIndex[index] as number] as string,
      movieId: columns.movieIds[index] as number,
      rating: Number.isNaN(rating) ? null : rating,
      reaction: reactionCodes[columns.reactions[index] as number] ?? null,
      at: columns.ats[index] as number,
    };
  }
  return interactions;
}

/** Columnar neighbour lists: movie i's neighbours are targets[offsets[i] .. offsets[i + 1]). */
export interface NeighbourColumns {
  movieIds: Float64Array<ArrayBuffer>;
  offsets: Uint32Array<ArrayBuffer>;
  targets: Float64Array<ArrayBuffer>;
  scores: Float64Array<ArrayBuffer>;
}

export function neighbourColumnsOf(neighbours: ReadonlyMap<number, readonly Neighbour[]>): NeighbourColumns {
  let edges = 0;
  for (const list of neighbours.values()) edges += list.length;
  const columns: NeighbourColumns = {
    movieIds: new Float64Array(neighbours.size),
    offsets: new Uint32Array(neighbours.size + 1),
    targets: new Float64Array(edges),
    scores: new Float64Array(edges),
  };
  let movie = 0;
  let edge = 0;
  for (const [movieId, list] of neighbours) {
    columns.movieIds[movie] = movieId;
    columns.offsets[movie] = edge;
    for (const neighbour of list) {
      columns.targets[edge] = neighbour.movieId;
      columns.scores[edge] = neighbour.score;
      edge++;
    }
    movie++;
  }
  columns.offsets[movie] = edge;
  return columns;
}

export function neighboursOf(columns: NeighbourColumns): Map<number, Neighbour[]> {
  const neighbours = new Map<number, Neighbour[]>();
  for (let movie = 0; movie < columns.movieIds.length; movie++) {
    const list: Neighbour[] = [];
    for (let edge = columns.offsets[movie] as number; edge < (columns.offsets[movie + 1] as number); edge++) {
      list.push({ movieId: columns.targets[edge] as number, score: columns.scores[edge] as number });
    }
    neighbours.set(columns.movieIds[movie] as number, list);
  }
  return neighbours;
}

export interface ComputedModel {
  columns: NeighbourColumns;
  users: number;
  movies: number;
  edges: number;
  /** What the algorithm resolved its options to, recorded on the model node. */
  parameters: ModelParameters;
  /** The model's popularity penalty per movie (SimilarityModel.popularityPenalty), when it has one. */
  penalty?: PenaltyColumns;
}

/** Per-movie popularity penalties as two parallel columns. */
export interface PenaltyColumns {
  movieIds: Float64Array<ArrayBuffer>;
  values: Float64Array<ArrayBuffer>;
}

export function penaltyColumnsOf(penalties: ReadonlyMap<number, number>): PenaltyColumns {
  const columns: PenaltyColumns = { movieIds: new Float64Array(penalties.size), values: new Float64Array(penalties.size) };
  let index = 0;
  for (const [movieId, value] of penalties) {
    columns.movieIds[index] = movieId;
    columns.values[index] = value;
    index += 1;
  }
  return columns;
}

type WorkerOptions = Omit<SimilarityOptions, 'onProgress'>;

function withoutProgress(options: SimilarityOptions): WorkerOptions {
  const { onProgress: _onProgress, ...rest } = options;
  return rest;
}

type FromWorker =
  | { type: 'progress'; fraction: number }
  | ({ type: 'done' } & ComputedModel)
  | { type: 'error'; message: string };

/** Marks workerData as ours: vitest and others run code in worker threads too. */
const workerMarker = 'recommendations:model-build-worker';

export interface WorkerRun {
  result: Promise<ComputedModel>;
  /** Stops the computation (the result rejects). */
  terminate(): Promise<void>;
}

/**
 * computeSimilarities on a worker thread. The interactions are encoded into columns (the one
 * main-thread cost, ~10 ms per 100,000) and moved to the worker; progress comes back as messages.
 */
export function computeSimilaritiesInWorker(
  interactions: readonly TrainingInteraction[],
  options: WorkerOptions = defaultSimilarityOptions,
  onProgress: (fraction: number) => void = () => {},
): WorkerRun {
  const columns = interactionColumnsOf(interactions);
  const worker = new Worker(new URL(import.meta.url), {
    // Plain data only (the progress callback cannot cross threads; it comes back as messages).
    workerData: { [workerMarker]: true, columns, options: withoutProgress(options) },
    transferList: [columns.userIndex.buffer, columns.movieIds.buffer, columns.ratings.buffer, columns.reactions.buffer, columns.ats.buffer],
  });
  let terminated = false;
  const result = new Promise<ComputedModel>((resolve, reject) => {
    let settled = false;
    worker.on('message', (message: FromWorker) => {
      if (message.type === 'progress') onProgress(message.fraction);
      else if (message.type === 'done') {
        settled = true;
        const { type: _type, ...computed } = message;
        resolve(computed);
        void worker.terminate();
      } else {
        settled = true;
        reject(new Error(`similarity computation failed: ${message.message}`));
        void worker.terminate();
      }
    });
    worker.on('error', (error) => {
      settled = true;
      reject(error);
    });
    worker.on('exit', (code) => {
      if (!settled) reject(new Error(terminated ? 'similarity computation stopped' : `similarity worker exited with code ${code} before answering`));
    });
  });
  return {
    result,
    async terminate() {
      terminated = true;
      await worker.terminate();
    },
  };
}

// ---------------------------------------------------------------------------------------------
// Worker side

interface WorkerInput {
  columns: InteractionColumns;
  options: WorkerOptions;
}

function runInWorker(input: WorkerInput, post: (message: FromWorker, transfer?: ArrayBuffer[]) => void): void {
  try {
    let reported = -1;
    const model = computeSimilarities(interactionsOf(input.columns), {
      ...input.options,
      // At most ~100 messages however often the algorithm reports.
      onProgress: (fraction) => {
        if (fraction - reported >= 0.01 || fraction >= 1) {
          reported = fraction;
          post({ type: 'progress', fraction });
        }
      },
    });
    const columns = neighbourColumnsOf(model.neighbours);
    const penalty = model.popularityPenalty ? penaltyColumnsOf(model.popularityPenalty) : undefined;
    post(
      { type: 'done', columns, users: model.users, movies: model.movies, edges: model.edges, parameters: model.parameters, ...(penalty ? { penalty } : {}) },
      [columns.movieIds.buffer, columns.offsets.buffer, columns.targets.buffer, columns.scores.buffer, ...(penalty ? [penalty.movieIds.buffer, penalty.values.buffer] : [])],
    );
  } catch (error) {
    post({ type: 'error', message: error instanceof Error ? error.message : String(error) });
  }
}

const data = workerData as (Record<string, unknown> & WorkerInput) | null;
if (parentPort && data?.[workerMarker] === true) {
  const port = parentPort;
  runInWorker(data, (message, transfer) => port.postMessage(message, transfer ?? []));
}
