import { describe, expect, it } from 'vitest';
import { ConfigError } from '@platform/shared';
import type { DatasetMovie } from '../../scripts/lib/dataset.ts';
import {
  createProgressDisplay,
  creditRowsOf,
  fanOut,
  formatLoadSummary,
  formatProgress,
  inBatches,
  lastPerKey,
  readLoadTarget,
  toRatingHalves,
  type LoadSummary,
} from '../../scripts/lib/load-dataset.ts';

describe('inBatches', () => {
  it('splits into full batches and a last partial one', () => {
    expect([...inBatches([1, 2, 3, 4, 5], 2)]).toEqual([[1, 2], [3, 4], [5]]);
  });

  it('yields nothing for nothing', () => {
    expect([...inBatches([], 3)]).toEqual([]);
  });

  it('pulls lazily from a generator', () => {
    let pulled = 0;
    function* numbers(): Generator<number> {
      for (let i = 0; i < 100; i++) {
        pulled++;
        yield i;
      }
    }
    const batches = inBatches(numbers(), 10);
    batches.next();
    expect(pulled).toBe(10);
  });
});

describe('toRatingHalves', () => {
  it('maps 0.5..5 stars in half steps to 1..10', () => {
    expect([0.5, 1, 3.5, 5].map(toRatingHalves)).toEqual([1, 2, 7, 10]);
  });

  it('rejects values outside the scale or between half steps', () => {
    expect([0, 5.5, 3.25, -1, Number.NaN].map(toRatingHalves)).toEqual([null, null, null, null, null]);
  });
});

describe('lastPerKey', () => {
  it('keeps the last item per key, in first-seen key order', () => {
    const items = [
      { key: 'a', value: 1 },
      { key: 'b', value: 2 },
      { key: 'a', value: 3 },
    ];
    expect(lastPerKey(items, (item) => item.key)).toEqual([
      { key: 'a', value: 3 },
      { key: 'b', value: 2 },
    ]);
  });
});

describe('creditRowsOf', () => {
  const movie: DatasetMovie = {
    key: 'syn:movie:1',
    title: 'T',
    year: 2000,
    genres: [],
    languages: [],
    runtimeMinutes: null,
    overview: null,
    imdbId: null,
    tmdbId: null,
    directorKeys: ['p1', 'p2'],
    cast: [
      { personKey: 'p3', character: 'Hero' },
      { personKey: 'missing', character: 'Ghost' },
      { personKey: 'p3', character: 'Hero again' },
      { personKey: 'p1', character: null },
    ],
    tags: [],
  };
  const people = new Map([
    ['p1', 11],
    ['p2', 12],
    ['p3', 13],
  ]);

  it('lists directors then cast with billing positions, once per person and role', () => {
    expect(creditRowsOf(movie, 7, people)).toEqual([
      { movieId: 7, personId: 11, role: 'DIRECTOR', character: null, position: 0 },
      { movieId: 7, personId: 12, role: 'DIRECTOR', character: null, position: 1 },
      { movieId: 7, personId: 13, role: 'ACTOR', character: 'Hero', position: 0 },
      { movieId: 7, personId: 11, role: 'ACTOR', character: null, position: 3 },
    ]);
  });
});

describe('fanOut', () => {
  const tick = (): Promise<void> => new Promise((resolve) => setTimeout(resolve, 1));

  it('gives every consumer every batch in order', async () => {
    const seen: number[][] = [[], []];
    const done = fanOut([1, 2, 3, 4], [async (n) => void seen[0]?.push(n), async (n) => void seen[1]?.push(n)], 2);
    await Promise.all(done);
    expect(seen).toEqual([
      [1, 2, 3, 4],
      [1, 2, 3, 4],
    ]);
  });

  it('lets the fast consumer finish first and keeps the producer at most maxQueued ahead of the slow one', async () => {
    let produced = 0;
    let slowConsumed = 0;
    let maxAhead = 0;
    function* batches(): Generator<number> {
      for (let i = 0; i < 20; i++) {
        produced++;
        maxAhead = Math.max(maxAhead, produced - slowConsumed);
        yield i;
      }
    }
    let fastFinishedWhileSlowAt = -1;
    const [fast, slow] = fanOut(
      batches(),
      [
        async () => {},
        async () => {
          for (let i = 0; i < 3; i++) await tick();
          slowConsumed++;
        },
      ],
      4,
    );
    void fast?.then(() => {
      fastFinishedWhileSlowAt = slowConsumed;
    });
    await Promise.all([fast, slow]);
    expect(slowConsumed).toBe(20);
    // The producer may hold one batch in hand beyond the queue while it waits.
    expect(maxAhead).toBeLessThanOrEqual(5);
    expect(fastFinishedWhileSlowAt).toBeLessThan(20);
  });

  it('stops producing when a consumer fails, and rejects every lane only after it has settled', async () => {
    let produced = 0;
    function* batches(): Generator<number> {
      for (let i = 0; i < 1000; i++) {
        produced++;
        yield i;
      }
    }
    let otherLaneRunning = false;
    const lanes = fanOut(
      batches(),
      [
        async (n) => {
          await tick();
          if (n === 2) throw new Error('boom');
        },
        async () => {
          otherLaneRunning = true;
          await tick();
          otherLaneRunning = false;
        },
      ],
      3,
    );
    const results = await Promise.allSettled(lanes);
    expect(results.map((result) => result.status)).toEqual(['rejected', 'rejected']);
    expect(results.map((result) => (result.status === 'rejected' ? (result.reason as Error).message : ''))).toEqual(['boom', 'boom']);
    expect(otherLaneRunning).toBe(false);
    expect(produced).toBeLessThan(20);
  });

  it('rejects every lane when the producer itself fails', async () => {
    function* batches(): Generator<number> {
      yield 1;
      throw new Error('bad row on line 7');
    }
    const results = await Promise.allSettled(fanOut(batches(), [async () => {}, async () => {}], 2));
    expect(results.map((result) => (result.status === 'rejected' ? (result.reason as Error).message : 'fulfilled'))).toEqual([
      'bad row on line 7',
      'bad row on line 7',
    ]);
  });
});

describe('readLoadTarget', () => {
  it('reads the PostgreSQL and Neo4j endpoints, defaulting the Neo4j user', () => {
    expect(readLoadTarget({ DATABASE_URL: 'postgres://db/x', NEO4J_URI: 'bolt://graph:7687', NEO4J_PASSWORD: 'secret123' })).toEqual({
      databaseUrl: 'postgres://db/x',
      neo4j: { uri: 'bolt://graph:7687', user: 'neo4j', password: 'secret123' },
    });
  });

  it('names the missing variable', () => {
    expect(() => readLoadTarget({ DATABASE_URL: 'postgres://db/x', NEO4J_URI: 'bolt://graph:7687' })).toThrow(ConfigError);
    expect(() => readLoadTarget({ DATABASE_URL: 'postgres://db/x', NEO4J_URI: 'bolt://graph:7687' })).toThrow(/NEO4J_PASSWORD/);
    expect(() => readLoadTarget({ DATABASE_URL: 'postgres://db/x', NEO4J_URI: 'http://graph', NEO4J_PASSWORD: 'x' })).toThrow(/NEO4J_URI/);
  });
});

describe('progress output', () => {
  it('formats counts with and without a known total', () => {
    expect(formatProgress({ phase: 'ratings → postgres', done: 45_000, total: 100_836 })).toBe('ratings → postgres 45,000 / 100,836 (44%)');
    expect(formatProgress({ phase: 'reactions → neo4j', done: 1_322, total: null })).toBe('reactions → neo4j 1,322');
    expect(formatProgress({ phase: 'credits', done: 0, total: 0 })).toBe('credits 0 / 0 (100%)');
  });

  it('rewrites one line on a terminal, throttled, showing every phase in progress', () => {
    let clock = 0;
    const written: string[] = [];
    const display = createProgressDisplay({ isTTY: true, write: (text: string) => written.push(text) }, () => clock);
    display.update({ phase: 'ratings → postgres', done: 0, total: 10 });
    clock = 50;
    display.update({ phase: 'ratings → neo4j', done: 0, total: 10 }); // throttled
    clock = 200;
    display.update({ phase: 'ratings → postgres', done: 5, total: 10 });
    display.update({ phase: 'ratings → postgres', done: 10, total: 10 }); // a finished phase always shows
    display.finish();
    display.finish();
    expect(written).toEqual([
      '\r\x1b[2Kratings → postgres 0 / 10 (0%)  [0.0 s]',
      '\r\x1b[2Kratings → postgres 5 / 10 (50%) | ratings → neo4j 0 / 10 (0%)  [0.2 s]',
      '\r\x1b[2Kratings → neo4j 0 / 10 (0%)  [0.2 s]',
      '\n',
    ]);
  });

  it('writes plain lines elsewhere: one per finished phase, the phases in progress every 5 s', () => {
    let clock = 0;
    const written: string[] = [];
    const display = createProgressDisplay({ isTTY: false, write: (text: string) => written.push(text) }, () => clock);
    display.update({ phase: 'movies', done: 0, total: 10 });
    clock = 1_000;
    display.update({ phase: 'movies', done: 10, total: 10 });
    display.update({ phase: 'ratings → postgres', done: 0, total: 100 });
    display.update({ phase: 'reactions → neo4j', done: 0, total: null });
    clock = 7_000;
    display.update({ phase: 'ratings → postgres', done: 60, total: 100 });
    display.update({ phase: 'reactions → neo4j', done: 30, total: null });
    display.update({ phase: 'ratings → postgres', done: 100, total: 100 });
    display.finish();
    expect(written).toEqual([
      'movies 10 / 10 (100%)  [1.0 s]\n',
      'ratings → postgres 60 / 100 (60%)  [7.0 s]\n',
      'reactions → neo4j 0  [7.0 s]\n',
      'ratings → postgres 100 / 100 (100%)  [7.0 s]\n',
      'reactions → neo4j 30  [7.0 s]\n',
    ]);
  });
});

describe('formatLoadSummary', () => {
  it('reports counts, changes, skips and phase timings', () => {
    const rows = (total: number, changed: number) => ({ total, changed });
    const summary: LoadSummary = {
      source: 'movielens',
      people: rows(0, 0),
      movies: rows(9742, 9742),
      credits: rows(0, 0),
      users: rows(610, 0),
      ratings: rows(100_836, 5),
      reactions: rows(0, 0),
      skipped: { unknownUser: 0, unknownMovie: 2, invalidRating: 1 },
      historyRows: 5,
      statsRecomputed: 4,
      analytics: { users: 610, movies: 9742, ratings: 100_836, reviews: 0, likes: 0, dislikes: 0, updatedAt: new Date(0) },
      timingsMs: { movies: 300, 'neo4j nodes': 1_250 },
      totalMs: 9_960,
    };
    expect(formatLoadSummary(summary).split('\n')).toEqual([
      'loaded movielens in 10.0 s: movies 9742 (9742 changed), people 0 (0 changed), credits 0 (0 changed), users 610 (0 changed), ratings 100836 (5 changed), reactions 0 (0 changed)',
      '  history rows 5, movie_stats recomputed 4, skipped 3 (unknown user 0, unknown movie 2, invalid rating 1)',
      '  phases: movies 0.3 s, neo4j nodes 1.3 s',
    ]);
  });
});
