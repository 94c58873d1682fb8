// One shape for every source of demo or evaluation data (the synthetic generator, a MovieLens
// directory), so a single loader writes any of them into PostgreSQL and Neo4j the same way.
// Keys are stable natural keys ("syn:movie:42", "ml:movie:1"): loading the same dataset twice
// must update rows in place, never duplicate them.

export interface DatasetPerson {
  key: string;
  name: string;
}

export interface DatasetCastMember {
  personKey: string;
  character: string | null;
}

export interface DatasetMovie {
  key: string;
  title: string;
  year: number | null;
  genres: string[];
  languages: string[];
  runtimeMinutes: number | null;
  overview: string | null;
  imdbId: string | null;
  tmdbId: string | null;
  directorKeys: string[];
  cast: DatasetCastMember[];
  tags: string[];
}

export interface DatasetUser {
  key: string;
  username: string;
  displayName: string | null;
  favoriteGenres: string[];
  createdAt: Date;
}

export interface DatasetRating {
  userKey: string;
  movieKey: string;
  /** 0.5 .. 5.0 in steps of 0.5 */
  rating: number;
  at: Date;
}

export interface DatasetReaction {
  userKey: string;
  movieKey: string;
  reaction: 'LIKE' | 'DISLIKE';
  at: Date;
}

export interface Dataset {
  /** Short name of the source, used in progress output ("synthetic", "movielens"). */
  source: string;
  people: DatasetPerson[];
  movies: DatasetMovie[];
  users: DatasetUser[];
  /** Streams, so a multi-million-row synthetic set never has to sit in memory at once. */
  ratings(): Iterable<DatasetRating>;
  reactions(): Iterable<DatasetReaction>;
  /** Exact count of ratings() when known up front (for progress display). */
  ratingCount: number | null;
}
