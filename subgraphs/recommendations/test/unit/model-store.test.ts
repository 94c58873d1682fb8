import { describe, expect, it } from 'vitest';
import {
  computeSimilaritiesInWorker,
  interactionColumnsOf,
  interactionsOf,
  neighbourColumnsOf,
  neighboursOf,
} from '../../src/model/build-worker.ts';
import { computeSimilarities, defaultSimilarityOptions, type TrainingInteraction } from '../../src/model/similarity.ts';
import {
  checkModelKey,
  foldUserInteractions,
  newModelVersion,
  overallProgress,
  popularityRanking,
  similarityBatches,
} from '../../src/model/store.ts';

const interaction = (userId: string, movieId: number, rating: number | null, reaction: TrainingInteraction['reaction'] = null, at = 1): TrainingInteraction => ({
  userId,
  movieId,
  rating,
  reaction,
  at,
});

describe('foldUserInteractions', () => {
  it('makes one interaction per movie from the RATED / LIKED / DISLIKED relationships, with the latest time', () => {
    // kinds: 0 RATED, 1 LIKED, 2 DISLIKED; a rating of -1 and a time of 0 stand for "absent".
    const folded = foldUserInteractions('u', [10, 10, 11, 12], [0, 1, 2, 0], [4.5, -1, -1, 2], [100, 300, 50, 70]);
    expect(folded).toEqual([
      { userId: 'u', movieId: 10, rating: 4.5, reaction: 'LIKE', at: 300 },
      { userId: 'u', movieId: 11, rating: null, reaction: 'DISLIKE', at: 50 },
      { userId: 'u', movieId: 12, rating: 2, reaction: null, at: 70 },
    ]);
  });

  it('returns nothing for a user without relationships', () => {
    expect(foldUserInteractions('u', [], [], [], [])).toEqual([]);
  });
});

describe('popularityRanking', () => {
  it('counts ratings and likes (not dislikes), most first, ties by lower id, cut to the limit', () => {
    const ranking = popularityRanking(
      [
        interaction('a', 1, 1),
        interaction('b', 1, null, 'DISLIKE'),
        interaction('a', 2, 5, 'LIKE'),
        interaction('c', 3, 3),
        interaction('d', 4, null, 'LIKE'),
        interaction('e', 5, null, 'DISLIKE'),
      ],
      3,
    );
    expect(ranking).toEqual({ movieIds: [2, 1, 3], counts: [2, 1, 1] });
  });
});

describe('similarityBatches', () => {
  const columns = neighbourColumnsOf(
    new Map([
      [1, [{ movieId: 2, score: 0.9 }, { movieId: 3, score: 0.5 }, { movieId: 4, score: 0.1 }]],
      [2, [{ movieId: 1, score: 0.8 }]],
      [5, [{ movieId: 6, score: 0.3 }, { movieId: 7, score: 0.2 }]],
    ]),
  );

  it('puts about `edgesPerBatch` edges in each batch, splitting a movie across two when needed', () => {
    const batches = similarityBatches(columns, 2);
    expect(batches).toEqual([
      [{ from: 1, to: [2, 3], scores: [0.9, 0.5] }],
      [
        { from: 1, to: [4], scores: [0.1] },
        { from: 2, to: [1], scores: [0.8] },
      ],
      [{ from: 5, to: [6, 7], scores: [0.3, 0.2] }],
    ]);
  });

  it('keeps every edge exactly once whatever the batch size', () => {
    for (const size of [1, 3, 4, 100]) {
      const edges = similarityBatches(columns, size).flatMap((batch) => batch.flatMap((row) => row.to.map((to, index) => `${row.from}>${to}:${row.scores[index]}`)));
      expect(edges).toEqual(['1>2:0.9', '1>3:0.5', '1>4:0.1', '2>1:0.8', '5>6:0.3', '5>7:0.2']);
    }
  });

  it('refuses a batch size that is not a positive integer', () => {
    expect(() => similarityBatches(columns, 0)).toThrow(RangeError);
  });
});

describe('columns for the worker', () => {
  const interactions = [interaction('a', 1, 4.5, 'LIKE', 10), interaction('b', 2, null, 'DISLIKE', 20), interaction('a', 3, 2, null, 30)];

  it('round-trip interactions and neighbour lists unchanged', () => {
    expect(interactionsOf(interactionColumnsOf(interactions))).toEqual(interactions);
    const neighbours = new Map([
      [1, [{ movieId: 2, score: 0.5 }]],
      [3, [{ movieId: 1, score: 0.25 }, { movieId: 2, score: 0.125 }]],
    ]);
    expect(neighboursOf(neighbourColumnsOf(neighbours))).toEqual(neighbours);
  });

  it('computes in a worker thread exactly what computeSimilarities computes in-process', async () => {
    const training: TrainingInteraction[] = [];
    for (let user = 0; user < 30; user++) {
      for (let movie = 0; movie < 12; movie++) {
        if ((user * 7 + movie * 3) % 5 < 2) training.push(interaction(`u${user}`, 100 + movie, 1 + ((user + movie) % 5), movie % 4 === 0 ? 'LIKE' : null, user * 100 + movie));
      }
    }
    const progress: number[] = [];
    const computed = await computeSimilaritiesInWorker(training, defaultSimilarityOptions, (fraction) => progress.push(fraction)).result;
    const expected = computeSimilarities(training, defaultSimilarityOptions);
    expect(neighboursOf(computed.columns)).toEqual(expected.neighbours);
    expect({ users: computed.users, movies: computed.movies, edges: computed.edges }).toEqual({ users: expected.users, movies: expected.movies, edges: expected.edges });
    expect(computed.parameters).toEqual(expected.parameters);
    expect(progress.at(-1)).toBe(1);
  });
});

describe('versions and keys', () => {
  it('names versions after the key and the UTC start time, unique per call', () => {
    const at = Date.UTC(2026, 10, 21, 20, 4, 5);
    const version = newModelVersion('default', at);
    expect(version).toMatch(/^default-20261121-200405-[0-9a-f]{6}$/);
    expect(newModelVersion('default', at)).not.toBe(version);
  });

  it('accepts plain keys only', () => {
    expect(checkModelKey('eval:seed-42')).toBe('eval:seed-42');
    expect(() => checkModelKey('')).toThrow(RangeError);
    expect(() => checkModelKey('a b')).toThrow(/model key must be/);
  });
});

describe('overallProgress', () => {
  it('maps each phase onto its share of the whole build', () => {
    expect(overallProgress('READING', 0)).toBe(0);
    expect(overallProgress('READING', 1)).toBeCloseTo(0.1);
    expect(overallProgress('COMPUTING', 0.5)).toBeCloseTo(0.225);
    expect(overallProgress('WRITING', 2)).toBeCloseTo(0.98);
    expect(overallProgress('DONE', 0)).toBe(1);
    expect(overallProgress('FAILED', 0.7)).toBe(0);
  });
});
