import { randomUUID } from 'node:crypto';
import neo4j from 'neo4j-driver';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '@platform/shared';
import { pollUntil } from '@platform/shared/testing';
import { upsertGraphMovies, upsertGraphRatings, upsertGraphReactions, type GraphRating, type GraphReaction } from '../../src/graph.ts';
import { BuildAlreadyRunningError, buildModelNow, createModelBuilder, type ModelBuilder } from '../../src/model/builder.ts';
import { createModelRecommender } from '../../src/model/model-recommender.ts';
import { computeSimilarities, type TrainingInteraction } from '../../src/model/similarity.ts';
import { beginBuild, listModels, readActiveModel, readModel, retireOldVersions } from '../../src/model/store.ts';
import { startTestGraph, uniqueIds, type TestGraph } from '../helpers/test-graph.ts';

// The model's life cycle on a real Neo4j: build, activation, retirement, failures, concurrency.
// Every test uses a model key of its own (the active-model pointer is per key) and ids of its own;
// the graph is this file's private one, so a build reads only what these tests wrote.

const quietLogger = createLogger('model-builder-test', { sink: () => {} });
let graph: TestGraph;

beforeAll(async () => {
  graph = await startTestGraph();
});

afterAll(async () => {
  await graph?.stop();
});

const newKey = () => `test-${randomUUID().slice(0, 8)}`;

/** A promise the test resolves by hand, to hold a build just before its activation. */
function gate() {
  let open!: () => void;
  let reached!: (version: string) => void;
  const opened = new Promise<void>((resolve) => (open = resolve));
  const arrived = new Promise<string>((resolve) => (reached = resolve));
  return {
    open,
    arrived,
    hook: async (version: string) => {
      reached(version);
      await opened;
    },
  };
}

/**
 * A small world of five movies: fans of 1 also love 2 and 3; 4 and 5 go together. Written to
 * the graph and returned as the training interactions the model must learn from.
 */
async function writeWorld(ids: ReturnType<typeof uniqueIds>): Promise<TrainingInteraction[]> {
  await upsertGraphMovies(
    graph.driver,
    [1, 2, 3, 4, 5].map((n) => ({ id: ids.movie(n), title: `Movie ${n}`, year: 2000, genres: [ids.genre(n <= 3 ? 'a' : 'b')] })),
  );
  const ratings: GraphRating[] = [
    ['u1', 1, 5], ['u1', 2, 5], ['u1', 3, 4],
    ['u2', 1, 4], ['u2', 2, 4.5],
    ['u3', 1, 5], ['u3', 3, 5], ['u3', 4, 1],
    ['u4', 4, 5], ['u4', 5, 4],
    ['u5', 4, 4], ['u5', 5, 5], ['u5', 2, 2],
  ].map(([user, movie, rating], index) => ({ userId: ids.user(user as string), movieId: ids.movie(movie as number), rating: rating as number, at: 1_700_000_000_000 + index }));
  const reactions: GraphReaction[] = [
    { userId: ids.user('u6'), movieId: ids.movie(2), reaction: 'LIKE', at: 1_700_000_001_000 },
    { userId: ids.user('u6'), movieId: ids.movie(3), reaction: 'LIKE', at: 1_700_000_001_001 },
    { userId: ids.user('u2'), movieId: ids.movie(5), reaction: 'DISLIKE', at: 1_700_000_001_002 },
  ];
  await upsertGraphRatings(graph.driver, ratings);
  await upsertGraphReactions(graph.driver, reactions);
  const byPair = new Map<string, TrainingInteraction>();
  for (const rating of ratings) byPair.set(`${rating.userId}:${rating.movieId}`, { ...rating, reaction: null });
  for (const reaction of reactions) {
    const key = `${reaction.userId}:${reaction.movieId}`;
    const entry = byPair.get(key) ?? { userId: reaction.userId, movieId: reaction.movieId, rating: null, reaction: null, at: 0 };
    byPair.set(key, { ...entry, reaction: reaction.reaction, at: Math.max(entry.at, reaction.at) });
  }
  return [...byPair.values()];
}

/** The SIMILAR edges of `version` leaving the given movies, as "from>to" → score. */
async function edgesOf(version: string, movieIds: number[]): Promise<Map<string, number>> {
  const { records } = await graph.driver.executeQuery(
    `MATCH (a:Movie)-[s:SIMILAR]->(b:Movie) WHERE s.model = $version AND a.id IN $movieIds
     RETURN a.id AS from, b.id AS to, s.score AS score`,
    { version, movieIds: movieIds.map((id) => neo4j.int(id)) },
  );
  return new Map(records.map((record) => [`${record.get('from')}>${record.get('to')}`, record.get('score') as number]));
}

async function edgeCount(version: string): Promise<number> {
  const { records } = await graph.driver.executeQuery('MATCH ()-[s:SIMILAR]->() WHERE s.model = $version RETURN count(s) AS n', { version });
  return records[0]?.get('n') as number;
}

describe('a build', () => {
  it('writes the top-k neighbours the algorithm computes as SIMILAR edges of a new version and activates it', async () => {
    const ids = uniqueIds();
    const key = newKey();
    const interactions = await writeWorld(ids);
    const progress: string[] = [];

    const summary = await buildModelNow(graph.driver, { modelKey: key, onProgress: (update) => progress.push(update.phase) });

    const expected = computeSimilarities(interactions);
    const expectedEdges = new Map([...expected.neighbours].flatMap(([from, list]) => list.map((neighbour) => [`${from}>${neighbour.movieId}`, neighbour.score] as const)));
    expect(expectedEdges.size).toBeGreaterThan(0);
    const written = await edgesOf(summary.model.version, [1, 2, 3, 4, 5].map(ids.movie));
    expect([...written.keys()].sort()).toEqual([...expectedEdges.keys()].sort());
    for (const [edge, score] of expectedEdges) expect(written.get(edge)).toBeCloseTo(score, 12);

    expect(summary.model).toMatchObject({ key, status: 'READY', phase: 'DONE', progress: 1, active: true, error: null });
    expect(summary.model.version.startsWith(`${key}-`)).toBe(true);
    // The graph holds this file's other tests' data too: the counts are at least this world's.
    expect(summary.model.similarityEdges).toBeGreaterThanOrEqual(expectedEdges.size);
    expect(summary.model.users).toBeGreaterThanOrEqual(expected.users);
    expect(summary.model.movies).toBeGreaterThanOrEqual(5);
    expect(summary.model.buildMillis).toBeGreaterThan(0);
    expect(Object.keys(summary.phaseMillis)).toEqual(['read', 'compute', 'write', 'activate']);
    expect(progress).toEqual(expect.arrayContaining(['READING', 'COMPUTING', 'WRITING', 'ACTIVATING', 'DONE']));

    expect(await readActiveModel(graph.driver, key)).toEqual(summary.model);
    const { records } = await graph.driver.executeQuery(
      `MATCH (:ActiveModel {key: $key})-[:ACTIVE]->(model:RecommendationModel)
       RETURN model.maxMovieId AS maxMovieId, model.popularMovieIds AS popular, model.parameters AS parameters`,
      { key },
    );
    expect(records[0]?.get('maxMovieId')).toBeGreaterThanOrEqual(ids.movie(5));
    expect(JSON.parse(records[0]?.get('parameters') as string)).toEqual(expected.parameters);
  });

  it('keeps serving the previous version until the flip, then serves the new one; old edges go after the grace period', async () => {
    const ids = uniqueIds();
    const key = newKey();
    await writeWorld(ids);
    const first = await buildModelNow(graph.driver, { modelKey: key });
    // Readers standing for other processes: one that trusts the version it read for a minute,
    // one that reads the pointer for every request.
    const reader = createModelRecommender(graph.driver, quietLogger, { modelKey: key, activeVersionTtlMs: 60_000 });
    const eagerReader = createModelRecommender(graph.driver, quietLogger, { modelKey: key, activeVersionTtlMs: 0 });
    const collaborativeOf1 = async (recommender: typeof reader) =>
      ((await recommender.similarMovies([ids.movie(1)], 10)).get(ids.movie(1)) ?? []).filter((item) => item.source === 'COLLABORATIVE').map((item) => item.movieId);
    const neighboursOf1 = () => collaborativeOf1(reader);
    const before = await neighboursOf1();
    expect(before).not.toContain(ids.movie(6));

    // A new movie that fans of 1 love: the next model makes it a neighbour of 1.
    await upsertGraphMovies(graph.driver, [{ id: ids.movie(6), title: 'Movie 6', year: 2001, genres: [ids.genre('a')] }]);
    await upsertGraphRatings(
      graph.driver,
      ['u1', 'u2', 'u3'].map((user, index) => ({ userId: ids.user(user), movieId: ids.movie(6), rating: 5, at: 1_800_000_000_000 + index })),
    );
    const held = gate();
    const builder = createModelBuilder(graph.driver, quietLogger, { modelKey: key, retireAfterMs: 3_600_000, hooks: { beforeActivate: held.hook } });
    try {
      const building = await builder.rebuild();
      expect(building).toMatchObject({ status: 'BUILDING', active: false });
      const version = await held.arrived;
      expect(version).toBe(building.version);

      // Written but not active: readers still get the first version's answer.
      expect(await edgeCount(version)).toBeGreaterThan(0);
      expect(await neighboursOf1()).toEqual(before);
      expect((await readActiveModel(graph.driver, key))?.version).toBe(first.model.version);

      held.open();
      await builder.idle();
      expect(await collaborativeOf1(eagerReader)).toContain(ids.movie(6));
      // The trusting reader still answers from the first version (whose edges stay for the grace
      // period) until it reads the pointer again: preload() after an activation, forUser, or its TTL.
      expect(await neighboursOf1()).toEqual(before);
      expect(await reader.preload()).toBe(true);
      expect(await neighboursOf1()).toContain(ids.movie(6));
      expect(await readActiveModel(graph.driver, key)).toMatchObject({ version, status: 'READY', active: true });
      expect(await readModel(graph.driver, first.model.version)).toMatchObject({ status: 'READY', active: false });

      // Still inside the grace period: the superseded version keeps its edges.
      expect((await retireOldVersions(graph.driver, key, { graceMs: 60_000 })).versions).toEqual([]);
      expect(await edgeCount(first.model.version)).toBeGreaterThan(0);
      const retired = await retireOldVersions(graph.driver, key, { graceMs: 0 });
      expect(retired.versions).toEqual([first.model.version]);
      expect(retired.edgesDeleted).toBe(first.model.similarityEdges);
      expect(await edgeCount(first.model.version)).toBe(0);
      expect(await edgeCount(version)).toBeGreaterThan(0);
      expect(await neighboursOf1()).toContain(ids.movie(6));
    } finally {
      held.open();
      await builder.stop();
    }
  });

  it('that fails leaves the active model serving, records the error, and its edges are removed later', async () => {
    const ids = uniqueIds();
    const key = newKey();
    await writeWorld(ids);
    const first = await buildModelNow(graph.driver, { modelKey: key });

    const failing = buildModelNow(graph.driver, {
      modelKey: key,
      hooks: {
        beforeActivate: async () => {
          throw new Error('simulated failure before activation');
        },
      },
    });
    await expect(failing).rejects.toThrow('simulated failure before activation');

    const [failed] = await listModels(graph.driver, key, 1);
    expect(failed).toMatchObject({ status: 'FAILED', phase: 'FAILED', active: false, error: 'simulated failure before activation' });
    expect(await readActiveModel(graph.driver, key)).toMatchObject({ version: first.model.version, status: 'READY' });
    expect(await edgeCount(failed!.version)).toBeGreaterThan(0);

    const retired = await retireOldVersions(graph.driver, key, { graceMs: 0 });
    expect(retired.versions).toEqual([failed!.version]);
    expect(await edgeCount(failed!.version)).toBe(0);
    expect(await edgeCount(first.model.version)).toBeGreaterThan(0);
  });
});

describe('automatic builds', () => {
  it('build at start only when no model is active, and again once the active one is older than the interval', async () => {
    const ids = uniqueIds();
    const key = newKey();
    await writeWorld(ids);
    const first = createModelBuilder(graph.driver, quietLogger, { modelKey: key, rebuildEveryMs: 3_600_000 });
    try {
      first.start();
      const built = await pollUntil(() => readActiveModel(graph.driver, key));
      await first.idle();
      expect(built.status).toBe('READY');
    } finally {
      await first.stop();
    }

    // The model is older than the interval (as if built yesterday): a start builds nothing, the
    // first scheduled tick rebuilds.
    await graph.driver.executeQuery('MATCH (model:RecommendationModel {key: $key}) SET model.finishedAt = model.finishedAt - 86400000', { key });
    const second = createModelBuilder(graph.driver, quietLogger, { modelKey: key, rebuildEveryMs: 1_000 });
    try {
      second.start();
      expect(second.running()).toBeNull();
      const rebuilt = await pollUntil(async () => {
        const active = await readActiveModel(graph.driver, key);
        return active && active.version !== (await listModels(graph.driver, key, 10)).at(-1)?.version ? active : null;
      });
      expect(rebuilt.status).toBe('READY');
    } finally {
      await second.stop();
    }
  });
});

describe('one build at a time', () => {
  let builders: ModelBuilder[] = [];
  afterAll(async () => {
    await Promise.all(builders.map((builder) => builder.stop()));
  });

  it('returns the running build to a second request, in this process and from another one', async () => {
    const ids = uniqueIds();
    const key = newKey();
    await writeWorld(ids);
    const held = gate();
    const here = createModelBuilder(graph.driver, quietLogger, { modelKey: key, hooks: { beforeActivate: held.hook } });
    const elsewhere = createModelBuilder(graph.driver, quietLogger, { modelKey: key });
    builders = [here, elsewhere];

    const [a, b] = await Promise.all([here.rebuild(), here.rebuild()]);
    expect(b.version).toBe(a.version);
    expect(a.status).toBe('BUILDING');
    await held.arrived;
    expect((await here.rebuild()).version).toBe(a.version);
    // A second process: the graph's lock finds the running build.
    expect(await elsewhere.rebuild()).toMatchObject({ version: a.version, status: 'BUILDING' });
    expect(elsewhere.running()).toBeNull();
    await expect(buildModelNow(graph.driver, { modelKey: key })).rejects.toBeInstanceOf(BuildAlreadyRunningError);

    held.open();
    await here.idle();
    expect(await readActiveModel(graph.driver, key)).toMatchObject({ version: a.version, status: 'READY' });
    expect(await listModels(graph.driver, key, 10)).toHaveLength(1);

    // Once it is done, a new request starts a new build.
    const next = await here.rebuild();
    expect(next.version).not.toBe(a.version);
    await here.idle();
  });

  it('treats a build whose heartbeat stopped as abandoned and starts a new one', async () => {
    const key = newKey();
    const now = Date.now();
    const crashed = await beginBuild(graph.driver, { key, version: `${key}-crashed`, now: now - 120_000, staleAfterMs: 60_000 });
    expect(crashed.started).toBe(true);
    const fresh = await beginBuild(graph.driver, { key, version: `${key}-fresh`, now, staleAfterMs: 60_000 });
    expect(fresh).toMatchObject({ started: true, model: { version: `${key}-fresh`, status: 'BUILDING' } });
    expect(await readModel(graph.driver, `${key}-crashed`)).toMatchObject({ status: 'FAILED', error: expect.stringMatching(/^abandoned/) });
    // And the fresh one, heartbeat current, blocks the next.
    const third = await beginBuild(graph.driver, { key, version: `${key}-third`, now: now + 1_000, staleAfterMs: 60_000 });
    expect(third).toMatchObject({ started: false, model: { version: `${key}-fresh` } });
  });

  it('stops a running build when the process stops, recording it as FAILED', async () => {
    const ids = uniqueIds();
    const key = newKey();
    await writeWorld(ids);
    const held = gate();
    const builder = createModelBuilder(graph.driver, quietLogger, { modelKey: key, hooks: { beforeActivate: held.hook } });
    const building = await builder.rebuild();
    await held.arrived;
    const stopping = builder.stop();
    held.open();
    await stopping;
    expect(await readModel(graph.driver, building.version)).toMatchObject({ status: 'FAILED', error: 'interrupted: the process is stopping' });
    expect(await readActiveModel(graph.driver, key)).toBeNull();
  });
});
