// The genre vocabulary of the platform: MovieLens's list (its "(no genres listed)" marker aside).
// Movies carry these, users pick favourites from them, and the synthetic seed draws from them, so
// there is one list for all three.
export const knownGenres = [
  'Action',
  'Adventure',
  'Animation',
  'Children',
  'Comedy',
  'Crime',
  'Documentary',
  'Drama',
  'Fantasy',
  'Film-Noir',
  'Horror',
  'IMAX',
  'Musical',
  'Mystery',
  'Romance',
  'Sci-Fi',
  'Thriller',
  'War',
  'Western',
] as const;

export type KnownGenre = (typeof knownGenres)[number];
