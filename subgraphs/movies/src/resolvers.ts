import { pageSize, toConnection, type RequestContext } from '@platform/shared';
import type { MovieRow, MoviesData, PersonRow } from './data.ts';
import { parseMovieFilter, type MovieFilterInput } from './listing.ts';
import type { MoviesLoaders } from './loaders.ts';
import { decodeMovieCursor, encodeMovieCursor, movieOrdering, type MovieSort } from './ordering.ts';

export interface MoviesContext extends RequestContext {
  data: MoviesData;
  loaders: MoviesLoaders;
}

interface MoviesArgs {
  filter?: MovieFilterInput | null;
  sort?: MovieSort | null;
  first?: number | null;
  after?: string | null;
}

async function listMovies(args: MoviesArgs, context: MoviesContext) {
  const filter = parseMovieFilter(args.filter);
  const ordering = movieOrdering(args.sort ?? 'RELEVANCE', filter.search);
  const size = pageSize(args.first);
  const after = args.after === null || args.after === undefined ? null : decodeMovieCursor(args.after, ordering);
  const { rows, totalCount } = await context.data.listMovies({ filter, ordering, size, after });
  return toConnection(rows, size, totalCount, (row) => encodeMovieCursor(ordering, row.position), after !== null);
}

async function creditsOf(movie: MovieRow, role: 'DIRECTOR' | 'ACTOR', context: MoviesContext) {
  const credits = await context.loaders.creditsByMovie.load(movie.id);
  return credits.filter((credit) => credit.role === role);
}

export const resolvers = {
  Query: {
    movie: (_: unknown, args: { id: string }, context: MoviesContext) => context.loaders.movieById.load(args.id),
    movies: (_: unknown, args: MoviesArgs, context: MoviesContext) => listMovies(args, context),
    genres: (_: unknown, __: unknown, context: MoviesContext) => context.data.genres(),
    person: (_: unknown, args: { id: string }, context: MoviesContext) => context.loaders.personById.load(args.id),
  },
  Movie: {
    __resolveReference: (reference: { id: string }, context: MoviesContext) => context.loaders.movieById.load(reference.id),
    directors: async (movie: MovieRow, _: unknown, context: MoviesContext) =>
      (await creditsOf(movie, 'DIRECTOR', context)).map((credit) => credit.person),
    cast: async (movie: MovieRow, _: unknown, context: MoviesContext) =>
      (await creditsOf(movie, 'ACTOR', context)).map((credit) => ({ person: credit.person, character: credit.character })),
  },
  Person: {
    __resolveReference: (reference: { id: string }, context: MoviesContext) => context.loaders.personById.load(reference.id),
    directed: (person: PersonRow, _: unknown, context: MoviesContext) => context.loaders.directedBy.load(person.id),
    actedIn: (person: PersonRow, _: unknown, context: MoviesContext) => context.loaders.actedInBy.load(person.id),
  },
};
