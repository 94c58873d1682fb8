import {
  connectRedis,
  DateTimeScalar,
  EventQueue,
  liveChannelFor,
  pageSize,
  parseLiveMessage,
  requireViewer,
  serviceUnavailable,
  type LiveMessage,
  type Logger,
  type Redis,
} from '@platform/shared';
import { movieReference, type MovieReference } from './movie-ids.ts';
import { defaultRecommendations, toRecommendationResult, type RecommendationResult, type RecommendationsContext } from './resolvers.ts';

// Subscription.recommendationsUpdated and Subscription.notifications: the signed-in user's live
// messages (shared/src/live.ts), which the live-updates producer publishes on the Redis pub/sub
// channel liveChannelFor(userId, prefix). Served over graphql-ws by startSubgraphServer's
// `subscriptions` option; the gateway proxies them to clients.
//
// - A user only ever gets their own channel: it is named after the verified token's subject,
//   never after an argument, and a message whose userId is not the channel's user is dropped.
// - One Redis connection per process is in subscriber mode; each channel is SUBSCRIBEd once, for
//   as many subscriptions of that user as this process serves (reference counted), and
//   UNSUBSCRIBEd when the last one ends, so `PUBSUB NUMSUB <channel>` is 1 while any is open.
// - On subscribe nothing is sent until a message arrives (query `recommendations` for the current
//   list). Pub/sub is at-most-once: a message published while no subscription is open (or while
//   Redis is unreachable) is gone, which is fine for "something changed" messages.
// - recommendationsUpdated resolves each message to the user's current list
//   (recommender.forUser, cached by the served recommender), so a client never has to re-query.

type Listener = (message: LiveMessage) => void;

export interface LiveChannels {
  /**
   * Calls `listener` with every well-formed message on the user's channel until the returned
   * function is called. Resolves once Redis confirmed the subscription (SERVICE_UNAVAILABLE when
   * Redis cannot be reached).
   */
  listen(userId: string, listener: Listener): Promise<() => void>;
  /** Channels this process is subscribed to (tests, diagnostics). */
  channelCount(): number;
  close(): Promise<void>;
}

export interface LiveChannelsOptions {
  redisUrl: string;
  /** The event stream prefix; channels are liveChannelFor(userId, prefix). */
  prefix: string;
  logger: Logger;
}

interface Channel {
  userId: string;
  listeners: Set<Listener>;
  /** SUBSCRIBE confirmed */
  ready: Promise<void>;
}

export function createLiveChannels(options: LiveChannelsOptions): LiveChannels {
  const log = options.logger.child({ component: 'live-channels' });
  const channels = new Map<string, Channel>();
  // Made on first use: a process nobody subscribes to holds no subscriber connection.
  let subscriber: Redis | undefined;

  const connection = (): Redis => {
    if (subscriber) return subscriber;
    subscriber = connectRedis(options.redisUrl, { name: 'recommendations-live', logger: log });
    subscriber.on('message', (channelName: string, text: string) => {
      const channel = channels.get(channelName);
      if (!channel) return;
      const message = parseLiveMessage(text);
      if (!message) {
        log.warn('ignored a malformed live message', { channel: channelName });
        return;
      }
      if (message.userId !== channel.userId) {
        log.warn('ignored a live message for another user', { channel: channelName });
        return;
      }
      for (const listener of [...channel.listeners]) listener(message);
    });
    return subscriber;
  };

  return {
    async listen(userId, listener) {
      const name = liveChannelFor(userId, options.prefix);
      let channel = channels.get(name);
      if (!channel) {
        const redis = connection();
        const created: Channel = { userId, listeners: new Set(), ready: redis.subscribe(name).then(() => undefined) };
        // A failed SUBSCRIBE forgets the channel, so the next subscription tries again.
        created.ready.catch(() => {
          if (channels.get(name) === created) channels.delete(name);
        });
        channels.set(name, created);
        channel = created;
      }
      const joined = channel;
      joined.listeners.add(listener);
      try {
        await joined.ready;
      } catch (error) {
        joined.listeners.delete(listener);
        log.warn('could not subscribe to a live channel', { error: error instanceof Error ? error.message : String(error) });
        throw serviceUnavailable('The live update service (Redis)');
      }
      let left = false;
      return () => {
        if (left) return;
        left = true;
        joined.listeners.delete(listener);
        if (joined.listeners.size > 0 || channels.get(name) !== joined) return;
        channels.delete(name);
        // Ordered after the SUBSCRIBE on the same connection; a later listen() subscribes anew.
        subscriber?.unsubscribe(name).catch((error: unknown) => log.warn('could not unsubscribe a live channel', { error: error instanceof Error ? error.message : String(error) }));
      };
    },
    channelCount: () => channels.size,
    async close() {
      channels.clear();
      const redis = subscriber;
      subscriber = undefined;
      // A subscriber connection cannot QUIT politely while subscribed on every Redis version; nothing is pending on it.
      redis?.disconnect();
    },
  };
}

export interface RecommendationsUpdate {
  recommendations: RecommendationResult[];
  reason: string;
  at: string;
}

export interface NotificationResult {
  id: string;
  kind: string;
  movie: MovieReference | null;
  message: string;
  at: string;
}

type RecommendationsUpdatedMessage = Extract<LiveMessage, { kind: 'recommendations-updated' }>;
type NotificationMessage = Extract<LiveMessage, { kind: 'notification' }>;

export function toNotification(message: NotificationMessage): NotificationResult {
  return {
    id: message.id,
    kind: message.notificationKind,
    movie: message.movieId === null ? null : movieReference(message.movieId),
    message: message.message,
    at: message.at,
  };
}

/**
 * The user's messages of one kind as an async iterator for graphql-js. Bounded: when the client
 * (through the gateway) reads more slowly than messages come, the oldest waiting ones are dropped.
 */
async function liveEvents<K extends LiveMessage['kind']>(
  channels: LiveChannels,
  userId: string,
  kind: K,
  bufferSize: number,
  logger: Logger,
): Promise<EventQueue<Extract<LiveMessage, { kind: K }>>> {
  let stopListening: (() => void) | undefined;
  const queue = new EventQueue<Extract<LiveMessage, { kind: K }>>({
    capacity: bufferSize,
    onClose: () => stopListening?.(),
    onDrop: (dropped) => {
      if (dropped === 1 || dropped % 100 === 0) logger.warn('slow subscriber: dropped the oldest live messages', { kind, dropped });
    },
  });
  stopListening = await channels.listen(userId, (message) => {
    if (message.kind === kind) queue.push(message as Extract<LiveMessage, { kind: K }>);
  });
  // The subscription may have ended while SUBSCRIBE was in flight.
  if (!queue.open) stopListening();
  return queue;
}

export function createSubscriptionResolvers(channels: LiveChannels, options: { bufferSize: number }) {
  return {
    DateTime: DateTimeScalar,
    Subscription: {
      recommendationsUpdated: {
        subscribe: async (_root: unknown, args: { first?: number | null }, context: RecommendationsContext) => {
          const viewer = requireViewer(context);
          // Checked now, so a bad `first` fails the subscribe instead of every later event.
          pageSize(args.first, defaultRecommendations, 'first');
          return liveEvents(channels, viewer.id, 'recommendations-updated', options.bufferSize, context.logger);
        },
        resolve: async (message: RecommendationsUpdatedMessage, args: { first?: number | null }, context: RecommendationsContext): Promise<RecommendationsUpdate> => {
          const viewer = requireViewer(context);
          const limit = pageSize(args.first, defaultRecommendations, 'first');
          const recommendations = await context.recommender.forUser(viewer.id, limit);
          return { recommendations: recommendations.map(toRecommendationResult), reason: message.reason, at: message.at };
        },
      },
      notifications: {
        subscribe: async (_root: unknown, _args: unknown, context: RecommendationsContext) => {
          const viewer = requireViewer(context);
          return liveEvents(channels, viewer.id, 'notification', options.bufferSize, context.logger);
        },
        resolve: (message: NotificationMessage): NotificationResult => toNotification(message),
      },
    },
  };
}
