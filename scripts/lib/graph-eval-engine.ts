import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connectNeo4j, createLogger, type Driver } from '@platform/shared';
import { ensureGraphSchema, upsertGraphRatings } from '../../subgraphs/recommendations/src/graph.ts';
import { buildModelNow } from '../../subgraphs/recommendations/src/model/builder.ts';
import type { RatingRow, RecommenderEngine } from '../../subgraphs/recommendations/src/model/evaluation.ts';
import { createModelRecommender, type ModelRecommender } from '../../subgraphs/recommendations/src/model/model-recommender.ts';
import type { ModelParameters } from '../../subgraphs/recommendations/src/model/similarity.ts';
import { startNeo4j, type RunningNeo4j } from './neo4j.ts';

// The evaluation through the production path: the training ratings go into an ephemeral Neo4j of
// their own (Community edition has one database, so isolation means a separate instance) with the
// like-graph's write code, the model is built by the production builder (worker thread, SIMILAR
// edges, activation), and each test user's list comes from the production recommender.

export interface GraphEngineSettings {
  similarity: ModelParameters;
  profileItems: number;
  log?: (message: string) => void;
}

const evaluationModelKey = 'eval';

export function createGraphEngine(settings: GraphEngineSettings): RecommenderEngine & { buildMs?: number } {
  const log = settings.log ?? (() => {});
  let home: string | null = null;
  let neo4j: RunningNeo4j | null = null;
  let driver: Driver | null = null;
  let recommender: ModelRecommender | null = null;
  const engine: RecommenderEngine & { buildMs?: number } = {
    name: 'graph',
    async train(rows: readonly RatingRow[]) {
      home = await mkdtemp(join(tmpdir(), 'eval-recs-neo4j-'));
      log(`starting an ephemeral Neo4j in ${home}`);
      neo4j = await startNeo4j({ home, heapMb: 1024, pageCacheMb: 512 });
      driver = connectNeo4j({ uri: neo4j.uri, user: neo4j.user, password: neo4j.password });
      await ensureGraphSchema(driver);
      log(`loading ${rows.length} training ratings into the graph`);
      await upsertGraphRatings(
        driver,
        rows.map((row) => ({ userId: row.userId, movieId: row.movieId, rating: row.rating, at: row.timestamp * 1000 })),
      );
      const summary = await buildModelNow(driver, { modelKey: evaluationModelKey, similarity: settings.similarity });
      engine.buildMs = Object.values(summary.phaseMillis).reduce((sum, ms) => sum + ms, 0);
      log(`model built: ${JSON.stringify(summary.phaseMillis)} ms per phase`);
      recommender = createModelRecommender(driver, createLogger('eval-recs', { level: 'warn' }), {
        modelKey: evaluationModelKey,
        maxProfileItems: settings.profileItems,
        // Movies without training ratings can never be relevant offline; they would only take places.
        mixInNewMovies: false,
      });
      await recommender.preload();
    },
    async recommend(userId: string, k: number) {
      if (!recommender) throw new Error('train() first');
      return (await recommender.forUser(userId, k)).map((item) => item.movieId);
    },
    async close() {
      await driver?.close();
      await neo4j?.stop();
      if (home) await rm(home, { recursive: true, force: true });
    },
  };
  return engine;
}
