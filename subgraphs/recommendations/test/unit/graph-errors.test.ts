import { describe, expect, it } from 'vitest';
import { Neo4jError, error as neo4jErrorCodes } from 'neo4j-driver';
import { isGraphAuthError, isGraphUnavailable } from '../../src/graph-errors.ts';

const { SERVICE_UNAVAILABLE, SESSION_EXPIRED } = neo4jErrorCodes;
// Built as the driver builds them ('N/A' is its code for errors it has no code for).
const newError = (message: string, code = 'N/A') => new Neo4jError(message, code, '50N42', 'error: general processing exception');

describe('isGraphUnavailable', () => {
  it('is true for a database that is down, gone or busy', () => {
    expect(isGraphUnavailable(newError('connect ECONNREFUSED', SERVICE_UNAVAILABLE))).toBe(true);
    expect(isGraphUnavailable(newError('leader switched', SESSION_EXPIRED))).toBe(true);
    expect(isGraphUnavailable(newError('deadlock', 'Neo.TransientError.Transaction.DeadlockDetected'))).toBe(true);
    expect(isGraphUnavailable(newError('too slow', 'Neo.ClientError.Transaction.TransactionTimedOutClientConfiguration'))).toBe(true);
    expect(isGraphUnavailable(newError('Connection acquisition timed out in 10000 ms. Pool status: ...'))).toBe(true);
  });

  it('is false for our own mistakes, which must stay visible as bugs', () => {
    expect(isGraphUnavailable(newError('Invalid input', 'Neo.ClientError.Statement.SyntaxError'))).toBe(false);
    expect(isGraphUnavailable(new TypeError('x is undefined'))).toBe(false);
    expect(isGraphUnavailable(null)).toBe(false);
  });
});

describe('isGraphAuthError', () => {
  it('recognises a rejected user or password', () => {
    expect(isGraphAuthError(newError('unauthorized', 'Neo.ClientError.Security.Unauthorized'))).toBe(true);
    expect(isGraphAuthError(newError('down', SERVICE_UNAVAILABLE))).toBe(false);
  });
});
