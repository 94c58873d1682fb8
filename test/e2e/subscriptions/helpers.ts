import { createClient, type Client, type FormattedExecutionResult, type SubscribePayload } from 'graphql-ws';
import { Redis } from 'ioredis';
import { WebSocket } from 'ws';
import { liveChannelFor } from '@platform/shared';

// Helpers for the subscription scenarios: graphql-ws clients against the gateway, a raw socket
// for protocol misbehaviour, and Redis probes of the subgraph's live channels.

export const wsUrlOf = (httpUrl: string): string => httpUrl.replace(/^http/, 'ws');

export function connect(url: string, token: string | null): Client {
  return createClient({
    url,
    webSocketImpl: WebSocket,
    connectionParams: token === null ? {} : { authorization: `Bearer ${token}` },
    // Tests see every close as it happens.
    retryAttempts: 0,
    lazy: true,
  });
}

export interface Collected<T> {
  events: FormattedExecutionResult<T>[];
  error: unknown;
  completed: boolean;
  stop(): void;
}

/** Subscribes and records every event, the error and the completion. */
export function collect<T = Record<string, unknown>>(client: Client, payload: SubscribePayload): Collected<T> {
  const collected: Collected<T> = {
    events: [],
    error: undefined,
    completed: false,
    stop: () => undefined,
  };
  collected.stop = client.subscribe<T>(payload, {
    next: (value) => collected.events.push(value as FormattedExecutionResult<T>),
    error: (error) => {
      collected.error = error;
    },
    complete: () => {
      collected.completed = true;
    },
  });
  return collected;
}

/** A protocol-level client for sending what a well-behaved client never would. */
export class RawSocket {
  readonly socket: WebSocket;
  readonly messages: Record<string, unknown>[] = [];
  readonly closed: Promise<{ code: number; reason: string }>;

  private constructor(socket: WebSocket) {
    this.socket = socket;
    socket.on('message', (data: Buffer) => this.messages.push(JSON.parse(data.toString()) as Record<string, unknown>));
    this.closed = new Promise((resolve) => socket.once('close', (code: number, reason: Buffer) => resolve({ code, reason: reason.toString() })));
  }

  /** `protocol` null: offer no subprotocol at all. */
  static open(url: string, protocol: string | null = 'graphql-transport-ws', options: { autoPong?: boolean } = {}): Promise<RawSocket> {
    const socket = new WebSocket(url, protocol === null ? [] : protocol, { autoPong: options.autoPong ?? true });
    const raw = new RawSocket(socket);
    return new Promise((resolve, reject) => {
      socket.once('open', () => resolve(raw));
      socket.once('error', reject);
    });
  }

  send(message: unknown): void {
    this.socket.send(typeof message === 'string' ? message : JSON.stringify(message));
  }

  /** connection_init with the token, then waits for connection_ack. */
  async init(token: string): Promise<void> {
    this.send({ type: 'connection_init', payload: { authorization: `Bearer ${token}` } });
    await this.nextMessage((message) => message.type === 'connection_ack');
  }

  async nextMessage(matches: (message: Record<string, unknown>) => boolean, timeoutMs = 10_000): Promise<Record<string, unknown>> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const found = this.messages.find(matches);
      if (found) return found;
      if (Date.now() > deadline) throw new Error(`no matching message within ${timeoutMs} ms; got ${JSON.stringify(this.messages)}`);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }

  close(): void {
    this.socket.terminate();
  }
}

/** How many connections are subscribed to a user's live channel (the subgraph's subscriber, when it is listening). */
export async function liveSubscribers(redis: Redis, userId: string, prefix: string): Promise<number> {
  const reply = (await redis.call('PUBSUB', 'NUMSUB', liveChannelFor(userId, prefix))) as [string, number];
  return Number(reply[1]);
}

export async function waitFor<T>(probe: () => Promise<T> | T, accept: (value: T) => boolean, timeoutMs = 10_000, what = 'condition'): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (accept(value)) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}; last value ${JSON.stringify(value)}`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

/** Resolves with the close event of the client's socket. */
export function nextClose(client: Client): Promise<{ code: number; reason: string }> {
  return new Promise((resolve) => {
    const off = client.on('closed', (event) => {
      off();
      const { code, reason } = event as { code: number; reason: string };
      resolve({ code, reason });
    });
  });
}
