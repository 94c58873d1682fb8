import type { Redis } from 'ioredis';

// Live messages for one user (recommendation list changed, a notification), published on Redis
// pub/sub so that whichever subgraph replica holds the user's subscription can deliver them.
// Unlike the event streams they are fire-and-forget: a subscriber that is not connected when a
// message is published has nothing to catch up on (it asks for its current list when it
// subscribes), so pub/sub's at-most-once delivery is what we want.

export type LiveMessage =
  | {
      kind: 'recommendations-updated';
      userId: string;
      /** For people: "you liked Heat", "new movie added", "model rebuilt". */
      reason: string;
      at: string;
    }
  | {
      kind: 'notification';
      userId: string;
      id: string;
      notificationKind: 'NEW_RECOMMENDATION';
      movieId: number | null;
      message: string;
      at: string;
    };

/** One channel per user, so a replica subscribes only to the users it serves. */
export const liveChannelFor = (userId: string, prefix = 'events'): string => `${prefix}:live:user:${userId}`;

export async function publishLive(redis: Pick<Redis, 'publish'>, message: LiveMessage, prefix = 'events'): Promise<void> {
  await redis.publish(liveChannelFor(message.userId, prefix), JSON.stringify(message));
}

/** Null for anything that is not a well-formed live message (never throws on foreign traffic). */
export function parseLiveMessage(text: string): LiveMessage | null {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return null;
  }
  if (typeof value !== 'object' || value === null) return null;
  const message = value as Record<string, unknown>;
  if (typeof message.userId !== 'string' || typeof message.at !== 'string') return null;
  if (message.kind === 'recommendations-updated' && typeof message.reason === 'string') return message as LiveMessage;
  if (
    message.kind === 'notification' &&
    typeof message.id === 'string' &&
    message.notificationKind === 'NEW_RECOMMENDATION' &&
    (message.movieId === null || Number.isInteger(message.movieId)) &&
    typeof message.message === 'string'
  ) {
    return message as LiveMessage;
  }
  return null;
}
