import { streamOf, type AnyEvent } from '@platform/shared';
import { noGraphChanges, prepareGraphChanges, type GraphChanges, type PreparedGraphChanges } from './graph.ts';

// What each event of the catalogue means for the like-graph (pure: no I/O). The consumer turns a
// batch of events into one GraphChanges and writes it in one transaction; graph.ts's latest-wins
// rules make that the same as applying the events one by one in any order.

/** The streams whose events change the graph. */
export const graphEventStreamsFor = (prefix: string): readonly string[] => [streamOf('reviews', prefix), streamOf('movies', prefix), streamOf('users', prefix)];
export const graphEventStreams: readonly string[] = graphEventStreamsFor('events');

/**
 * An event whose envelope parsed but whose payload cannot be applied (a producer bug): retrying
 * would fail the same way, so it goes to the dead-letter stream.
 */
export class EventPayloadError extends Error {
  override name = 'EventPayloadError';
}

function epochMs(at: unknown, event: AnyEvent): number {
  const ms = typeof at === 'string' ? Date.parse(at) : Number.NaN;
  if (!Number.isSafeInteger(ms) || ms < 0) throw new EventPayloadError(`${event.type} ${event.id}: payload.at must be an ISO date-time, got ${JSON.stringify(at)}`);
  return ms;
}

/** Adds one event's changes to `changes` (mutated). Throws EventPayloadError for a payload it cannot use. */
export function addEventChanges(changes: GraphChanges, event: AnyEvent): void {
  switch (event.type) {
    case 'review.upserted': {
      const { userId, movieId, rating } = event.payload;
      changes.ratings.push({ userId, movieId, rating, at: epochMs(event.payload.at, event) });
      return;
    }
    case 'review.deleted': {
      const { userId, movieId } = event.payload;
      changes.ratings.push({ userId, movieId, rating: null, at: epochMs(event.payload.at, event) });
      return;
    }
    case 'reaction.set': {
      const { userId, movieId, reaction } = event.payload;
      changes.reactions.push({ userId, movieId, reaction, at: epochMs(event.payload.at, event) });
      return;
    }
    case 'reaction.cleared': {
      const { userId, movieId } = event.payload;
      changes.reactions.push({ userId, movieId, reaction: null, at: epochMs(event.payload.at, event) });
      return;
    }
    case 'exclusion.set':
    case 'exclusion.cleared': {
      const { userId, movieId } = event.payload;
      changes.exclusions.push({ userId, movieId, excluded: event.type === 'exclusion.set', at: epochMs(event.payload.at, event) });
      return;
    }
    case 'movie.created':
    case 'movie.updated': {
      const { movieId, title, year, genres } = event.payload;
      changes.movies.push({ id: movieId, title, year, genres, at: epochMs(event.payload.at, event) });
      return;
    }
    case 'user.registered':
      changes.userIds.push(event.payload.userId);
      return;
    case 'user.profile-updated': {
      const { userId, favoriteGenres } = event.payload;
      // The node too: a profile update may overtake the registration (claimed entries, replays).
      changes.userIds.push(userId);
      changes.users.push({ id: userId, favoriteGenres, at: epochMs(event.payload.at, event) });
      return;
    }
    default: {
      // A type added to the catalogue but not handled here fails the type check (never), and at
      // run time (an older build reading a newer stream) is rejected instead of silently dropped.
      const unknown: never = event;
      throw new EventPayloadError(`no graph handling for event type ${JSON.stringify((unknown as { type?: unknown }).type)}`);
    }
  }
}

/**
 * Checks that one event can be written, exactly as its batch will be (the same validation runs):
 * a bad event is found and dead-lettered alone instead of failing its whole batch forever.
 */
export function checkEventApplies(event: AnyEvent): void {
  try {
    const changes = noGraphChanges();
    addEventChanges(changes, event);
    prepareGraphChanges(changes);
  } catch (error) {
    // Pure code over the payload alone: whatever it throws (a RangeError naming the field, or a
    // TypeError from a payload of the wrong shape) would be thrown again on every retry.
    if (error instanceof EventPayloadError) throw error;
    throw new EventPayloadError(`${event.type} ${event.id}: ${error instanceof Error ? error.message : String(error)}`);
  }
}

/** The changes of a batch of events, ready for one transaction. */
export function prepareEventBatch(events: readonly AnyEvent[]): PreparedGraphChanges {
  const changes = noGraphChanges();
  for (const event of events) addEventChanges(changes, event);
  return prepareGraphChanges(changes);
}
