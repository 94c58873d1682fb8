import { Kind, type GraphQLResolveInfo, type SelectionNode } from 'graphql';
import { notFound, pageSize, toConnection, type RequestContext } from '@platform/shared';
import { parseNumericId } from '@platform/shared/ids';
import type { CatalogWrites, WrittenMovie } from './catalog.ts';
import type { MovieRow, MoviesData, PersonRow } from './data.ts';
import { parseMovieFilter, type MovieFilterInput } from './listing.ts';
import { createMoviesLoaders, type MoviesLoaders } from './loaders.ts';
import { parseAddMovieInput, parseUpdateMovieInput, type AddMovieInput, type UpdateMovieInput } from './movie-input.ts';
import { decodeMovieCursor, encodeMovieCursor, movieOrdering, type MovieSort } from './ordering.ts';

export interface MoviesContext extends RequestContext {
  /**
   * Where this request reads: the read replica (DATABASE_READ_URL) when there is one, until a
   * mutation calls readFromPrimary.
   */
  reads(): MoviesData;
  /**
   * Sends the rest of this request's reads to the primary: a replica may not have a write yet,
   * and a mutation's answer must show what it wrote.
   */
  readFromPrimary(): void;
  catalog: CatalogWrites;
  loaders: MoviesLoaders;
}

/** What every request's context is built from (created once per process). */
export interface MoviesSources {
  replica: MoviesData;
  primary: MoviesData;
  catalog: CatalogWrites;
}

export function createMoviesContext(base: RequestContext, sources: MoviesSources): MoviesContext {
  let current = sources.replica;
  const reads = (): MoviesData => current;
  return {
    ...base,
    reads,
    readFromPrimary: () => {
      current = sources.primary;
    },
    catalog: sources.catalog,
    loaders: createMoviesLoaders(reads),
  };
}

interface MoviesArgs {
  filter?: MovieFilterInput | null;
  sort?: MovieSort | null;
  first?: number | null;
  after?: string | null;
}

async function listMovies(args: MoviesArgs, context: MoviesContext, info: GraphQLResolveInfo) {
  const filter = parseMovieFilter(args.filter);
  const ordering = movieOrdering(args.sort ?? 'RELEVANCE', filter.search);
  const size = pageSize(args.first);
  const after = args.after === null || args.after === undefined ? null : decodeMovieCursor(args.after, ordering);
  const withCount = selectsField(info, 'totalCount');
  const { rows, totalCount } = await context.reads().listMovies({ filter, ordering, size, after, withCount });
  // Without a count nobody asked for totalCount, so the 0 is never sent.
  return toConnection(rows, size, totalCount ?? 0, (row) => encodeMovieCursor(ordering, row.position), after !== null);
}

/**
 * Whether the operation selects `name` directly under this field (also through fragments). An
 * over-approximation under @skip/@include, which only costs a count nobody reads.
 */
function selectsField(info: GraphQLResolveInfo, name: string): boolean {
  const visit = (selections: readonly SelectionNode[]): boolean =>
    selections.some((selection) => {
      switch (selection.kind) {
        case Kind.FIELD:
          return selection.name.value === name;
        case Kind.INLINE_FRAGMENT:
          return visit(selection.selectionSet.selections);
        case Kind.FRAGMENT_SPREAD: {
          const fragment = info.fragments[selection.name.value];
          return fragment !== undefined && visit(fragment.selectionSet.selections);
        }
      }
    });
  return info.fieldNodes.some((node) => node.selectionSet !== undefined && visit(node.selectionSet.selections));
}

async function creditsOf(movie: MovieRow, role: 'DIRECTOR' | 'ACTOR', context: MoviesContext) {
  const credits = await context.loaders.creditsByMovie.load(movie.id);
  return credits.filter((credit) => credit.role === role);
}

/** The mutation's answer is the row and credits its transaction committed, whatever happened since. */
function answerWith(written: WrittenMovie, context: MoviesContext): MovieRow {
  context.loaders.movieById.clear(String(written.movie.id)).prime(String(written.movie.id), written.movie);
  context.loaders.creditsByMovie.clear(written.movie.id).prime(written.movie.id, written.credits);
  return written.movie;
}

export const resolvers = {
  Query: {
    movie: (_: unknown, args: { id: string }, context: MoviesContext) => context.loaders.movieById.load(args.id),
    movies: (_: unknown, args: MoviesArgs, context: MoviesContext, info: GraphQLResolveInfo) => listMovies(args, context, info),
    genres: (_: unknown, __: unknown, context: MoviesContext) => context.reads().genres(),
    person: (_: unknown, args: { id: string }, context: MoviesContext) => context.loaders.personById.load(args.id),
  },
  // Both are @admin in the schema: the guard runs before these resolvers, so a caller who is not
  // an admin gets FORBIDDEN (or UNAUTHENTICATED) before any input is read or anything is written.
  Mutation: {
    addMovie: async (_: unknown, args: { input: AddMovieInput }, context: MoviesContext) => {
      const movie = parseAddMovieInput(args.input);
      context.readFromPrimary();
      return answerWith(await context.catalog.addMovie(movie), context);
    },
    updateMovie: async (_: unknown, args: { id: string; input: UpdateMovieInput }, context: MoviesContext) => {
      const changes = parseUpdateMovieInput(args.input);
      const movieId = parseNumericId(args.id);
      if (movieId === null) throw notFound('Movie', args.id);
      context.readFromPrimary();
      return answerWith(await context.catalog.updateMovie(movieId, changes), context);
    },
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
