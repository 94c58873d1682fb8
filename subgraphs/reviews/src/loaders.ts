import DataLoader from 'dataloader';
import { isUuid, loadByNumericIds } from '@platform/shared/ids';
import type { MovieStatsRow, PagedReview, ReviewPosition, ReviewRow, ReviewsData } from './data.ts';
import { reviewKeyString, type ReviewKey } from './review-key.ts';

export interface ReviewPageRequest {
  movieId: number;
  /** rows to fetch: the page size plus one, which only tells whether another page follows */
  limit: number;
  after: ReviewPosition | null;
}

/** Per-request loaders: every movie's stats, reviews or page in one request costs one query together. */
export function createReviewsLoaders(data: ReviewsData) {
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
    reviewPage: new DataLoader<ReviewPageRequest, PagedReview[], string>((requests) => loadReviewPages(data, requests), {
      cacheKeyFn: pageKeyOf,
    }),
  };
}

export type ReviewsLoaders = ReturnType<typeof createReviewsLoaders>;

/** Requests of one shape (same size, same cursor) share one statement; usually all of them do. */
const pageShapeOf = (request: ReviewPageRequest): string =>
  `${request.limit}|${request.after?.updatedAt ?? ''}|${request.after?.userId ?? ''}`;
const pageKeyOf = (request: ReviewPageRequest): string => `${request.movieId}|${pageShapeOf(request)}`;

async function loadReviewPages(data: ReviewsData, requests: readonly ReviewPageRequest[]): Promise<PagedReview[][]> {
  const pages = new Map<string, PagedReview[]>();
  await Promise.all(
    [...Map.groupBy(requests, pageShapeOf).values()].map(async (group) => {
      const [{ limit, after }] = group as [ReviewPageRequest, ...ReviewPageRequest[]]; // groupBy makes no empty groups
      const rows = await data.reviewPages(
        group.map((request) => request.movieId),
        limit,
        after,
      );
      for (const request of group) pages.set(pageKeyOf(request), rows.filter((row) => row.movieId === request.movieId));
    }),
  );
  return requests.map((request) => pages.get(pageKeyOf(request)) ?? []);
}
