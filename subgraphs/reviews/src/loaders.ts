import DataLoader from 'dataloader';
import { isUuid, loadByNumericIds } from '@platform/shared/ids';
import type {
  MoviePosition,
  MovieStatsRow,
  PagedReaction,
  PagedReview,
  PagedUserReview,
  ReactionKind,
  ReviewPosition,
  ReviewRow,
  ReviewsData,
  UserCount,
} from './data.ts';
import { reviewKeyString, type ReviewKey } from './review-key.ts';

/** One page of one owner's list (a movie's reviews, a user's reviews or reactions). */
export interface PageRequest<Owner, Position> {
  owner: Owner;
  /** rows to fetch: the page size plus one, which only tells whether another page follows */
  limit: number;
  after: Position | null;
}

/**
 * Per-request loaders: every movie's stats, reviews or page in one request costs one query
 * together, and so does every user's list. `viewerId` is the verified caller (myReaction).
 */
export function createReviewsLoaders(data: ReviewsData, viewerId: string | null) {
  return {
    statsByMovie: new DataLoader<string, MovieStatsRow | null>((movieIds) =>
      loadByNumericIds(movieIds, data.statsOfMovies, (stats) => stats.movieId),
    ),
    reviewByKey: new DataLoader<ReviewKey, ReviewRow | null, string>(
      async (keys) => {
        const rows = await data.reviewsByKeys(keys.filter((key) => isUuid(key.userId)));
        const byKey = new Map(rows.map((row) => [reviewKeyString(row), row]));
        return keys.map((key) => byKey.get(reviewKeyString(key)) ?? null);
      },
      { cacheKeyFn: reviewKeyString },
    ),
    reviewPage: pageLoader<number, ReviewPosition, PagedReview>({
      ownerKey: String,
      positionKey: (position) => `${position.updatedAt}|${position.userId}`,
      ownerOfRow: (row) => row.movieId,
      fetch: data.reviewPages,
    }),
    userReviewPage: pageLoader<string, MoviePosition, PagedUserReview>({
      ...userListPages,
      fetch: skippingMalformedUsers(data.userReviewPages),
    }),
    reactionPage: pageLoader<string, MoviePosition, PagedReaction>({
      ...userListPages,
      fetch: skippingMalformedUsers(data.reactionPages),
    }),
    reviewCountByUser: userCountLoader(data.reviewCountsOfUsers),
    reactionCountByUser: userCountLoader(data.reactionCountsOfUsers),
    excludedMoviesByUser: new DataLoader<string, number[], string>(
      async (userIds) => {
        const wanted = userIds.filter(isUuid);
        const rows = wanted.length === 0 ? [] : await data.exclusionsOfUsers(wanted);
        // rows come newest first; grouping keeps that order within each user
        const byUser = Map.groupBy(rows, (row) => userKey(row.userId));
        return userIds.map((userId) => (byUser.get(userKey(userId)) ?? []).map((row) => row.movieId));
      },
      { cacheKeyFn: userKey },
    ),
    myReactionByMovie: new DataLoader<number, ReactionKind | null>(async (movieIds) => {
      if (viewerId === null || !isUuid(viewerId)) return movieIds.map(() => null);
      const rows = await data.reactionsOfUser(viewerId, [...movieIds]);
      const byMovie = new Map(rows.map((row) => [row.movieId, row.reaction]));
      return movieIds.map((movieId) => byMovie.get(movieId) ?? null);
    }),
  };
}

export type ReviewsLoaders = ReturnType<typeof createReviewsLoaders>;

// UUIDs arrive in any letter case (a representation from a client); PostgreSQL returns them in
// lower case, so rows are matched to requests by the lower-case form.
const userKey = (userId: string): string => userId.toLowerCase();

const userListPages = {
  ownerKey: userKey,
  positionKey: (position: MoviePosition) => `${position.at}|${position.movieId}`,
  ownerOfRow: (row: { userId: string }) => row.userId,
};

/**
 * A user id that is no UUID (a made-up representation) has no rows; it must not reach
 * PostgreSQL, whose uuid cast would fail the whole statement for every user in the batch.
 */
function skippingMalformedUsers<Row>(fetch: (userIds: string[], limit: number, after: MoviePosition | null) => Promise<Row[]>) {
  return async (userIds: string[], limit: number, after: MoviePosition | null): Promise<Row[]> => {
    const wanted = userIds.filter(isUuid);
    return wanted.length === 0 ? [] : fetch(wanted, limit, after);
  };
}

function userCountLoader(fetch: (userIds: string[]) => Promise<UserCount[]>) {
  return new DataLoader<string, number, string>(
    async (userIds) => {
      const wanted = userIds.filter(isUuid);
      const counts = wanted.length === 0 ? [] : await fetch(wanted);
      const byUser = new Map(counts.map((row) => [userKey(row.userId), row.count]));
      return userIds.map((userId) => byUser.get(userKey(userId)) ?? 0);
    },
    { cacheKeyFn: userKey },
  );
}

interface PageLoaderSpec<Owner, Position, Row> {
  ownerKey(owner: Owner): string;
  positionKey(position: Position): string;
  ownerOfRow(row: Row): Owner;
  /** the next `limit` rows of each owner after `after`, in one statement */
  fetch(owners: Owner[], limit: number, after: Position | null): Promise<Row[]>;
}

/** Requests of one shape (same size, same cursor) share one statement; usually all of them do. */
function pageLoader<Owner, Position, Row>(spec: PageLoaderSpec<Owner, Position, Row>) {
  const shapeOf = (request: PageRequest<Owner, Position>): string =>
    `${request.limit}|${request.after === null ? '' : spec.positionKey(request.after)}`;
  const keyOf = (request: PageRequest<Owner, Position>): string => `${spec.ownerKey(request.owner)}|${shapeOf(request)}`;

  return new DataLoader<PageRequest<Owner, Position>, Row[], string>(
    async (requests) => {
      const pages = new Map<string, Row[]>();
      await Promise.all(
        [...Map.groupBy(requests, shapeOf).values()].map(async (group) => {
          const [{ limit, after }] = group as [PageRequest<Owner, Position>, ...PageRequest<Owner, Position>[]]; // groupBy makes no empty groups
          const rows = await spec.fetch(
            group.map((request) => request.owner),
            limit,
            after,
          );
          const byOwner = Map.groupBy(rows, (row) => spec.ownerKey(spec.ownerOfRow(row)));
          for (const request of group) pages.set(keyOf(request), byOwner.get(spec.ownerKey(request.owner)) ?? []);
        }),
      );
      return requests.map((request) => pages.get(keyOf(request)) ?? []);
    },
    { cacheKeyFn: keyOf },
  );
}
