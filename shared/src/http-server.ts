import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { randomUUID } from 'node:crypto';
import express, { type Express, type Request, type Response, type NextFunction } from 'express';
import { ConfigError } from './config.ts';
import { requestScope } from './logger.ts';

export const requestIdHeader = 'x-request-id';

// Request ids come from the gateway; a caller-supplied id is accepted only if it looks like one,
// so a client cannot inject arbitrary text into every log line.
const requestIdPattern = /^[A-Za-z0-9._:-]{8,64}$/;

/** The id the request-id middleware settled on for this request (see createApp). */
export function requestIdFor(response: Response): string {
  const requestId: unknown = response.locals.requestId;
  return typeof requestId === 'string' ? requestId : randomUUID();
}

function requestIdOf(request: Request): string {
  const header = request.headers[requestIdHeader];
  const candidate = Array.isArray(header) ? header[0] : header;
  return candidate && requestIdPattern.test(candidate) ? candidate : randomUUID();
}

/** Express app with request-id scoping; every log line written while handling carries the id. */
export function createApp(): Express {
  const app = express();
  app.disable('x-powered-by');
  app.use((request: Request, response: Response, next: NextFunction) => {
    const requestId = requestIdOf(request);
    // Decided once: the response header, every log line and the GraphQL context share it.
    response.locals.requestId = requestId;
    response.setHeader(requestIdHeader, requestId);
    requestScope.run({ requestId }, next);
  });
  return app;
}

export async function listen(server: Server, port: number, host: string): Promise<{ port: number; url: string }> {
  await new Promise<void>((resolve, reject) => {
    const onError = (error: NodeJS.ErrnoException): void => {
      server.off('listening', onListening);
      reject(error.code === 'EADDRINUSE' ? new ConfigError('PORT', `${port} is already in use on ${host}: stop what uses it or set PORT to a free port`) : error);
    };
    const onListening = (): void => {
      server.off('error', onError);
      resolve();
    };
    server.once('error', onError);
    server.once('listening', onListening);
    server.listen(port, host);
  });
  const address = server.address() as AddressInfo;
  return { port: address.port, url: `http://${host}:${address.port}` };
}

export function httpServerFor(app: Express): Server {
  const server = createServer(app);
  // Keep-alive longer than the gateway's agent, so the gateway never reuses a socket we just closed.
  server.keepAliveTimeout = 65_000;
  server.headersTimeout = 66_000;
  return server;
}
