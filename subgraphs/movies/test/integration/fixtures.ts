import { randomBytes } from 'node:crypto';
import type { Database } from '@platform/shared';
import { movieCredits, movies, people } from '../../src/tables.ts';

// Fixture rows written straight into the movies tables: faster than addMovie, and free to use
// genres outside the vocabulary. Every listing test tags its movies with a genre of its own, so
// listings can be scoped to them even though all tests of a file share one database.

export const uniqueTag = (prefix: string): string => `${prefix}-${randomBytes(4).toString('hex')}`;

export interface MovieFixture {
  title: string;
  year?: number | null;
  genres?: string[];
  languages?: string[];
  overview?: string | null;
}

export async function insertMovies(db: Database, fixtures: MovieFixture[]): Promise<string[]> {
  const rows = await db
    .insert(movies)
    .values(fixtures.map((fixture) => ({ languages: ['en'], ...fixture })))
    .returning({ id: movies.id });
  return rows.map((row) => String(row.id));
}

export async function insertPerson(db: Database, name: string): Promise<string> {
  const [row] = await db.insert(people).values({ name }).returning({ id: people.id });
  return String(row!.id);
}

export async function insertCredit(
  db: Database,
  credit: { movieId: string; personId: string; role: 'DIRECTOR' | 'ACTOR'; position: number; character?: string },
): Promise<void> {
  await db.insert(movieCredits).values({ ...credit, movieId: Number(credit.movieId), personId: Number(credit.personId) });
}
