import type { GraphQLFormattedError } from 'graphql';
import { createClient, type Client, type FormattedExecutionResult, type SubscribePayload } from 'graphql-ws';
import { WebSocket } from 'ws';
import type { Logger } from '@platform/shared';

// The gateway's side of its subgraphs' graphql-ws endpoints. One upstream socket per
// (subgraph, access token) carries every subscription of that token to that subgraph (all of
// one client connection's subscriptions, and those of the same user's other connections that use
// the same token). The socket sends the token in connection_init, so the subgraph verifies it
// itself, as it does for HTTP. It is opened by the first subscription and closed with the last.
// No retries: an upstream that closes or cannot be reached ends the subscriptions it carried,
// and the client decides whether to subscribe again.

/** How an upstream subscription ended other than by completing. */
export type UpstreamFailure =
  /** The subgraph answered the subscribe with an `error` message (validation, auth, ...). */
  | { kind: 'rejected'; errors: readonly GraphQLFormattedError[] }
  /** The upstream socket closed (4403: the subgraph refused or expired the token). */
  | { kind: 'closed'; code: number; reason: string }
  /** It could not be reached, or the socket failed. */
  | { kind: 'unreachable'; message: string };

export interface UpstreamSink {
  next(result: FormattedExecutionResult): void;
  error(failure: UpstreamFailure): void;
  complete(): void;
}

export interface UpstreamTarget {
  serviceName: string;
  /** The subgraph's HTTP URL (…/graphql); the socket goes to the same URL with ws: / wss:. */
  url: string;
}

export interface UpstreamPool {
  /** Starts one upstream subscription; the returned function ends it (idempotent). */
  subscribe(target: UpstreamTarget, authorization: string, request: SubscribePayload, sink: UpstreamSink): () => void;
  /** Upstream sockets currently held (tests, diagnostics). */
  openConnections(): number;
  close(): Promise<void>;
}

export function webSocketUrlOf(httpUrl: string): string {
  const url = new URL(httpUrl);
  if (url.protocol === 'http:') url.protocol = 'ws:';
  else if (url.protocol === 'https:') url.protocol = 'wss:';
  return url.toString();
}

/** Classifies what graphql-ws's client passes to a sink's error(). */
export function upstreamFailureOf(error: unknown): UpstreamFailure {
  if (Array.isArray(error)) return { kind: 'rejected', errors: error as GraphQLFormattedError[] };
  if (typeof error === 'object' && error !== null && 'code' in error && typeof error.code === 'number') {
    const reason = 'reason' in error && typeof error.reason === 'string' ? error.reason : '';
    return { kind: 'closed', code: error.code, reason };
  }
  return { kind: 'unreachable', message: error instanceof Error ? error.message : typeof error === 'object' && error !== null && 'message' in error ? String(error.message) : String(error) };
}

/**
 * A ws WebSocket that pings the subgraph every `keepAliveMs` and terminates the socket when the
 * previous ping got no pong: a hung subgraph (or a dead network path) then ends the subscriptions
 * it carried instead of leaving them silent forever. graphql-ws's client only sends protocol
 * pings and never times them out.
 */
function heartbeatWebSocket(keepAliveMs: number, handshakeTimeoutMs: number) {
  return class HeartbeatWebSocket extends WebSocket {
    constructor(address: string | URL, protocols?: string | string[]) {
      super(address, protocols, { handshakeTimeout: handshakeTimeoutMs, perMessageDeflate: false });
      let alive = true;
      let timer: NodeJS.Timeout | undefined;
      this.on('open', () => {
        timer = setInterval(() => {
          if (!alive) {
            this.terminate();
            return;
          }
          alive = false;
          this.ping();
        }, keepAliveMs);
        timer.unref();
      });
      this.on('pong', () => {
        alive = true;
      });
      this.on('close', () => clearInterval(timer));
    }
  };
}

interface PoolEntry {
  client: Client;
  subscriptions: number;
}

export function createUpstreamPool(options: { logger: Logger; keepAliveMs: number; handshakeTimeoutMs?: number }): UpstreamPool {
  const entries = new Map<string, PoolEntry>();
  const log = options.logger.child({ component: 'upstream-subscriptions' });
  const socketClass = heartbeatWebSocket(Math.max(1_000, options.keepAliveMs), options.handshakeTimeoutMs ?? 5_000);

  const entryFor = (key: string, target: UpstreamTarget, authorization: string): PoolEntry => {
    const existing = entries.get(key);
    if (existing) return existing;
    const client = createClient({
      url: webSocketUrlOf(target.url),
      webSocketImpl: socketClass,
      connectionParams: { authorization },
      lazy: true,
      retryAttempts: 0,
      on: {
        closed: (event) => {
          const failure = upstreamFailureOf(event);
          if (failure.kind === 'closed' && failure.code !== 1000) log.info('upstream socket closed', { subgraph: target.serviceName, code: failure.code, reason: failure.reason });
        },
        error: (error) => log.warn('upstream socket failed', { subgraph: target.serviceName, error: upstreamFailureOf(error) }),
      },
    });
    const entry: PoolEntry = { client, subscriptions: 0 };
    entries.set(key, entry);
    return entry;
  };

  return {
    subscribe(target, authorization, request, sink) {
      const key = `${target.serviceName}\u0000${authorization}`;
      const entry = entryFor(key, target, authorization);
      entry.subscriptions += 1;
      let released = false;
      const release = (): void => {
        if (released) return;
        released = true;
        entry.subscriptions -= 1;
        if (entry.subscriptions === 0 && entries.get(key) === entry) {
          entries.delete(key);
          void entry.client.dispose();
        }
      };
      const unsubscribe = entry.client.subscribe<Record<string, unknown>, Record<string, unknown>>(request, {
        next: (result) => sink.next(result),
        error: (error) => {
          release();
          sink.error(upstreamFailureOf(error));
        },
        complete: () => {
          release();
          sink.complete();
        },
      });
      return () => {
        // Sends `complete` upstream while the socket is open (graphql-ws's client does nothing once done).
        unsubscribe();
        release();
      };
    },
    openConnections: () => entries.size,
    async close() {
      const clients = [...entries.values()].map((entry) => entry.client);
      entries.clear();
      await Promise.all(clients.map((client) => client.dispose()));
    },
  };
}
