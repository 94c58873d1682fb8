import { describe, expect, it } from 'vitest';
import type { Dataset, DatasetRating, DatasetReaction } from '../../scripts/lib/dataset.ts';
import { generateSyntheticDataset, MOVIELENS_GENRES } from '../../scripts/lib/synthetic.ts';

const NOW = new Date('2025-06-01T00:00:00Z');
const DAY_MS = 86_400_000;

function collect<T>(items: Iterable<T>): T[] {
  return [...items];
}

function mean(values: readonly number[]): number {
  return values.reduce((sum, value) => sum + value, 0) / values.length;
}

// One medium dataset shared by the statistical tests: large enough for the shape of the
// distributions to be stable, small enough to generate in a few tens of milliseconds.
const dataset = generateSyntheticDataset({ seed: 2024, users: 600, movies: 800, ratingsPerUser: 50, now: NOW });
const ratings = collect(dataset.ratings());
const reactions = collect(dataset.reactions());

describe('generateSyntheticDataset: determinism', () => {
  it('produces identical output for the same seed', () => {
    const options = { seed: 99, users: 120, movies: 300, ratingsPerUser: 25, now: NOW };
    const first = generateSyntheticDataset(options);
    const second = generateSyntheticDataset(options);
    expect(second.people).toEqual(first.people);
    expect(second.movies).toEqual(first.movies);
    expect(second.users).toEqual(first.users);
    expect(second.ratingCount).toBe(first.ratingCount);
    expect(collect(second.ratings())).toEqual(collect(first.ratings()));
    expect(collect(second.reactions())).toEqual(collect(first.reactions()));
  });

  it('produces different output for a different seed', () => {
    const options = { users: 120, movies: 300, ratingsPerUser: 25, now: NOW };
    const first = generateSyntheticDataset({ ...options, seed: 1 });
    const second = generateSyntheticDataset({ ...options, seed: 2 });
    expect(second.movies.map((movie) => movie.title)).not.toEqual(first.movies.map((movie) => movie.title));
    expect(collect(second.ratings())).not.toEqual(collect(first.ratings()));
  });

  it('yields the same ratings on every iteration, including of the same iterable', () => {
    const iterable = dataset.ratings();
    const once = collect(iterable);
    expect(collect(iterable)).toEqual(once);
    expect(collect(dataset.ratings())).toEqual(once);
    expect(collect(dataset.reactions())).toEqual(reactions);
  });

  it('keeps the catalogue independent of the number of users', () => {
    const few = generateSyntheticDataset({ seed: 5, users: 10, movies: 200, now: NOW });
    const many = generateSyntheticDataset({ seed: 5, users: 500, movies: 200, now: NOW });
    expect(many.movies).toEqual(few.movies);
  });
});

describe('generateSyntheticDataset: counts and shapes', () => {
  it('has the requested sizes and an exact ratingCount', () => {
    expect(dataset.source).toBe('synthetic');
    expect(dataset.users).toHaveLength(600);
    expect(dataset.movies).toHaveLength(800);
    expect(dataset.ratingCount).toBe(ratings.length);
    // ratingsPerUser is a mean of a long-tailed distribution, so allow some slack.
    expect(ratings.length / dataset.users.length).toBeGreaterThan(40);
    expect(ratings.length / dataset.users.length).toBeLessThan(60);
  });

  it('defaults to a quick demo size', () => {
    const demo = generateSyntheticDataset({ now: NOW });
    expect(demo.users).toHaveLength(300);
    expect(demo.movies).toHaveLength(1000);
    expect(demo.ratingCount).toBeGreaterThan(300 * 45);
    expect(demo.ratingCount).toBeLessThan(300 * 75);
  });

  it('uses unique, stable natural keys', () => {
    const movieKeys = dataset.movies.map((movie) => movie.key);
    const userKeys = dataset.users.map((user) => user.key);
    const personKeys = dataset.people.map((person) => person.key);
    expect(new Set(movieKeys).size).toBe(movieKeys.length);
    expect(new Set(userKeys).size).toBe(userKeys.length);
    expect(new Set(personKeys).size).toBe(personKeys.length);
    expect(movieKeys[0]).toBe('syn:movie:1');
    expect(userKeys[0]).toBe('syn:user:1');
    expect(personKeys[0]).toBe('syn:person:1');
  });

  it('builds a plausible catalogue', () => {
    const genres = new Set<string>(MOVIELENS_GENRES);
    const personKeys = new Set(dataset.people.map((person) => person.key));
    const imdbIds = new Set<string>();
    for (const movie of dataset.movies) {
      expect(movie.title.length).toBeGreaterThan(0);
      expect(movie.overview).toMatch(/^[A-Z].+\.$/);
      expect(movie.genres.length).toBeGreaterThanOrEqual(1);
      expect(movie.genres.length).toBeLessThanOrEqual(3);
      expect(new Set(movie.genres).size).toBe(movie.genres.length);
      for (const genre of movie.genres) expect(genres.has(genre)).toBe(true);
      expect(movie.year).toBeGreaterThanOrEqual(1930);
      expect(movie.year).toBeLessThanOrEqual(2025);
      if (movie.runtimeMinutes !== null) {
        expect(movie.runtimeMinutes).toBeGreaterThanOrEqual(60);
        expect(movie.runtimeMinutes).toBeLessThanOrEqual(240);
      }
      expect(movie.languages.length).toBeGreaterThanOrEqual(1);
      expect(movie.imdbId).toMatch(/^tt\d{7}$/);
      expect(movie.tmdbId).toMatch(/^\d+$/);
      imdbIds.add(movie.imdbId as string);
      expect(movie.directorKeys.length).toBeGreaterThanOrEqual(1);
      for (const key of movie.directorKeys) expect(personKeys.has(key)).toBe(true);
      const castKeys = movie.cast.map((member) => member.personKey);
      expect(new Set(castKeys).size).toBe(castKeys.length);
      for (const key of castKeys) expect(personKeys.has(key)).toBe(true);
      for (const tag of movie.tags) expect(tag).toBe(tag.toLowerCase());
    }
    expect(imdbIds.size).toBe(dataset.movies.length);

    const english = dataset.movies.filter((movie) => movie.languages[0] === 'en').length;
    expect(english / dataset.movies.length).toBeGreaterThan(0.6);
    expect(english).toBeLessThan(dataset.movies.length);
    const years = dataset.movies.map((movie) => movie.year as number).sort((a, b) => a - b);
    // Skewed towards recent years: the median is well after the midpoint of 1930..2025.
    expect(years[Math.floor(years.length / 2)]).toBeGreaterThan(1985);
    const castWithCharacters = dataset.movies.flatMap((movie) => movie.cast).filter((member) => member.character !== null);
    expect(castWithCharacters.length).toBeGreaterThan(dataset.movies.length);
    expect(new Set(dataset.movies.map((movie) => movie.title)).size).toBeGreaterThan(dataset.movies.length * 0.7);
  });

  it('creates valid users with favourite genres and sign-up dates in the past two years', () => {
    const usernames = dataset.users.map((user) => user.username);
    expect(new Set(usernames).size).toBe(usernames.length);
    for (const user of dataset.users) {
      expect(user.username).toMatch(/^[a-z0-9_]{3,32}$/);
      expect(user.favoriteGenres.length).toBeGreaterThanOrEqual(1);
      for (const genre of user.favoriteGenres) expect(MOVIELENS_GENRES).toContain(genre);
      expect(user.createdAt.getTime()).toBeLessThan(NOW.getTime());
      expect(user.createdAt.getTime()).toBeGreaterThanOrEqual(NOW.getTime() - 731 * DAY_MS);
    }
  });

  it('rejects invalid options', () => {
    expect(() => generateSyntheticDataset({ users: -1 })).toThrow(RangeError);
    expect(() => generateSyntheticDataset({ movies: 1.5 })).toThrow(RangeError);
    expect(() => generateSyntheticDataset({ ratingsPerUser: Number.NaN })).toThrow(RangeError);
    expect(() => generateSyntheticDataset({ now: new Date('invalid') })).toThrow(RangeError);
  });

  it('handles degenerate sizes', () => {
    const empty = generateSyntheticDataset({ users: 0, movies: 0, people: 0, now: NOW });
    expect(empty.ratingCount).toBe(0);
    expect(collect(empty.ratings())).toEqual([]);
    const tiny = generateSyntheticDataset({ users: 5, movies: 3, people: 2, ratingsPerUser: 50, now: NOW });
    const tinyRatings = collect(tiny.ratings());
    expect(tinyRatings).toHaveLength(tiny.ratingCount as number);
    expect(new Set(tinyRatings.map((rating) => `${rating.userKey} ${rating.movieKey}`)).size).toBe(tinyRatings.length);
  });
});

describe('generateSyntheticDataset: ratings', () => {
  it('has values from 0.5 to 5.0 in steps of 0.5, with a realistic spread', () => {
    const invalid = ratings.filter((rating) => rating.rating < 0.5 || rating.rating > 5 || !Number.isInteger(rating.rating * 2));
    expect(invalid).toEqual([]);
    const average = mean(ratings.map((rating) => rating.rating));
    expect(average).toBeGreaterThan(3.2);
    expect(average).toBeLessThan(3.9);
    const distinctValues = new Set(ratings.map((rating) => rating.rating));
    expect(distinctValues.size).toBeGreaterThanOrEqual(9);
  });

  it('never has a user rate the same movie twice', () => {
    const pairs = new Set(ratings.map((rating) => `${rating.userKey} ${rating.movieKey}`));
    expect(pairs.size).toBe(ratings.length);
  });

  it('refers only to existing users and movies, after sign-up and never in the future', () => {
    const createdAt = new Map(dataset.users.map((user) => [user.key, user.createdAt.getTime()]));
    const movieYears = new Map(dataset.movies.map((movie) => [movie.key, movie.year as number]));
    // Collected rather than asserted one by one: tens of thousands of expect() calls are slow.
    const invalid = ratings.filter((rating) => {
      const signUp = createdAt.get(rating.userKey);
      const year = movieYears.get(rating.movieKey);
      if (signUp === undefined || year === undefined) return true;
      const at = rating.at.getTime();
      return !(at > signUp) || at > NOW.getTime() || rating.at.getUTCFullYear() < year;
    });
    expect(invalid).toEqual([]);
  });

  it('has long-tail movie popularity', () => {
    const perMovie = new Map<string, number>();
    for (const rating of ratings) perMovie.set(rating.movieKey, (perMovie.get(rating.movieKey) ?? 0) + 1);
    const counts = dataset.movies.map((movie) => perMovie.get(movie.key) ?? 0).sort((a, b) => b - a);
    const topTenPercent = counts.slice(0, Math.ceil(counts.length / 10)).reduce((sum, count) => sum + count, 0);
    expect(topTenPercent / ratings.length).toBeGreaterThan(0.4);
    const median = counts[Math.floor(counts.length / 2)] as number;
    expect(counts[0]).toBeGreaterThan(median * 10);
  });

  it('has long-tail user activity', () => {
    const perUser = new Map<string, number>();
    for (const rating of ratings) perUser.set(rating.userKey, (perUser.get(rating.userKey) ?? 0) + 1);
    const counts = [...perUser.values()].sort((a, b) => b - a);
    const median = counts[Math.floor(counts.length / 2)] as number;
    expect(counts[0]).toBeGreaterThan(median * 4);
    expect(mean(counts)).toBeGreaterThan(median);
  });

  it('rates movies in a user’s favourite genres higher', () => {
    const favorites = new Map(dataset.users.map((user) => [user.key, new Set(user.favoriteGenres)]));
    const genresByMovie = new Map(dataset.movies.map((movie) => [movie.key, movie.genres]));
    const favoriteRatings: number[] = [];
    const otherRatings: number[] = [];
    for (const rating of ratings) {
      const userFavorites = favorites.get(rating.userKey) as Set<string>;
      const genres = genresByMovie.get(rating.movieKey) as string[];
      (genres.some((genre) => userFavorites.has(genre)) ? favoriteRatings : otherRatings).push(rating.rating);
    }
    expect(mean(favoriteRatings) - mean(otherRatings)).toBeGreaterThan(0.3);
  });

  it('groups users into taste clusters visible in what they watch', () => {
    // Users who share a top favourite genre rate it more often than the population does.
    const genresByMovie = new Map(dataset.movies.map((movie) => [movie.key, movie.genres]));
    const topFavorite = new Map(dataset.users.map((user) => [user.key, user.favoriteGenres[0] as string]));
    let ownGenreShare = 0;
    let populationShare = 0;
    const byGenre = new Map<string, { own: number; all: number }>();
    for (const rating of ratings) {
      const favorite = topFavorite.get(rating.userKey) as string;
      const entry = byGenre.get(favorite) ?? { own: 0, all: 0 };
      entry.all++;
      if ((genresByMovie.get(rating.movieKey) as string[]).includes(favorite)) entry.own++;
      byGenre.set(favorite, entry);
    }
    for (const [genre, { own, all }] of byGenre) {
      if (all < 500) continue;
      const everyone = ratings.filter((rating) => (genresByMovie.get(rating.movieKey) as string[]).includes(genre)).length;
      ownGenreShare += own / all;
      populationShare += everyone / ratings.length;
    }
    expect(ownGenreShare).toBeGreaterThan(populationShare * 1.3);
  });
});

describe('generateSyntheticDataset: reactions', () => {
  it('likes highly rated and dislikes poorly rated movies, once per movie', () => {
    const ratingByPair = new Map<string, DatasetRating>(ratings.map((rating) => [`${rating.userKey} ${rating.movieKey}`, rating]));
    const pairs = new Set<string>();
    const kinds = new Set<DatasetReaction['reaction']>();
    for (const reaction of reactions) {
      const pair = `${reaction.userKey} ${reaction.movieKey}`;
      expect(pairs.has(pair)).toBe(false);
      pairs.add(pair);
      kinds.add(reaction.reaction);
      const rating = ratingByPair.get(pair);
      expect(rating).toBeDefined();
      if (reaction.reaction === 'LIKE') expect((rating as DatasetRating).rating).toBeGreaterThanOrEqual(4);
      else expect((rating as DatasetRating).rating).toBeLessThanOrEqual(2);
      expect(reaction.at.getTime()).toBeGreaterThanOrEqual((rating as DatasetRating).at.getTime());
      expect(reaction.at.getTime()).toBeLessThanOrEqual(NOW.getTime());
    }
    expect(kinds).toEqual(new Set(['LIKE', 'DISLIKE']));
    // Only some users react, and only to some of their ratings.
    expect(reactions.length).toBeGreaterThan(ratings.length * 0.02);
    expect(reactions.length).toBeLessThan(ratings.length * 0.5);
    expect(new Set(reactions.map((reaction) => reaction.userKey)).size).toBeLessThan(dataset.users.length);
  });
});

describe('generateSyntheticDataset: scale', () => {
  it('streams millions of ratings lazily', () => {
    const large: Dataset = generateSyntheticDataset({ seed: 3, users: 50_000, ratingsPerUser: 100, now: NOW });
    expect(large.ratingCount).toBeGreaterThan(4_500_000);
    let taken = 0;
    for (const rating of large.ratings()) {
      expect(rating.userKey).toMatch(/^syn:user:\d+$/);
      if (++taken === 1_000) break;
    }
    expect(taken).toBe(1_000);
  });

  it('streams 100k ratings with an exact count (speed is measured in bench/, not here)', () => {
    const sized = generateSyntheticDataset({ seed: 4, users: 1_000, ratingsPerUser: 100, now: NOW });
    let count = 0;
    for (const rating of sized.ratings()) if (rating.rating > 0) count++;
    expect(count).toBe(sized.ratingCount);
    expect(count).toBeGreaterThan(90_000);
  });
});
