import { randomUUID } from 'node:crypto';
import type { IncomingMessage, Server } from 'node:http';
import type { Duplex } from 'node:stream';
import {
  createSourceEventStream,
  execute,
  getOperationAST,
  getVariableValues,
  GraphQLError,
  parse,
  specifiedRules,
  validate,
  type DocumentNode,
  type ExecutionArgs,
  type ExecutionResult,
  type FormattedExecutionResult,
  type GraphQLFormattedError,
  type GraphQLSchema,
  type OperationDefinitionNode,
  type ValidationRule,
} from 'graphql';
import { handleProtocols, makeServer } from 'graphql-ws';
import { WebSocketServer, type RawData, type WebSocket } from 'ws';
import { viewerFromAuthorization, type TokenVerifier, type Viewer } from './auth.ts';
import { createErrorFormatter, ErrorCode, platformError, unauthenticated } from './errors.ts';
import { requestScope, type Logger } from './logger.ts';
import { LruCache } from './lru-cache.ts';

// GraphQL over WebSocket (the graphql-transport-ws protocol of graphql-ws) on a service's own
// HTTP server, at the same path as HTTP (/graphql). The gateway serves the supergraph's
// subscriptions with it; a subgraph serves its own Subscription fields with it (through
// startSubgraphServer's `subscriptions` option). What it adds to graphql-ws's makeServer, which
// has none of it (see /work/shared/NOTES.md):
//
// - Auth from the connection_init payload `{ authorization: "Bearer <token>" }`, checked by the
//   same verifier as HTTP. No token or a bad one: close 4403. The socket is closed with 4403 when
//   the token's `exp` passes; a client renews by reconnecting with a fresh token (graphql-ws's
//   client does that by itself when `connectionParams` is a function and retries are on).
// - Multiplexed connections (opt-in, `allowMultiplexedConnections`; a subgraph behind the gateway,
//   never the gateway's own endpoint): connection_init `{ multiplexed: true }` is acknowledged
//   without a viewer, and every subscribe carries its user's token in `extensions.authorization`,
//   verified per operation by the same verifier. So the gateway can carry many users'
//   subscriptions on a few shared sockets while the subgraph still trusts only tokens it verified
//   itself. Token problems end the operation, never the shared socket: no, bad or expired token
//   -> an `error` message (UNAUTHENTICATED); `exp` passing -> the operation ends with an `error`
//   (UNAUTHENTICATED, "token expired"). The per-user connection cap does not apply to such a
//   connection (it is not a user's); the per-connection operation cap does, so a subgraph that
//   allows them sets it generously. On a normal connection `extensions.authorization` is ignored:
//   its operations always run as the connection's own viewer.
// - Caps: connections per user (close 4429), operations per connection (an `error` message for
//   the excess subscribe), message size (ws `maxPayload`: close 1009), events buffered per
//   subscription (EventQueue: the oldest are dropped and counted), bytes waiting in the socket
//   (close 1013 beyond the limit).
// - Keep-alive: a ws ping every `keepAliveMs`; a socket that did not answer the previous one is
//   terminated.
// - Message hygiene: a message type only a server may send (next, error, connection_ack) closes
//   with 4400 like malformed JSON does, instead of graphql-ws's 4500 "internal error"; a handler
//   failure is logged and closes with 4500 without its message (no internals leak).
// - Validation of every operation (graphql-js rules plus the caller's, e.g. operation limits)
//   before anything runs, with errors in the protocol's `error` message; results and errors go
//   through the platform's error formatter (own codes pass, anything else is masked and logged).
//
// What an operation does is the caller's `run`: a subgraph executes its schema (see
// graphqlSubscriptionRunner below), the gateway plans and proxies to a subgraph.

/** Close codes a client can see (4400/4401/4406/4408/4409/4429 also come from graphql-ws itself). */
export const SocketCloseCode = {
  /** Server shutting down: reconnect (to another replica). */
  GoingAway: 1001,
  /** A message larger than the configured limit (closed by ws). */
  MessageTooBig: 1009,
  /** The token could not be verified right now (JWKS unreachable), or the client reads too slowly: reconnect later. */
  TryAgainLater: 1013,
  /** Malformed message, unknown type or a type only a server sends. */
  BadRequest: 4400,
  /** Subscribe before connection_ack. */
  Unauthorized: 4401,
  /** No, bad or expired token (also when it expires on an open socket, or a subgraph refuses it). */
  Forbidden: 4403,
  /** No connection_init within the timeout. */
  ConnectionInitialisationTimeout: 4408,
  /** An operation id that is already running on this connection. */
  SubscriberAlreadyExists: 4409,
  /** A second connection_init, or more connections for one user than allowed (the reason says which). */
  TooManyRequests: 4429,
  InternalServerError: 4500,
} as const;

export interface SubscriptionLimits {
  /** Operations one connection may run at once (subscriptions, plus queries still in flight). */
  maxOperationsPerConnection: number;
  /** Open, acknowledged connections of one user on this process. */
  maxConnectionsPerUser: number;
  /** Largest incoming message (ws maxPayload); larger ones close the socket with 1009. */
  maxMessageBytes: number;
  /** connection_init must arrive within this, else close 4408. */
  connectionInitTimeoutMs: number;
  /** A ws ping every this often; no pong by the next one terminates the socket. 0 disables. */
  keepAliveMs: number;
  /** Events one subscription may hold while its consumer is busy; beyond it the oldest is dropped. */
  eventBufferSize: number;
  /** Bytes accepted for sending but not yet written to the network; beyond it the socket is closed with 1013. */
  maxBufferedBytes: number;
}

export const defaultSubscriptionLimits: SubscriptionLimits = {
  maxOperationsPerConnection: 20,
  maxConnectionsPerUser: 5,
  maxMessageBytes: 64 * 1024,
  connectionInitTimeoutMs: 3_000,
  keepAliveMs: 12_000,
  eventBufferSize: 100,
  maxBufferedBytes: 4 * 1024 * 1024,
};

// ---------------------------------------------------------------------------------------------
// Pure parts (unit-tested): the per-subscription buffer, stream mapping, the per-user registry.

/**
 * A bounded, single-consumer async queue between an event source (Redis pub/sub, an upstream
 * subscription) and the socket. The consumer pulls one event at a time and only as fast as the
 * socket drains (graphql-ws awaits each send), so a slow consumer makes events wait here; when
 * `capacity` are waiting, the oldest is dropped and counted (takeDropped). Live events describe
 * "what is current now", so the newest ones are the ones worth keeping.
 *
 * end() and fail() let buffered events drain first; return() (the consumer is gone) discards them
 * at once, resolves a pending next() and calls `onClose`, even while a next() is waiting. That
 * is why this is a plain iterator and not an async generator: a generator's return() waits until
 * its pending await settles, which for a quiet channel may be never.
 */
export class EventQueue<T> implements AsyncIterableIterator<T> {
  readonly capacity: number;
  #buffer: T[] = [];
  #waiters: { resolve(result: IteratorResult<T>): void; reject(error: unknown): void }[] = [];
  #ended = false;
  #failure: { error: unknown } | null = null;
  #closed = false;
  #dropped = 0;
  #onClose: (() => void) | undefined;
  #onDrop: ((droppedSinceLastTake: number) => void) | undefined;

  constructor(options: { capacity: number; onClose?: () => void; onDrop?: (droppedSinceLastTake: number) => void }) {
    if (!Number.isInteger(options.capacity) || options.capacity < 1) throw new RangeError(`EventQueue capacity must be a positive integer, got ${options.capacity}`);
    this.capacity = options.capacity;
    this.#onClose = options.onClose;
    this.#onDrop = options.onDrop;
  }

  /** Events waiting for the consumer. */
  get size(): number {
    return this.#buffer.length;
  }

  /** Whether push() still accepts events. */
  get open(): boolean {
    return !this.#closed && !this.#ended && this.#failure === null;
  }

  /** Adds an event; false when the queue no longer accepts any (ended, failed or returned). */
  push(value: T): boolean {
    if (!this.open) return false;
    const waiter = this.#waiters.shift();
    if (waiter) {
      waiter.resolve({ done: false, value });
      return true;
    }
    if (this.#buffer.length >= this.capacity) {
      this.#buffer.shift();
      this.#dropped += 1;
      this.#onDrop?.(this.#dropped);
    }
    this.#buffer.push(value);
    return true;
  }

  /** The producer is done: the consumer gets what is buffered, then the end. */
  end(): void {
    if (!this.open) return;
    this.#ended = true;
    for (const waiter of this.#waiters.splice(0)) waiter.resolve({ done: true, value: undefined });
  }

  /** The producer failed: the consumer gets what is buffered, then this error (once), then the end. */
  fail(error: unknown): void {
    if (!this.open) return;
    this.#failure = { error };
    const waiter = this.#waiters.shift();
    if (waiter) {
      this.#failure = null;
      this.#ended = true;
      waiter.reject(error);
    }
    for (const other of this.#waiters.splice(0)) other.resolve({ done: true, value: undefined });
  }

  /** Events dropped since the last call (and resets the count). */
  takeDropped(): number {
    const dropped = this.#dropped;
    this.#dropped = 0;
    return dropped;
  }

  next(): Promise<IteratorResult<T>> {
    if (this.#buffer.length > 0) return Promise.resolve({ done: false, value: this.#buffer.shift() as T });
    if (this.#failure) {
      const { error } = this.#failure;
      this.#failure = null;
      this.#ended = true;
      return Promise.reject(error);
    }
    if (this.#closed || this.#ended) return Promise.resolve({ done: true, value: undefined });
    return new Promise((resolve, reject) => this.#waiters.push({ resolve, reject }));
  }

  /** The consumer is gone: discard everything, wake a waiting next(), tell the producer (once). */
  return(): Promise<IteratorResult<T>> {
    if (!this.#closed) {
      this.#closed = true;
      this.#buffer = [];
      this.#failure = null;
      for (const waiter of this.#waiters.splice(0)) waiter.resolve({ done: true, value: undefined });
      const onClose = this.#onClose;
      this.#onClose = undefined;
      onClose?.();
    }
    return Promise.resolve({ done: true, value: undefined });
  }

  [Symbol.asyncIterator](): this {
    return this;
  }
}

/**
 * Maps each event of `source` with `map`, one at a time and in order (the next event is not
 * pulled before the previous one is mapped and delivered). return() reaches the source at once,
 * also while a map is in flight (its result is then discarded); a failing map or source ends the
 * source too, so nothing upstream is left subscribed.
 */
export function mapEventStream<T, R>(source: AsyncIterator<T>, map: (event: T) => Promise<R>): AsyncIterableIterator<R> & { return(): Promise<IteratorResult<R>> } {
  let finished = false;
  const done: IteratorResult<R> = { done: true, value: undefined };
  const finish = async (): Promise<void> => {
    if (finished) return;
    finished = true;
    await source.return?.();
  };
  return {
    async next(): Promise<IteratorResult<R>> {
      if (finished) return done;
      let item: IteratorResult<T>;
      let value: R;
      try {
        item = await source.next();
        if (item.done || finished) {
          await finish();
          return done;
        }
        value = await map(item.value);
      } catch (error) {
        await finish();
        throw error;
      }
      return finished ? done : { done: false, value };
    },
    async return(): Promise<IteratorResult<R>> {
      await finish();
      return done;
    },
    async throw(error?: unknown): Promise<IteratorResult<R>> {
      await finish();
      throw error;
    },
    [Symbol.asyncIterator]() {
      return this;
    },
  };
}

/** Counts each user's open connections on this process, for `maxConnectionsPerUser`. */
export class ConnectionRegistry {
  readonly maxPerUser: number;
  #byUser = new Map<string, Set<string>>();

  constructor(maxPerUser: number) {
    this.maxPerUser = maxPerUser;
  }

  /** Registers the connection; false (and nothing registered) when the user is at the limit. */
  tryAdd(userId: string, connectionId: string): boolean {
    const connections = this.#byUser.get(userId) ?? new Set<string>();
    if (connections.has(connectionId)) return true;
    if (connections.size >= this.maxPerUser) return false;
    connections.add(connectionId);
    this.#byUser.set(userId, connections);
    return true;
  }

  remove(userId: string, connectionId: string): void {
    const connections = this.#byUser.get(userId);
    if (!connections) return;
    connections.delete(connectionId);
    if (connections.size === 0) this.#byUser.delete(userId);
  }

  count(userId: string): number {
    return this.#byUser.get(userId)?.size ?? 0;
  }
}

/**
 * Documents that parsed and passed validation, by query text. Thousands of clients subscribe with
 * the same text, and a parsed document (with its token list) is ~10 KB that each running
 * operation would otherwise keep for its whole life; shared, it is parsed and validated once.
 * Bounded by entries and by the total text length, so distinct large documents cannot pile up.
 */
export class DocumentCache extends LruCache<DocumentNode> {
  constructor(options: { maxEntries: number; maxTextLength: number }) {
    super(options.maxEntries, { maxWeight: options.maxTextLength, weightOf: (query) => query.length });
  }
}

/** Several errors ending one operation (e.g. an upstream subgraph's `error` message). */
export class OperationFailed extends Error {
  readonly errors: readonly GraphQLError[];
  constructor(errors: readonly GraphQLError[]) {
    super(errors[0]?.message ?? 'Operation failed');
    this.name = 'OperationFailed';
    this.errors = errors;
  }
}

const longestTimerMs = 2 ** 31 - 1;

/**
 * Ends one operation from outside its stream. graphql-ws sends an operation's `error` message
 * only when the operation's stream throws, so the stream wrap() returns rejects its pending (or
 * next) next() with the failure, once, and returns the source at once (which releases what it
 * holds, e.g. a Redis channel), even while the source has nothing to give. Used on multiplexed
 * connections, where a token's expiry (and `close` from `run`) must end that user's operation
 * without touching the shared socket.
 */
export class OperationGuard {
  #failure: GraphQLError | null = null;
  #source: ResultStream | null = null;
  #rejectPending: ((error: unknown) => void) | null = null;
  #reported = false;
  #finished = false;
  #timer: NodeJS.Timeout | undefined;

  /** The failure that ended the operation, if one did. */
  get failure(): GraphQLError | null {
    return this.#failure;
  }

  /** Calls fail(error()) at `atMs` (epoch ms) unless the operation ended before; then `onFail`. */
  failAt(atMs: number, error: () => GraphQLError, onFail?: () => void): void {
    clearTimeout(this.#timer);
    this.#timer = setTimeout(() => {
      if (this.fail(error())) onFail?.();
    }, Math.min(longestTimerMs, Math.max(0, atMs - Date.now())));
    this.#timer.unref();
  }

  /** Ends the operation with `error`; false when it had already ended or failed. */
  fail(error: GraphQLError): boolean {
    if (this.#finished || this.#failure) return false;
    this.#failure = error;
    clearTimeout(this.#timer);
    this.#source?.return().catch(() => undefined);
    const reject = this.#rejectPending;
    if (reject) {
      this.#rejectPending = null;
      this.#reported = true;
      reject(new OperationFailed([error]));
    }
    return true;
  }

  /** The operation ended by itself (or never became a stream): no failure can follow. */
  dispose(): void {
    this.#finished = true;
    clearTimeout(this.#timer);
  }

  wrap(source: ResultStream): ResultStream {
    this.#source = source;
    if (this.#failure) source.return().catch(() => undefined);
    const done: IteratorResult<never> = { done: true, value: undefined };
    const stream: ResultStream & AsyncIterableIterator<ExecutionResult | FormattedExecutionResult> = {
      next: () => {
        if (this.#failure) {
          if (this.#reported) return Promise.resolve(done);
          this.#reported = true;
          return Promise.reject(new OperationFailed([this.#failure]));
        }
        if (this.#finished) return Promise.resolve(done);
        return new Promise((resolve, reject) => {
          this.#rejectPending = reject;
          // A settled source after fail() is ignored: the failure has been reported instead.
          source.next().then(
            (item) => {
              if (this.#rejectPending !== reject) return;
              this.#rejectPending = null;
              if (item.done) this.dispose();
              resolve(item);
            },
            (error: unknown) => {
              if (this.#rejectPending !== reject) return;
              this.#rejectPending = null;
              this.dispose();
              reject(error);
            },
          );
        });
      },
      return: async () => {
        this.dispose();
        await source.return();
        return done;
      },
      throw: async (error?: unknown) => {
        this.dispose();
        await source.return();
        throw error;
      },
      [Symbol.asyncIterator]() {
        return stream;
      },
    };
    return stream;
  }
}

/** The types a client may send (graphql-transport-ws); anything else closes with 4400. */
const clientMessageTypes = new Set(['connection_init', 'ping', 'pong', 'subscribe', 'complete']);

/** False only for a well-formed message of a type a client must never send. */
export function isAllowedClientMessage(text: string): boolean {
  let message: unknown;
  try {
    message = JSON.parse(text);
  } catch {
    return true; // graphql-ws closes malformed JSON with 4400 itself
  }
  if (typeof message !== 'object' || message === null || !('type' in message) || typeof message.type !== 'string') return true;
  return clientMessageTypes.has(message.type);
}

/** A close reason must fit in 123 bytes (ws throws otherwise). */
export function closeReason(text: string): string {
  if (Buffer.byteLength(text) <= 123) return text;
  let cut = text.slice(0, 120);
  while (Buffer.byteLength(`${cut}...`) > 123) cut = cut.slice(0, -1);
  return `${cut}...`;
}

// Same rule as the x-request-id header (http-server.ts): a caller-supplied id is used only if it
// looks like one, so nobody can inject arbitrary text into log lines.
const requestIdPattern = /^[A-Za-z0-9._:-]{8,64}$/;

/** The request id a subscribe message carries in `extensions.requestId` (the gateway sends its own), if well-formed. */
export function requestIdFromExtensions(extensions: Record<string, unknown> | null | undefined): string | undefined {
  const candidate = extensions?.requestId;
  return typeof candidate === 'string' && requestIdPattern.test(candidate) ? candidate : undefined;
}

// ---------------------------------------------------------------------------------------------
// The server

/**
 * One WebSocket connection, as `run` sees it for one operation. On a normal connection every
 * operation sees the same viewer (the connection_init token's); on a multiplexed connection each
 * operation gets a view of its own, with the viewer of the token it carried.
 */
export interface SubscriptionConnection {
  readonly id: string;
  /** Who the operation runs as (verified before `run` is called). */
  readonly viewer: Viewer;
  /** The verified "Bearer ..." value (forwarded upstream by the gateway). */
  readonly authorization: string;
  readonly clientAddress: string;
  readonly logger: Logger;
  /**
   * Closes the socket (e.g. 4403 when an upstream refused the token). On a multiplexed connection
   * it ends only this operation, with an `error` (UNAUTHENTICATED for 4403, else
   * SERVICE_UNAVAILABLE): the socket carries other users' operations.
   */
  close(code: number, reason: string): void;
}

/** A parsed, validated operation with coerced variables. */
export interface ValidatedOperation {
  /** The client's operation id (unique on its connection). */
  id: string;
  requestId: string;
  query: string;
  document: DocumentNode;
  operation: OperationDefinitionNode;
  operationName: string | undefined;
  /** As sent (forwarded as is, e.g. upstream); already checked against the variable definitions. */
  variables: Record<string, unknown>;
}

export type ResultStream = AsyncIterator<ExecutionResult | FormattedExecutionResult> & { return(): Promise<IteratorResult<unknown>> };

/** What `run` made of an operation: errors (sent as an `error` message), one result, or a stream. */
export type OperationOutcome =
  | { errors: readonly GraphQLError[] }
  | { result: ExecutionResult | FormattedExecutionResult }
  | { stream: ResultStream };

export interface SubscriptionServerOptions {
  httpServer: Server;
  /** Same as HTTP: /graphql. */
  path?: string;
  /** Operations are validated against it. */
  schema: GraphQLSchema;
  /** Added to graphql-js's specified rules (the gateway: operation limits). */
  validationRules?: readonly ValidationRule[];
  verifier: TokenVerifier;
  logger: Logger;
  limits?: Partial<SubscriptionLimits>;
  /**
   * Take the client address from x-forwarded-for (a subgraph behind the gateway); else the socket
   * peer (the gateway, where the header would be the client's own claim).
   */
  trustForwardedFor?: boolean;
  /**
   * Accept connection_init `{ multiplexed: true }`: a connection of no user whose operations each
   * carry their token in `extensions.authorization` (see the top of this file). For a subgraph
   * behind the gateway; a client-facing endpoint must leave it off.
   */
  allowMultiplexedConnections?: boolean;
  run(operation: ValidatedOperation, connection: SubscriptionConnection): Promise<OperationOutcome>;
}

export interface SubscriptionServer {
  /** Connections currently open (any state). */
  connectionCount(): number;
  /** Closes every socket with 1001 (clients reconnect elsewhere) and stops accepting new ones. */
  close(): Promise<void>;
}

/** What checkToken made of a token. */
type TokenCheck = { viewer: Viewer; authorization: string } | { missing: true } | { refused: GraphQLError } | { unavailable: true };

/** What graphql-ws hands back to execute/subscribe: the operation `run` already prepared. */
interface PreparedOperation {
  requestId: string;
  outcome: { result: ExecutionResult | FormattedExecutionResult } | { stream: ResultStream };
}

interface ConnectionState {
  id: string;
  socket: WebSocket;
  clientAddress: string;
  logger: Logger;
  /** Null on a multiplexed connection (its operations carry their own) and before connection_ack. */
  viewer: Viewer | null;
  authorization: string | null;
  /** Acknowledged as multiplexed: tokens per operation. */
  multiplexed: boolean;
  expiryTimer: NodeJS.Timeout | undefined;
  /** operation id → request id, for log lines and error formatting of that operation */
  requestIds: Map<string, string>;
  close(code: number, reason: string): void;
}

function clientAddressOf(request: IncomingMessage, trustForwardedFor: boolean): string {
  if (trustForwardedFor) {
    const forwarded = request.headers['x-forwarded-for'];
    const first = (Array.isArray(forwarded) ? forwarded[0] : forwarded)?.split(',')[0]?.trim();
    if (first) return first;
  }
  return request.socket.remoteAddress ?? 'unknown';
}

function textOf(data: RawData): string {
  if (Buffer.isBuffer(data)) return data.toString('utf8');
  if (Array.isArray(data)) return Buffer.concat(data).toString('utf8');
  return Buffer.from(data).toString('utf8');
}

function withCode(error: GraphQLError, code: string): GraphQLError {
  if (error.extensions.code) return error;
  return new GraphQLError(error.message, { nodes: error.nodes, source: error.source, positions: error.positions, path: error.path, originalError: error.originalError, extensions: { ...error.extensions, code } });
}

export function startSubscriptionServer(options: SubscriptionServerOptions): SubscriptionServer {
  const limits: SubscriptionLimits = { ...defaultSubscriptionLimits, ...options.limits };
  const path = options.path ?? '/graphql';
  const logger = options.logger.child({ component: 'websocket' });
  const formatError = createErrorFormatter(options.logger);
  const rules = [...specifiedRules, ...(options.validationRules ?? [])];
  const registry = new ConnectionRegistry(limits.maxConnectionsPerUser);
  const documents = new DocumentCache({ maxEntries: 1_000, maxTextLength: 4 * 1024 * 1024 });
  const { schema } = options;

  const formatErrors = (errors: readonly (GraphQLError | GraphQLFormattedError)[], requestId: string | undefined): GraphQLFormattedError[] =>
    requestScope.run({ requestId: requestId ?? randomUUID() }, () =>
      errors.map((error) => (error instanceof GraphQLError ? formatError(error.toJSON(), error) : error)),
    );

  const unwrap = (errors: readonly GraphQLError[]): GraphQLError[] =>
    errors.flatMap((error) => {
      // graphql-ws wraps what a stream threw into new GraphQLError(message, { originalError }).
      const original = error.originalError;
      if (original instanceof OperationFailed) return [...original.errors];
      if (original instanceof GraphQLError) return [original];
      return [error];
    });

  /**
   * Verifies a token from connection_init or from an operation's extensions, with the HTTP
   * verifier. The callers turn the outcome into their protocol's answer: a close code for a
   * connection, an `error` message for an operation on a multiplexed one.
   */
  const checkToken = async (authorization: unknown, log: Logger, fields: Record<string, unknown>): Promise<TokenCheck> => {
    if (typeof authorization !== 'string' || authorization.trim() === '') return { missing: true };
    try {
      // Never null here: it is null only for an absent or blank header.
      const viewer = await viewerFromAuthorization(authorization, options.verifier);
      return viewer ? { viewer, authorization } : { missing: true };
    } catch (error) {
      if (error instanceof GraphQLError) {
        log.info('access token refused', { ...fields, reason: error.message });
        return { refused: error };
      }
      log.warn('could not verify an access token', { ...fields, error: error instanceof Error ? error.message : String(error) });
      return { unavailable: true };
    }
  };

  /** The viewer of a multiplexed connection's operation, from its `extensions.authorization`; errors never close the socket. */
  const verifyOperationToken = async (
    extensions: Record<string, unknown> | null | undefined,
    log: Logger,
    fields: Record<string, unknown>,
  ): Promise<{ viewer: Viewer; authorization: string } | { errors: GraphQLError[] }> => {
    const checked = await checkToken(extensions?.authorization, log, fields);
    if ('viewer' in checked) return checked;
    if ('missing' in checked) return { errors: [unauthenticated('A multiplexed connection needs the user\'s token on every subscribe: extensions.authorization = "Bearer <accessToken>"')] };
    if ('refused' in checked) return { errors: [withCode(checked.refused, ErrorCode.Unauthenticated)] };
    return { errors: [platformError(ErrorCode.ServiceUnavailable, 'Token verification is unavailable right now; retry in a few seconds')] };
  };

  const server = makeServer<Record<string, unknown>, ConnectionState>({
    connectionInitWaitTimeout: limits.connectionInitTimeoutMs,

    onConnect: async (context) => {
      const connection = context.extra;
      const params = context.connectionParams;
      if (params?.multiplexed === true) {
        if (!options.allowMultiplexedConnections) {
          connection.logger.info('websocket refused: multiplexed connections are not accepted here');
          connection.close(SocketCloseCode.Forbidden, 'Forbidden: this endpoint does not accept multiplexed connections; send {"authorization": "Bearer <accessToken>"} in connection_init');
          return false;
        }
        if (params.authorization !== undefined) {
          // Which token would apply, the connection's or the operation's? Refuse the ambiguity.
          connection.close(SocketCloseCode.BadRequest, 'A multiplexed connection carries tokens per operation (extensions.authorization), not in connection_init');
          return false;
        }
        if (connection.socket.readyState !== connection.socket.OPEN) return false;
        connection.multiplexed = true;
        connection.logger.debug('websocket connected (multiplexed)');
        return true;
      }
      const checked = await checkToken(params?.authorization, connection.logger, {});
      if ('missing' in checked) {
        connection.close(SocketCloseCode.Forbidden, 'Forbidden: send {"authorization": "Bearer <accessToken>"} in connection_init');
        return false;
      }
      if ('refused' in checked) {
        connection.close(SocketCloseCode.Forbidden, `Forbidden: ${checked.refused.message}`);
        return false;
      }
      if ('unavailable' in checked) {
        connection.close(SocketCloseCode.TryAgainLater, 'Token verification is unavailable; retry in a few seconds');
        return false;
      }
      const { viewer, authorization } = checked;
      if (connection.socket.readyState !== connection.socket.OPEN) return false;
      if (!registry.tryAdd(viewer.id, connection.id)) {
        connection.logger.info('websocket refused: too many connections for one user', { userId: viewer.id, limit: limits.maxConnectionsPerUser });
        connection.close(SocketCloseCode.TooManyRequests, `Too many connections for this user (limit ${limits.maxConnectionsPerUser})`);
        return false;
      }
      connection.viewer = viewer;
      connection.authorization = authorization;
      // The token's lifetime is the connection's: past `exp` nothing may be delivered on it.
      const expiresInMs = Math.min(longestTimerMs, Math.max(0, viewer.expiresAt * 1000 - Date.now()));
      connection.expiryTimer = setTimeout(() => {
        connection.logger.info('websocket closed: access token expired', { userId: viewer.id });
        connection.close(SocketCloseCode.Forbidden, 'Access token expired; reconnect with a fresh token');
      }, expiresInMs);
      connection.expiryTimer.unref();
      connection.logger.debug('websocket connected', { userId: viewer.id });
      return true;
    },

    onSubscribe: async (context, id, payload) => {
      const connection = context.extra;
      const requestId = requestIdFromExtensions(payload.extensions) ?? randomUUID();
      connection.requestIds.set(id, requestId);
      // graphql-ws has already reserved this id in context.subscriptions.
      if (Object.keys(context.subscriptions).length > limits.maxOperationsPerConnection) {
        return [
          new GraphQLError(`Too many operations on this connection (limit ${limits.maxOperationsPerConnection}); complete one first or open another connection`, {
            extensions: { code: ErrorCode.RateLimited, limit: 'operationsPerConnection' },
          }),
        ];
      }
      let viewer: Viewer;
      let authorization: string;
      if (connection.multiplexed) {
        const verified = await verifyOperationToken(payload.extensions, connection.logger, { requestId, operationId: id });
        if ('errors' in verified) return verified.errors;
        ({ viewer, authorization } = verified);
      } else {
        // extensions.authorization is not looked at: a normal connection's operations run as its own viewer.
        if (!connection.viewer || connection.authorization === null) return [new GraphQLError('Not connected', { extensions: { code: ErrorCode.Unauthenticated } })];
        viewer = connection.viewer;
        authorization = connection.authorization;
      }
      return requestScope.run({ requestId }, async () => {
        let document = documents.get(payload.query);
        if (!document) {
          try {
            document = parse(payload.query);
          } catch (error) {
            return [withCode(error instanceof GraphQLError ? error : new GraphQLError('Syntax error'), 'GRAPHQL_PARSE_FAILED')];
          }
          const validationErrors = validate(schema, document, rules);
          if (validationErrors.length > 0) return validationErrors.map((error) => withCode(error, 'GRAPHQL_VALIDATION_FAILED'));
          documents.set(payload.query, document);
        }
        const operationName = payload.operationName ?? undefined;
        const operation = getOperationAST(document, operationName);
        if (!operation) {
          return [
            new GraphQLError(operationName ? `Unknown operation named "${operationName}"` : 'Send operationName: the document holds several operations', {
              extensions: { code: 'OPERATION_RESOLUTION_FAILURE' },
            }),
          ];
        }
        const variables = payload.variables ?? {};
        const coerced = getVariableValues(schema, operation.variableDefinitions ?? [], variables);
        if (coerced.errors) return coerced.errors.map((error) => withCode(error, ErrorCode.BadUserInput));
        const operationLogger = connection.logger.child(connection.multiplexed ? { requestId, operationId: id, userId: viewer.id } : { requestId, operationId: id });
        // On a multiplexed connection the operation, not the socket, lives as long as its token.
        const guard = connection.multiplexed ? new OperationGuard() : undefined;
        guard?.failAt(
          viewer.expiresAt * 1000,
          () => unauthenticated('Access token expired; subscribe again with a fresh token'),
          () => operationLogger.info('operation ended: access token expired'),
        );
        const close = guard
          ? (code: number, reason: string): void => {
              guard.fail(code === SocketCloseCode.Forbidden ? unauthenticated(reason) : platformError(ErrorCode.ServiceUnavailable, reason || 'The operation was ended; subscribe again'));
            }
          : connection.close;
        let outcome: OperationOutcome;
        try {
          outcome = await options.run(
            { id, requestId, query: payload.query, document, operation, operationName, variables },
            { id: connection.id, viewer, authorization, clientAddress: connection.clientAddress, logger: operationLogger, close },
          );
        } catch (error) {
          guard?.dispose();
          // One failing operation must not take the connection's others down: masked and logged
          // by the error formatter, sent as this operation's `error` message.
          return [new GraphQLError('operation failed', { originalError: error instanceof Error ? error : new Error(String(error)) })];
        }
        if (guard && !('stream' in outcome)) guard.dispose();
        if ('errors' in outcome) return outcome.errors;
        if (guard?.failure) {
          // Expired (or ended) while `run` was setting the stream up.
          if ('stream' in outcome) await outcome.stream.return();
          return [guard.failure];
        }
        const prepared: PreparedOperation = { requestId, outcome: guard && 'stream' in outcome ? { stream: guard.wrap(outcome.stream) } : outcome };
        const args: ExecutionArgs = { schema, document, operationName, variableValues: variables, contextValue: prepared };
        return args;
      });
    },

    // graphql-ws calls these with the args onSubscribe returned: the work was done by `run`.
    execute: (args) => preparedResult(args),
    subscribe: (args) => preparedResult(args),

    onNext: (context, id, _payload, _args, result) => {
      const { errors, ...rest } = result as ExecutionResult | FormattedExecutionResult;
      if (!errors || errors.length === 0) return rest as FormattedExecutionResult;
      return { ...rest, errors: formatErrors(errors, context.extra.requestIds.get(id)) } as FormattedExecutionResult;
    },
    onError: (context, id, _payload, errors) => {
      const requestId = context.extra.requestIds.get(id);
      context.extra.requestIds.delete(id);
      return formatErrors(unwrap(errors), requestId);
    },
    onComplete: (context, id) => {
      context.extra.requestIds.delete(id);
    },
  });

  function preparedResult(args: ExecutionArgs) {
    const prepared = args.contextValue as PreparedOperation;
    return ('stream' in prepared.outcome ? prepared.outcome.stream : prepared.outcome.result) as ExecutionResult | AsyncIterableIterator<ExecutionResult>;
  }

  const wss = new WebSocketServer({
    noServer: true,
    maxPayload: limits.maxMessageBytes,
    // graphql-transport-ws only; a client offering nothing else gets no protocol and graphql-ws closes 4406.
    handleProtocols: (protocols) => handleProtocols(protocols),
    perMessageDeflate: false,
  });

  wss.on('connection', (socket: WebSocket, request: IncomingMessage) => {
    const connectionId = randomUUID();
    const connectionLogger = logger.child({ connectionId });
    const connection: ConnectionState = {
      id: connectionId,
      socket,
      clientAddress: clientAddressOf(request, options.trustForwardedFor ?? false),
      logger: connectionLogger,
      viewer: null,
      authorization: null,
      multiplexed: false,
      expiryTimer: undefined,
      requestIds: new Map(),
      close(code, reason) {
        if (socket.readyState === socket.OPEN || socket.readyState === socket.CONNECTING) socket.close(code, closeReason(reason));
      },
    };

    // ws closes the socket itself on protocol errors (oversized message: 1009, bad frames: 1002);
    // without a listener the 'error' event would crash the process.
    socket.on('error', (error) => connectionLogger.info('websocket error', { error: error.message }));

    let alive = true;
    socket.on('pong', () => {
      alive = true;
    });
    const heartbeat =
      limits.keepAliveMs > 0
        ? setInterval(() => {
            if (!alive) {
              connectionLogger.info('websocket terminated: no pong within the keep-alive interval');
              socket.terminate();
              return;
            }
            alive = false;
            socket.ping();
          }, limits.keepAliveMs)
        : undefined;
    heartbeat?.unref();

    const closed = server.opened(
      {
        protocol: socket.protocol,
        send: (data) =>
          new Promise<void>((resolve) => {
            if (socket.readyState !== socket.OPEN) return resolve();
            // Sends are awaited (one message in flight per operation), so this only grows when the
            // client stops reading; past the limit it is not coming back soon.
            if (socket.bufferedAmount > limits.maxBufferedBytes) {
              connectionLogger.warn('websocket closed: client reads too slowly', { bufferedBytes: socket.bufferedAmount });
              connection.close(SocketCloseCode.TryAgainLater, 'Too slow reading messages; reconnect');
              return resolve();
            }
            // A failed send means the socket is going away; its close event cleans up.
            socket.send(data, () => resolve());
          }),
        close: (code, reason) => connection.close(code ?? 1000, reason ?? ''),
        onMessage: (handle) => {
          socket.on('message', (data: RawData, isBinary: boolean) => {
            const text = textOf(data);
            if (isBinary || !isAllowedClientMessage(text)) {
              connection.close(SocketCloseCode.BadRequest, 'Invalid message received');
              return;
            }
            handle(text).catch((error: unknown) => {
              connectionLogger.error('websocket message handling failed', { error });
              connection.close(SocketCloseCode.InternalServerError, 'Internal server error');
            });
          });
        },
      },
      connection,
    );

    socket.once('close', (code: number, reason: Buffer) => {
      clearInterval(heartbeat);
      clearTimeout(connection.expiryTimer);
      if (connection.viewer) registry.remove(connection.viewer.id, connection.id);
      connectionLogger.debug('websocket closed', { code, reason: reason.toString() });
      // Ends every operation of the connection (their streams' return() releases upstreams).
      closed(code, reason.toString()).catch((error: unknown) => connectionLogger.error('websocket clean-up failed', { error }));
    });
  });

  const onUpgrade = (request: IncomingMessage, socket: Duplex, head: Buffer): void => {
    const pathname = new URL(request.url ?? '/', 'http://localhost').pathname;
    if (pathname !== path) {
      // Another upgrade handler may own other paths; alone, answer instead of leaving the socket hanging.
      if (options.httpServer.listenerCount('upgrade') === 1) socket.end('HTTP/1.1 404 Not Found\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
      return;
    }
    socket.on('error', () => undefined);
    wss.handleUpgrade(request, socket, head, (webSocket) => wss.emit('connection', webSocket, request));
  };
  options.httpServer.on('upgrade', onUpgrade);
  logger.info('websocket endpoint ready', { path, protocol: 'graphql-transport-ws', limits });

  return {
    connectionCount: () => wss.clients.size,
    async close() {
      options.httpServer.off('upgrade', onUpgrade);
      const sockets = [...wss.clients];
      await Promise.all(
        sockets.map(
          (socket) =>
            new Promise<void>((resolve) => {
              if (socket.readyState === socket.CLOSED) return resolve();
              const force = setTimeout(() => socket.terminate(), 2_000);
              socket.once('close', () => {
                clearTimeout(force);
                resolve();
              });
              socket.close(SocketCloseCode.GoingAway, 'Server shutting down');
            }),
        ),
      );
      await new Promise<void>((resolve) => wss.close(() => resolve()));
    },
  };
}

// ---------------------------------------------------------------------------------------------
// The subgraph runner: graphql-js over the subgraph's own schema.

export interface GraphqlRunnerOptions<TContext> {
  schema: GraphQLSchema;
  /**
   * A fresh context per subscription set-up and per event, so per-request state such as
   * DataLoader caches never serves one event's data to the next.
   */
  createContext(connection: SubscriptionConnection, requestId: string): TContext | Promise<TContext>;
}

/**
 * Runs subscriptions like graphql-js `subscribe` (the field's `subscribe` resolver gives the
 * source stream; each event executes the operation with the event as root value), except that
 * each event gets a new context, and set-up errors are `error` messages, not a `next`.
 * Queries and mutations belong on HTTP POST (the gateway executes those itself).
 */
export function graphqlSubscriptionRunner<TContext>(options: GraphqlRunnerOptions<TContext>): SubscriptionServerOptions['run'] {
  const { schema } = options;
  return async (operation, connection) => {
    if (operation.operation.operation !== 'subscription') {
      return {
        errors: [
          new GraphQLError('This WebSocket endpoint serves subscriptions only; send queries and mutations over HTTP POST', {
            extensions: { code: 'BAD_REQUEST' },
          }),
        ],
      };
    }
    const base = { schema, document: operation.document, operationName: operation.operationName, variableValues: operation.variables };
    const source = await createSourceEventStream({ ...base, contextValue: await options.createContext(connection, operation.requestId) });
    if (!(Symbol.asyncIterator in source)) {
      return { errors: source.errors ?? [new GraphQLError('Subscription failed', { extensions: { code: ErrorCode.Internal } })] };
    }
    const iterator = source[Symbol.asyncIterator]();
    const stream = mapEventStream(iterator, async (event) =>
      requestScope.run({ requestId: operation.requestId }, async () =>
        execute({ ...base, rootValue: event, contextValue: await options.createContext(connection, operation.requestId) }),
      ),
    );
    return { stream };
  };
}
