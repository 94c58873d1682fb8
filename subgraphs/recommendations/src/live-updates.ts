import { randomUUID } from 'node:crypto';
import neo4j, { type Driver, type ManagedTransaction } from 'neo4j-driver';
import { publishLive, type AnyEvent, type LiveMessage, type Logger, type Redis } from '@platform/shared';
import type { CachedRecommender } from './cache.ts';
import { readGraph } from './graph-errors.ts';
import type { RecommendedMovie } from './recommender.ts';

// What happens after the event consumer has applied a round of events to the graph (it calls
// eventsApplied() once the round is committed and acknowledged; nothing here can delay that):
//
// 1. At once: every user with an event in the round gets their cached list invalidated (one
//    MULTI for the round), which also captures the list they were last served. Movies created
//    or updated lose their cached similar-movie lists.
// 2. Per user, events are coalesced for `coalesceMs` from the first one (a burst of 50 ratings
//    is one recomputation), then the user's list is recomputed by the recommender (the
//    incremental work for one user, no rebuild) and stored. When its first `topCount` ids, in
//    order, differ from the list captured in step 1, a `recommendations-updated` message goes to
//    the user's live channel, its reason naming the latest trigger ("you liked Heat").
//    At most `concurrency` recomputations run at once; at most `maxQueuedUsers` wait (beyond
//    that a user is only invalidated: their next read recomputes).
// 3. A `movie.created` notifies users whose taste matches it (see matchingUsersCypher) with a
//    NEW_RECOMMENDATION notification, once per movie (a Redis marker survives redeliveries), and
//    invalidates their lists.
//
// Events older than `maxEventAgeMs` (a backlog after an outage, a replay from the start of the
// streams) still invalidate, but neither recompute nor message anyone: nobody waits for them,
// and a first deployment would otherwise message every user about their whole history.

// ---------------------------------------------------------------------------------------------
// Pure parts

export type TriggerKind =
  | 'rated'
  | 'rating-restored'
  | 'rating-removed'
  | 'rating-removed-by-admin'
  | 'liked'
  | 'disliked'
  | 'reaction-cleared'
  | 'excluded'
  | 'exclusion-cleared'
  | 'genres-changed';

/** Something a user did (or an admin did to their data) that can change their recommendations. */
export interface UserTrigger {
  userId: string;
  kind: TriggerKind;
  /** null for profile changes. */
  movieId: number | null;
  /** Epoch ms of the change (the event's payload.at). */
  at: number;
}

export interface CreatedMovie {
  movieId: number;
  title: string;
  at: number;
}

export interface AppliedChanges {
  /** Per user, their triggers in the order applied. */
  triggersByUser: Map<string, UserTrigger[]>;
  createdMovies: CreatedMovie[];
  /** Created or updated: their similar-movie lists are stale. */
  changedMovieIds: number[];
}

const epochMs = (iso: string): number => {
  const ms = Date.parse(iso);
  return Number.isFinite(ms) ? ms : 0;
};

export function triggerOf(event: AnyEvent): UserTrigger | null {
  switch (event.type) {
    case 'review.upserted': {
      const { userId, movieId, actorId, at } = event.payload;
      // An admin's rollback replays history on the author's behalf.
      return { userId, movieId, kind: actorId === userId ? 'rated' : 'rating-restored', at: epochMs(at) };
    }
    case 'review.deleted': {
      const { userId, movieId, actorId, at } = event.payload;
      return { userId, movieId, kind: actorId === userId ? 'rating-removed' : 'rating-removed-by-admin', at: epochMs(at) };
    }
    case 'reaction.set': {
      const { userId, movieId, reaction, at } = event.payload;
      return { userId, movieId, kind: reaction === 'LIKE' ? 'liked' : 'disliked', at: epochMs(at) };
    }
    case 'reaction.cleared':
      return { userId: event.payload.userId, movieId: event.payload.movieId, kind: 'reaction-cleared', at: epochMs(event.payload.at) };
    case 'exclusion.set':
      return { userId: event.payload.userId, movieId: event.payload.movieId, kind: 'excluded', at: epochMs(event.payload.at) };
    case 'exclusion.cleared':
      return { userId: event.payload.userId, movieId: event.payload.movieId, kind: 'exclusion-cleared', at: epochMs(event.payload.at) };
    case 'user.profile-updated':
      return { userId: event.payload.userId, movieId: null, kind: 'genres-changed', at: epochMs(event.payload.at) };
    default:
      // user.registered (nothing to recommend from yet), movie.*: not a user's own change.
      return null;
  }
}

export function summarizeAppliedEvents(events: readonly AnyEvent[]): AppliedChanges {
  const triggersByUser = new Map<string, UserTrigger[]>();
  const createdMovies: CreatedMovie[] = [];
  const changedMovieIds = new Set<number>();
  for (const event of events) {
    const trigger = triggerOf(event);
    if (trigger) triggersByUser.set(trigger.userId, [...(triggersByUser.get(trigger.userId) ?? []), trigger]);
    if (event.type === 'movie.created' || event.type === 'movie.updated') changedMovieIds.add(event.payload.movieId);
    if (event.type === 'movie.created') createdMovies.push({ movieId: event.payload.movieId, title: event.payload.title, at: epochMs(event.payload.at) });
  }
  return { triggersByUser, createdMovies, changedMovieIds: [...changedMovieIds] };
}

/** The trigger a message names: the latest change (on equal times, the one applied last). */
export function latestTrigger(triggers: readonly UserTrigger[]): UserTrigger | undefined {
  return triggers.reduce<UserTrigger | undefined>((latest, trigger) => (!latest || trigger.at >= latest.at ? trigger : latest), undefined);
}

/** For people: "you liked Heat", "you rated Heat (and 2 more changes)". */
export function reasonText(trigger: UserTrigger, title: string | null, otherChanges = 0): string {
  const movie = title?.trim() || (trigger.movieId === null ? 'a movie' : `movie ${trigger.movieId}`);
  const texts: Record<TriggerKind, string> = {
    rated: `you rated ${movie}`,
    'rating-restored': `your rating of ${movie} was restored`,
    'rating-removed': `you removed your rating of ${movie}`,
    'rating-removed-by-admin': `your rating of ${movie} was removed`,
    liked: `you liked ${movie}`,
    disliked: `you disliked ${movie}`,
    'reaction-cleared': `you took back your reaction to ${movie}`,
    excluded: `you excluded ${movie}`,
    'exclusion-cleared': `you allowed ${movie} again`,
    'genres-changed': 'you changed your favourite genres',
  };
  const more = otherChanges > 0 ? ` (and ${otherChanges} more change${otherChanges === 1 ? '' : 's'})` : '';
  return texts[trigger.kind] + more;
}

/**
 * Whether the part of the list a person looks at changed: the first `count` movie ids, in order.
 * Score changes alone do not count. With no previous list, we cannot tell: treat it as changed
 * (a needless message costs one re-fetch; a missed one leaves a stale screen).
 */
export function topEntriesChanged(previous: readonly RecommendedMovie[] | null, current: readonly RecommendedMovie[], count = 10): boolean {
  if (previous === null) return true;
  const before = previous.slice(0, count).map((item) => item.movieId);
  const after = current.slice(0, count).map((item) => item.movieId);
  return before.length !== after.length || before.some((movieId, index) => movieId !== after[index]);
}

export function newMovieMessage(title: string, genres: readonly string[]): string {
  return `New: ${title} — matches your taste for ${genres.join(', ')}`;
}

// ---------------------------------------------------------------------------------------------
// Graph reads

/**
 * Users a new movie matches, most recently active first. A user matches through any of:
 * - a favourite genre (PREFERS) that the movie has;
 * - a positive (rating >= $minPositiveRating, or LIKE) since $since on a movie sharing at least
 *   2 of the new movie's genres (all of them when it has only one).
 * Activity = the latest `at` of their ratings, reactions and exclusions, or of their favourite
 * genres. `matchedGenres` (in the movie's own genre order) names the genres the message mentions.
 */
export const matchingUsersCypher = `
MATCH (movie:Movie {id: $movieId})-[:IN_GENRE]->(genre:Genre)
WITH movie, collect(genre) AS genres
WITH movie, genres, CASE WHEN size(genres) < 2 THEN size(genres) ELSE 2 END AS sharedNeeded
CALL (movie, genres, sharedNeeded) {
    UNWIND genres AS genre
    MATCH (genre)<-[:PREFERS]-(user:User)
    RETURN user, genre.name AS genreName, coalesce(user.favoriteGenresAt, 0) AS evidenceAt
  UNION ALL
    UNWIND genres AS genre
    MATCH (genre)<-[:IN_GENRE]-(liked:Movie)<-[positive:RATED|LIKED]-(user:User)
    WHERE liked <> movie AND positive.at >= $since
      AND (positive.rating IS NULL OR positive.rating >= $minPositiveRating)
    WITH user, liked, collect(DISTINCT genre.name) AS shared, max(positive.at) AS positiveAt
    WHERE size(shared) >= sharedNeeded
    UNWIND shared AS genreName
    RETURN user, genreName, positiveAt AS evidenceAt
}
WITH movie, user, collect(DISTINCT genreName) AS matched, max(evidenceAt) AS evidenceAt
WHERE NOT EXISTS { (user)-[:RATED|LIKED|DISLIKED|EXCLUDED]->(movie) }
CALL (user) {
  OPTIONAL MATCH (user)-[action:RATED|LIKED|DISLIKED|EXCLUDED]->(:Movie)
  RETURN max(action.at) AS lastActionAt
}
WITH movie, user, matched, CASE WHEN lastActionAt IS NULL OR evidenceAt > lastActionAt THEN evidenceAt ELSE lastActionAt END AS lastActiveAt
RETURN user.id AS userId, movie.title AS title, [name IN movie.genres WHERE name IN matched] AS matchedGenres
ORDER BY lastActiveAt DESC, userId
LIMIT $maxUsers`;

const titlesCypher = `UNWIND $movieIds AS movieId MATCH (movie:Movie {id: movieId}) RETURN movie.id AS movieId, movie.title AS title`;

// ---------------------------------------------------------------------------------------------

export interface LiveUpdatesOptions {
  cache: CachedRecommender;
  /** Publishes the messages and holds the once-per-movie markers (the cache's connection will do). */
  redis: Redis;
  driver: Driver;
  logger: Logger;
  /** The event stream prefix: channels are liveChannelFor(userId, prefix). */
  prefix: string;
  coalesceMs?: number;
  concurrency?: number;
  maxQueuedUsers?: number;
  /** Ids compared to decide whether a user's list changed. */
  topCount?: number;
  maxEventAgeMs?: number;
  maxNotifiedUsers?: number;
  /** How far back a positive counts as a user's current taste, for new-movie matching. */
  tasteWindowMs?: number;
  minPositiveRating?: number;
  queryTimeoutMs?: number;
  now?: () => number;
}

export interface LiveUpdates {
  /** The consumer's hook: synchronous, schedules everything, never throws. */
  eventsApplied(events: readonly AnyEvent[]): void;
  /** Resolves when nothing is waiting or running (tests, benches). */
  idle(): Promise<void>;
  /** Drops what waits, lets what runs finish. */
  stop(): Promise<void>;
}

interface PendingRefresh {
  triggers: UserTrigger[];
  /** The list the user was last served, captured when their first trigger invalidated it. */
  previous: Promise<RecommendedMovie[] | null>;
}

const messageOf = (error: unknown): string => (error instanceof Error ? error.message : String(error));

export const defaultLiveUpdateSettings = {
  coalesceMs: 200,
  concurrency: 4,
  maxQueuedUsers: 10_000,
  topCount: 10,
  maxEventAgeMs: 15 * 60_000,
  maxNotifiedUsers: 1_000,
  tasteWindowMs: 90 * 86_400_000,
  minPositiveRating: 4,
  queryTimeoutMs: 10_000,
};

/** How long "this movie's notifications went out" is remembered (redeliveries come far sooner). */
const notifiedMarkerSeconds = 7 * 86_400;

export function startLiveUpdates(options: LiveUpdatesOptions): LiveUpdates {
  const defaults = defaultLiveUpdateSettings;
  const settings = {
    coalesceMs: options.coalesceMs ?? defaults.coalesceMs,
    concurrency: options.concurrency ?? defaults.concurrency,
    maxQueuedUsers: options.maxQueuedUsers ?? defaults.maxQueuedUsers,
    topCount: options.topCount ?? defaults.topCount,
    maxEventAgeMs: options.maxEventAgeMs ?? defaults.maxEventAgeMs,
    maxNotifiedUsers: options.maxNotifiedUsers ?? defaults.maxNotifiedUsers,
    tasteWindowMs: options.tasteWindowMs ?? defaults.tasteWindowMs,
    minPositiveRating: options.minPositiveRating ?? defaults.minPositiveRating,
    queryTimeoutMs: options.queryTimeoutMs ?? defaults.queryTimeoutMs,
  };
  const { cache, redis, driver, prefix } = options;
  const now = options.now ?? Date.now;
  const log = options.logger.child({ component: 'live-updates' });
  const read = <T>(work: (tx: Pick<ManagedTransaction, 'run'>) => Promise<T>) => readGraph(driver, log, { timeoutMs: settings.queryTimeoutMs }, work);

  /** Users inside their coalescing window. */
  const coalescing = new Map<string, { pending: PendingRefresh; timer: NodeJS.Timeout }>();
  /** Users whose window closed, waiting for a free slot (insertion order = first come). */
  const ready = new Map<string, PendingRefresh>();
  /** Users being recomputed: a user never has two recomputations at once. */
  const running = new Set<string>();
  /** Invalidations, notifications: work not tied to one user's slot. */
  const background = new Set<Promise<unknown>>();
  let notifications: Promise<void> = Promise.resolve();
  let stopped = false;
  let droppedUsers = 0;
  let idleWaiters: (() => void)[] = [];

  const isIdle = () => coalescing.size === 0 && ready.size === 0 && running.size === 0 && background.size === 0;
  const checkIdle = (): void => {
    if (!isIdle()) return;
    for (const resolve of idleWaiters.splice(0)) resolve();
  };

  const track = (work: Promise<unknown>, what: string): void => {
    const tracked = work
      .catch((error: unknown) => log.warn(`${what} failed`, { error: messageOf(error) }))
      .finally(() => {
        background.delete(tracked);
        checkIdle();
      });
    background.add(tracked);
  };

  const publish = async (message: LiveMessage): Promise<void> => {
    await publishLive(redis, message, prefix);
  };

  const titleOf = async (movieId: number): Promise<string | null> => {
    try {
      const records = await read(async (tx) => (await tx.run(titlesCypher, { movieIds: [neo4j.int(movieId)] })).records);
      const title = records[0]?.get('title') as unknown;
      return typeof title === 'string' ? title : null;
    } catch (error) {
      log.warn('could not read a movie title for a message; naming its id', { movieId, error: messageOf(error) });
      return null;
    }
  };

  const refresh = async (userId: string, pending: PendingRefresh): Promise<void> => {
    const trigger = latestTrigger(pending.triggers);
    if (!trigger) return;
    const previous = await pending.previous;
    // Without a cache there is nothing to compare with: the message just says "fetch again".
    if (cache.enabled) {
      const current = await cache.refreshUser(userId);
      if (!topEntriesChanged(previous, current, settings.topCount)) {
        log.debug('recommendations recomputed; top entries unchanged', { userId });
        return;
      }
    }
    const title = trigger.movieId === null ? null : await titleOf(trigger.movieId);
    await publish({ kind: 'recommendations-updated', userId, reason: reasonText(trigger, title, pending.triggers.length - 1), at: new Date(now()).toISOString() });
  };

  const pump = (): void => {
    if (stopped) return;
    for (const [userId, pending] of ready) {
      if (running.size >= settings.concurrency) return;
      if (running.has(userId)) continue; // its next turn comes when the current one ends
      ready.delete(userId);
      running.add(userId);
      refresh(userId, pending)
        .catch((error: unknown) => log.warn('could not refresh recommendations after events', { userId, error: messageOf(error) }))
        .finally(() => {
          running.delete(userId);
          pump();
          checkIdle();
        });
    }
  };

  const windowClosed = (userId: string): void => {
    const entry = coalescing.get(userId);
    if (!entry) return;
    coalescing.delete(userId);
    const waiting = ready.get(userId);
    // Still waiting from an earlier window (the user was being recomputed): one recomputation
    // covers both, compared with the older captured list.
    ready.set(userId, waiting ? { triggers: [...waiting.triggers, ...entry.pending.triggers], previous: waiting.previous } : entry.pending);
    pump();
  };

  const schedule = (userId: string, triggers: UserTrigger[], previous: Promise<RecommendedMovie[] | null>): void => {
    const open = coalescing.get(userId);
    if (open) {
      open.pending.triggers.push(...triggers);
      return;
    }
    if (coalescing.size + ready.size >= settings.maxQueuedUsers) {
      droppedUsers += 1;
      if (droppedUsers === 1 || droppedUsers % 1_000 === 0) {
        log.warn('too many users waiting for a recomputation; invalidating only', { droppedUsers, waiting: coalescing.size + ready.size });
      }
      return;
    }
    const timer = setTimeout(() => windowClosed(userId), settings.coalesceMs);
    timer.unref();
    coalescing.set(userId, { pending: { triggers, previous }, timer });
  };

  const notifyNewMovie = async (movie: CreatedMovie): Promise<void> => {
    const marker = `${prefix}:recs:notified:${movie.movieId}`;
    // Once per movie: a redelivered or replayed movie.created must not message everyone again.
    if ((await redis.set(marker, String(now()), 'EX', notifiedMarkerSeconds, 'NX')) !== 'OK') return;
    let matches: { userId: string; title: string; genres: string[] }[];
    try {
      matches = await read(async (tx) => {
        const result = await tx.run(matchingUsersCypher, {
          movieId: neo4j.int(movie.movieId),
          since: neo4j.int(Math.max(0, now() - settings.tasteWindowMs)),
          minPositiveRating: settings.minPositiveRating,
          maxUsers: neo4j.int(settings.maxNotifiedUsers),
        });
        return result.records.map((record) => ({
          userId: record.get('userId') as string,
          title: (record.get('title') as string | null) ?? movie.title,
          genres: record.get('matchedGenres') as string[],
        }));
      });
    } catch (error) {
      // Let a later delivery of the event try again.
      await redis.del(marker).catch(() => undefined);
      throw error;
    }
    if (matches.length === 0) return;
    // Invalidated first, so that a client reacting to the notification fetches a fresh list.
    await cache.invalidateUsers(matches.map((match) => match.userId));
    const at = new Date(now()).toISOString();
    await Promise.all(
      matches.map((match) =>
        publish({
          kind: 'notification',
          notificationKind: 'NEW_RECOMMENDATION',
          id: randomUUID(),
          userId: match.userId,
          movieId: movie.movieId,
          message: newMovieMessage(match.title, match.genres),
          at,
        }),
      ),
    );
    log.info('new movie notified to matching users', { movieId: movie.movieId, users: matches.length });
  };

  const isRecent = (at: number): boolean => now() - at <= settings.maxEventAgeMs;

  return {
    eventsApplied(events) {
      // Even after stop(): the consumer's last round must still invalidate what it changed.
      try {
        const changes = summarizeAppliedEvents(events);
        const userIds = [...changes.triggersByUser.keys()];
        if (userIds.length > 0) {
          const previousLists = cache.invalidateUsers(userIds);
          track(previousLists, 'invalidating recommendation lists');
          for (const [userId, triggers] of changes.triggersByUser) {
            const recent = triggers.filter((trigger) => isRecent(trigger.at));
            if (recent.length === 0 || stopped) continue;
            schedule(
              userId,
              recent,
              previousLists.then((lists) => lists.get(userId) ?? null),
            );
          }
        }
        if (changes.changedMovieIds.length > 0) track(cache.invalidateSimilar(changes.changedMovieIds), 'invalidating similar movies');
        for (const movie of changes.createdMovies) {
          if (!isRecent(movie.at) || settings.maxNotifiedUsers === 0 || stopped) continue;
          // One movie at a time: an admin adding 50 movies must not start 50 graph scans at once.
          const turn = notifications.then(() => notifyNewMovie(movie));
          notifications = turn.catch(() => undefined);
          track(turn, 'notifying users of a new movie');
        }
      } catch (error) {
        log.warn('could not schedule live updates for applied events', { error: messageOf(error) });
      }
    },

    idle() {
      if (isIdle()) return Promise.resolve();
      return new Promise<void>((resolve) => idleWaiters.push(resolve));
    },

    /** Users still inside their coalescing window get no message (their lists are invalidated already). */
    async stop() {
      stopped = true;
      for (const { timer } of coalescing.values()) clearTimeout(timer);
      coalescing.clear();
      ready.clear();
      while (running.size > 0 || background.size > 0) {
        await new Promise<void>((resolve) => idleWaiters.push(resolve));
      }
      idleWaiters = [];
    },
  };
}
