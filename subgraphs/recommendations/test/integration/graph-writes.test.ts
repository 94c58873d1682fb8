import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import neo4j from 'neo4j-driver';
import {
  ensureGraphSchema,
  upsertGraphMovies,
  upsertGraphRatings,
  upsertGraphReactions,
  upsertGraphUsers,
  type GraphRating,
  type GraphReaction,
} from '../../src/graph.ts';
import { relationshipCounts, startTestGraph, uniqueIds, type TestGraph } from '../helpers/test-graph.ts';

let graph: TestGraph;

beforeAll(async () => {
  graph = await startTestGraph();
});

afterAll(async () => {
  await graph?.stop();
});

async function nodeCounts(movieIds: number[], userIds: string[]) {
  const { records } = await graph.driver.executeQuery(
    `RETURN COUNT { MATCH (m:Movie) WHERE m.id IN $movieIds } AS movies,
            COUNT { MATCH (u:User) WHERE u.id IN $userIds } AS users,
            COUNT { MATCH (m:Movie)-[:IN_GENRE]->(:Genre) WHERE m.id IN $movieIds } AS movieGenres`,
    { movieIds: movieIds.map((id) => neo4j.int(id)), userIds },
  );
  return records[0]?.toObject();
}

describe('ensureGraphSchema', () => {
  it('creates the uniqueness constraints and can run again', async () => {
    await ensureGraphSchema(graph.driver);
    await Promise.all([ensureGraphSchema(graph.driver), ensureGraphSchema(graph.driver)]);
    const { records } = await graph.driver.executeQuery(
      "SHOW CONSTRAINTS YIELD labelsOrTypes, properties, type WHERE type = 'UNIQUENESS' RETURN labelsOrTypes[0] + '.' + properties[0] AS key ORDER BY key",
    );
    expect(records.map((record) => record.get('key'))).toEqual(['ActiveModel.key', 'Genre.name', 'Movie.id', 'Person.id', 'RecommendationModel.version', 'User.id']);
  });
});

describe('batched writes', () => {
  it('are idempotent: the same batches applied twice leave the same graph', async () => {
    const ids = uniqueIds();
    const movies = [1, 2, 3].map((n) => ({ id: ids.movie(n), title: `Movie ${n}`, year: 2000 + n, genres: [ids.genre('Drama'), ids.genre(`G${n}`)] }));
    const users = ['a', 'b'].map((name) => ({ id: ids.user(name), favoriteGenres: [ids.genre('Drama')] }));
    const ratings: GraphRating[] = users.flatMap((user, u) => movies.map((movie, m) => ({ userId: user.id, movieId: movie.id, rating: 3 + ((u + m) % 3), at: 1_000 + m })));
    const reactions: GraphReaction[] = [
      { userId: users[0]!.id, movieId: movies[0]!.id, reaction: 'LIKE', at: 5_000 },
      { userId: users[1]!.id, movieId: movies[1]!.id, reaction: 'DISLIKE', at: 5_000 },
    ];
    const apply = async () => {
      await upsertGraphMovies(graph.driver, movies);
      await upsertGraphUsers(graph.driver, users);
      await upsertGraphRatings(graph.driver, ratings);
      await upsertGraphReactions(graph.driver, reactions);
    };
    const userIds = users.map((user) => user.id);
    const movieIds = movies.map((movie) => movie.id);

    await apply();
    const first = { nodes: await nodeCounts(movieIds, userIds), relationships: await relationshipCounts(graph.driver, userIds) };
    await apply();
    const second = { nodes: await nodeCounts(movieIds, userIds), relationships: await relationshipCounts(graph.driver, userIds) };

    expect(first).toEqual({
      nodes: { movies: 3, users: 2, movieGenres: 6 },
      relationships: { DISLIKED: 1, LIKED: 1, PREFERS: 2, RATED: 6 },
    });
    expect(second).toEqual(first);
  });

  it('stores ids and times as integers and ratings as floats', async () => {
    const ids = uniqueIds();
    await upsertGraphRatings(graph.driver, [{ userId: ids.user('a'), movieId: ids.movie(1), rating: 4, at: 1_700_000_000_123 }]);
    const { records } = await graph.driver.executeQuery(
      `MATCH (:User {id: $userId})-[r:RATED]->(m:Movie)
       RETURN valueType(m.id) AS idType, valueType(r.at) AS atType, valueType(r.rating) AS ratingType, m.id AS id, r.at AS at`,
      { userId: ids.user('a') },
    );
    expect(records[0]?.toObject()).toEqual({
      idType: 'INTEGER NOT NULL',
      atType: 'INTEGER NOT NULL',
      ratingType: 'FLOAT NOT NULL',
      id: ids.movie(1),
      at: 1_700_000_000_123,
    });
  });

  it('keeps the latest rating whatever order the events arrive in', async () => {
    const ids = uniqueIds();
    const rate = (rating: number, at: number): GraphRating => ({ userId: ids.user('a'), movieId: ids.movie(1), rating, at });
    await upsertGraphRatings(graph.driver, [rate(2, 2_000)]);
    await upsertGraphRatings(graph.driver, [rate(5, 1_000)]); // a late replay of an older rating
    await upsertGraphRatings(graph.driver, [rate(3.5, 3_000), rate(1, 2_500)]); // two in one batch
    const { records } = await graph.driver.executeQuery('MATCH (:User {id: $userId})-[r:RATED]->() RETURN r.rating AS rating, r.at AS at', {
      userId: ids.user('a'),
    });
    expect(records.map((record) => record.toObject())).toEqual([{ rating: 3.5, at: 3_000 }]);
  });

  it('replaces a DISLIKE by a later LIKE and vice versa, but not by an older one', async () => {
    const ids = uniqueIds();
    const userId = ids.user('a');
    const react = (reaction: GraphReaction['reaction'], at: number): GraphReaction => ({ userId, movieId: ids.movie(1), reaction, at });
    const reactions = async () => {
      const { records } = await graph.driver.executeQuery('MATCH (:User {id: $userId})-[r:LIKED|DISLIKED]->() RETURN type(r) AS type, r.at AS at', { userId });
      return records.map((record) => record.toObject());
    };

    await upsertGraphReactions(graph.driver, [react('DISLIKE', 1_000)]);
    expect(await reactions()).toEqual([{ type: 'DISLIKED', at: 1_000 }]);
    await upsertGraphReactions(graph.driver, [react('LIKE', 2_000)]);
    expect(await reactions()).toEqual([{ type: 'LIKED', at: 2_000 }]);
    await upsertGraphReactions(graph.driver, [react('DISLIKE', 1_500)]); // older: ignored
    expect(await reactions()).toEqual([{ type: 'LIKED', at: 2_000 }]);
    await upsertGraphReactions(graph.driver, [react('LIKE', 2_000)]); // replay: no change
    expect(await reactions()).toEqual([{ type: 'LIKED', at: 2_000 }]);
    await upsertGraphReactions(graph.driver, [react('LIKE', 3_000), react('DISLIKE', 4_000)]); // latest of a batch wins
    expect(await reactions()).toEqual([{ type: 'DISLIKED', at: 4_000 }]);
  });

  it('makes genre edges and favourite genres follow the latest lists', async () => {
    const ids = uniqueIds();
    const [drama, crime, comedy] = [ids.genre('Drama'), ids.genre('Crime'), ids.genre('Comedy')];
    await upsertGraphMovies(graph.driver, [{ id: ids.movie(1), title: 'Heat', year: 1995, genres: [drama, crime] }]);
    await upsertGraphMovies(graph.driver, [{ id: ids.movie(1), title: 'Heat (1995)', year: null, genres: [crime, comedy] }]);
    await upsertGraphUsers(graph.driver, [{ id: ids.user('a'), favoriteGenres: [drama, crime] }]);
    await upsertGraphUsers(graph.driver, [{ id: ids.user('a'), favoriteGenres: [comedy] }]);

    const { records } = await graph.driver.executeQuery(
      `MATCH (m:Movie {id: $movieId}), (u:User {id: $userId})
       RETURN m.title AS title, m.year AS year, m.genres AS genres,
              COLLECT { MATCH (m)-[:IN_GENRE]->(g) RETURN g.name ORDER BY g.name } AS linked,
              COLLECT { MATCH (u)-[:PREFERS]->(g) RETURN g.name } AS preferred`,
      { movieId: neo4j.int(ids.movie(1)), userId: ids.user('a') },
    );
    expect(records[0]?.toObject()).toEqual({
      title: 'Heat (1995)',
      year: null,
      genres: [crime, comedy],
      linked: [comedy, crime].sort(),
      preferred: [comedy],
    });
  });

  it('splits batches larger than one transaction', async () => {
    const ids = uniqueIds();
    const ratings: GraphRating[] = Array.from({ length: 12_345 }, (_, index) => ({
      userId: ids.user(String(index % 100)),
      movieId: ids.movie(Math.floor(index / 100)),
      rating: 4,
      at: index,
    }));
    await upsertGraphRatings(graph.driver, ratings);
    const counts = await relationshipCounts(graph.driver, [...new Set(ratings.map((rating) => rating.userId))]);
    expect(counts).toEqual({ RATED: 12_345 });
  });
});
