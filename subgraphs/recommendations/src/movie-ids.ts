// Movie ids are INTEGERs in the graph and ID strings in GraphQL. Only the canonical decimal form
// is accepted ("42", not "042" or "4.2e1"), so every movie has exactly one GraphQL id.

const canonicalMovieId = /^(0|[1-9][0-9]{0,14})$/;

/** The graph's id for a GraphQL movie id, or null when the string cannot name a movie. */
export function parseMovieId(id: string): number | null {
  return canonicalMovieId.test(id) ? Number(id) : null;
}

export interface MovieReference {
  __typename: 'Movie';
  id: string;
}

/** An entity reference the gateway resolves against the movies subgraph. */
export function movieReference(movieId: number): MovieReference {
  return { __typename: 'Movie', id: String(movieId) };
}
