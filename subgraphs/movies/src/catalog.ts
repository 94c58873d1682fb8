import { and, eq, inArray, sql } from 'drizzle-orm';
import { appendEvents, createEvent, notFound, type Database, type EventPayloads } from '@platform/shared';
import { createMoviesData, movieColumns, type CreditRole, type CreditRow, type MovieRow } from './data.ts';
import { personNotFound, type MovieChanges, type MovieFields, type NewMovie } from './movie-input.ts';
import { movieCredits, movies, outbox, people } from './tables.ts';

// The catalogue's writes. Each runs in one transaction on the primary together with the event it
// causes (appended to movies.outbox), so a movie is announced exactly when it commits: a write that
// fails leaves neither the change nor its event behind.

/** A movie as its transaction committed it, with its credits, for the mutation's answer. */
export interface WrittenMovie {
  movie: MovieRow;
  credits: CreditRow[];
}

type Transaction = Parameters<Parameters<Database['transaction']>[0]>[0];

const schemaName = 'movies';
const fieldNames = ['title', 'year', 'genres', 'languages', 'runtimeMinutes', 'overview', 'imdbId', 'tmdbId'] as const satisfies readonly (keyof MovieFields)[];

export function createCatalogWrites(db: Database) {
  return {
    async addMovie(movie: NewMovie): Promise<WrittenMovie> {
      return db.transaction(async (tx) => {
        await lockPeople(tx, movie);
        const [row] = await tx.insert(movies).values(pickFields(movie)).returning(movieColumns);
        if (!row) throw new Error('the new movie row was not returned');
        await replaceCredits(tx, row.id, 'DIRECTOR', movie.directorIds);
        await replaceCredits(tx, row.id, 'ACTOR', movie.castIds);
        return announce(tx, 'movie.created', row);
      });
    },

    /**
     * Applies the given changes. The row lock taken first makes concurrent updates of one movie
     * commit one after the other, so their events reach the stream in commit order and each
     * carries the state its transaction committed. Changes that change nothing write nothing and
     * announce nothing.
     */
    async updateMovie(movieId: number, changes: MovieChanges): Promise<WrittenMovie> {
      return db.transaction(async (tx) => {
        const [current] = await tx.select(movieColumns).from(movies).where(eq(movies.id, movieId)).for('update');
        if (!current) throw notFound('Movie', String(movieId));
        await lockPeople(tx, { directorIds: changes.directorIds ?? [], castIds: changes.castIds ?? [] });
        const credits = await createMoviesData(tx).creditsOfMovies([movieId]);

        const changedFields = fieldNames.filter((name) => Object.hasOwn(changes, name) && !sameValue(current[name], changes[name]));
        const newDirectors = changedPeople(changes.directorIds, credits, 'DIRECTOR');
        const newCast = changedPeople(changes.castIds, credits, 'ACTOR');
        if (changedFields.length === 0 && newDirectors === null && newCast === null) return { movie: current, credits };

        const updates: Partial<MovieFields> = {};
        for (const name of changedFields) copyField(updates, changes, name);
        const [row] = await tx
          .update(movies)
          .set({ ...updates, updatedAt: sql`now()` })
          .where(eq(movies.id, movieId))
          .returning(movieColumns);
        if (!row) throw new Error('the locked movie row was not returned by its update');
        if (newDirectors !== null) await replaceCredits(tx, movieId, 'DIRECTOR', newDirectors);
        if (newCast !== null) await replaceCredits(tx, movieId, 'ACTOR', newCast);
        return announce(tx, 'movie.updated', row);
      });
    },
  };
}

export type CatalogWrites = ReturnType<typeof createCatalogWrites>;

function pickFields(movie: MovieFields): MovieFields {
  const { title, year, genres, languages, runtimeMinutes, overview, imdbId, tmdbId } = movie;
  return { title, year, genres, languages, runtimeMinutes, overview, imdbId, tmdbId };
}

function copyField<Name extends keyof MovieFields>(target: Partial<MovieFields>, source: Partial<MovieFields>, name: Name): void {
  target[name] = source[name];
}

/**
 * Checks that every credited person exists and keeps them from being deleted until this
 * transaction ends (KEY SHARE blocks only deletes and key changes, not renames).
 */
async function lockPeople(tx: Transaction, movie: Pick<NewMovie, 'directorIds' | 'castIds'>): Promise<void> {
  const ids = [...new Set([...movie.directorIds, ...movie.castIds])];
  if (ids.length === 0) return;
  const rows = await tx.select({ id: people.id }).from(people).where(inArray(people.id, ids)).for('key share');
  const found = new Set(rows.map((row) => row.id));
  const missingDirector = movie.directorIds.find((id) => !found.has(id));
  if (missingDirector !== undefined) throw personNotFound('directorIds', String(missingDirector));
  const missingActor = movie.castIds.find((id) => !found.has(id));
  if (missingActor !== undefined) throw personNotFound('castIds', String(missingActor));
}

/** The new list when it differs from the stored one, else null (nothing to write). */
function changedPeople(requested: number[] | undefined, credits: CreditRow[], role: CreditRole): number[] | null {
  if (requested === undefined) return null;
  const stored = credits.filter((credit) => credit.role === role).map((credit) => credit.person.id);
  return sameValue(stored, requested) ? null : requested;
}

/** Replaces one role's credits in the given order; an actor who stays keeps the character they play. */
async function replaceCredits(tx: Transaction, movieId: number, role: CreditRole, personIds: number[]): Promise<void> {
  const removed = await tx
    .delete(movieCredits)
    .where(and(eq(movieCredits.movieId, movieId), eq(movieCredits.role, role)))
    .returning({ personId: movieCredits.personId, character: movieCredits.character });
  if (personIds.length === 0) return;
  const characters = new Map(removed.map((credit) => [credit.personId, credit.character]));
  await tx
    .insert(movieCredits)
    .values(personIds.map((personId, position) => ({ movieId, personId, role, position, character: characters.get(personId) ?? null })));
}

/** Reads back the committed credits and appends the event, still inside the write's transaction. */
async function announce(tx: Transaction, type: 'movie.created' | 'movie.updated', movie: MovieRow): Promise<WrittenMovie> {
  const credits = await createMoviesData(tx).creditsOfMovies([movie.id]);
  const at = new Date();
  const payload: EventPayloads[typeof type] = {
    movieId: movie.id,
    title: movie.title,
    year: movie.year,
    genres: movie.genres,
    languages: movie.languages,
    // Directors first, then the cast in billing order; someone credited twice appears once.
    personIds: [
      ...new Set([...credits.filter((credit) => credit.role === 'DIRECTOR'), ...credits.filter((credit) => credit.role === 'ACTOR')].map((credit) => credit.person.id)),
    ],
    at: at.toISOString(),
  };
  await appendEvents(tx, outbox, schemaName, [createEvent('movies', type, payload, at)]);
  return { movie, credits };
}

function sameValue(a: unknown, b: unknown): boolean {
  if (Array.isArray(a) && Array.isArray(b)) return a.length === b.length && a.every((item, index) => item === b[index]);
  return a === b;
}
