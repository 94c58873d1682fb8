import { GraphQLError, type GraphQLFormattedError } from 'graphql';
import { requestScope, type Logger } from './logger.ts';

// Every error a client sees carries a stable `extensions.code` and a message that says what to
// do next. Anything that is not one of ours (a driver error, a bug) is masked: clients must never
// see SQL, Cypher, stack traces or internal hostnames.

export const ErrorCode = {
  BadUserInput: 'BAD_USER_INPUT',
  Unauthenticated: 'UNAUTHENTICATED',
  Forbidden: 'FORBIDDEN',
  NotFound: 'NOT_FOUND',
  Conflict: 'CONFLICT',
  RateLimited: 'RATE_LIMITED',
  ServiceUnavailable: 'SERVICE_UNAVAILABLE',
  Internal: 'INTERNAL_SERVER_ERROR',
} as const;
export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

/** Codes produced by graphql-js / Apollo Server themselves whose messages are safe to show. */
const frameworkCodes = new Set([
  'GRAPHQL_PARSE_FAILED',
  'GRAPHQL_VALIDATION_FAILED',
  'BAD_REQUEST',
  'PERSISTED_QUERY_NOT_FOUND',
  'PERSISTED_QUERY_NOT_SUPPORTED',
  'OPERATION_RESOLUTION_FAILURE',
]);
const ownCodes = new Set<string>(Object.values(ErrorCode));

export function platformError(code: ErrorCode, message: string, extensions: Record<string, unknown> = {}): GraphQLError {
  return new GraphQLError(message, { extensions: { ...extensions, code } });
}

export const badInput = (field: string, message: string): GraphQLError =>
  platformError(ErrorCode.BadUserInput, `${field}: ${message}`, { field });
export const notFound = (what: string, id: string): GraphQLError =>
  platformError(ErrorCode.NotFound, `${what} "${id}" does not exist; check the id`, { id });
export const unauthenticated = (message = 'Sign in first: send "Authorization: Bearer <accessToken>"'): GraphQLError =>
  platformError(ErrorCode.Unauthenticated, message);
export const forbidden = (message = 'You are not allowed to do this'): GraphQLError =>
  platformError(ErrorCode.Forbidden, message);
export const rateLimited = (retryAfterSeconds: number, what: string): GraphQLError =>
  platformError(ErrorCode.RateLimited, `Too many ${what}; retry in ${retryAfterSeconds} s`, { retryAfterSeconds });
export const serviceUnavailable = (what: string): GraphQLError =>
  platformError(ErrorCode.ServiceUnavailable, `${what} is unavailable right now; retry in a few seconds`);

export function isSafeToShow(error: unknown): boolean {
  if (!(error instanceof GraphQLError)) return false;
  const code = error.extensions?.code;
  if (typeof code === 'string' && (ownCodes.has(code) || frameworkCodes.has(code))) return true;
  // graphql-js validation/coercion errors carry no originalError and no code; they describe the
  // caller's document, so they are safe (e.g. 'Variable "$id" of required type "ID!" was not provided.').
  return code === undefined && error.originalError === undefined;
}

/**
 * Apollo Server `formatError`: passes our own and framework errors through (without stack
 * traces), replaces everything else by a generic message and logs the original with the request id.
 */
export function createErrorFormatter(logger: Logger) {
  return (formatted: GraphQLFormattedError, error: unknown): GraphQLFormattedError => {
    const original = error instanceof GraphQLError ? error : undefined;
    const { stacktrace: _stacktrace, ...extensions } = formatted.extensions ?? {};
    if (isSafeToShow(original)) {
      const code = typeof extensions.code === 'string' ? extensions.code : ErrorCode.BadUserInput;
      return { ...formatted, extensions: { ...extensions, code } };
    }
    const requestId = requestScope.getStore()?.requestId;
    logger.error('unexpected error while resolving', {
      error: original?.originalError ?? original ?? error,
      path: formatted.path,
    });
    return {
      message: `Internal error; retry later or report request id ${requestId ?? 'unknown'}`,
      ...(formatted.path ? { path: formatted.path } : {}),
      ...(formatted.locations ? { locations: formatted.locations } : {}),
      extensions: { code: ErrorCode.Internal, ...(requestId ? { requestId } : {}) },
    };
  };
}
