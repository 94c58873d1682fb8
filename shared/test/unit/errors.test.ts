import { GraphQLError, type GraphQLFormattedError } from 'graphql';
import { describe, expect, it } from 'vitest';
import { badInput, createErrorFormatter } from '../../src/errors.ts';
import { createLogger, requestScope } from '../../src/logger.ts';

function formatterWithLog() {
  const lines: string[] = [];
  const format = createErrorFormatter(createLogger('test', { sink: (line) => lines.push(line) }));
  return { format, lines };
}

const formattedOf = (error: GraphQLError): GraphQLFormattedError => ({
  ...error.toJSON(),
  extensions: { code: 'INTERNAL_SERVER_ERROR', stacktrace: ['at secret.ts:1'], ...error.extensions },
});

describe('error formatter', () => {
  it('passes our own errors through with their code, without stack traces', () => {
    const { format } = formatterWithLog();
    const error = badInput('rating', 'must be between 0.5 and 5');
    const result = format(formattedOf(error), error);
    expect(result.message).toBe('rating: must be between 0.5 and 5');
    expect(result.extensions).toEqual({ code: 'BAD_USER_INPUT', field: 'rating' });
  });

  it('masks driver errors (no SQL, no stack) and logs them with the request id', () => {
    const { format, lines } = formatterWithLog();
    const original = new Error('duplicate key value violates unique constraint "users_pkey" SELECT * FROM users');
    const wrapped = new GraphQLError(original.message, { originalError: original });
    const result = requestScope.run({ requestId: 'req-1234567' }, () => format(formattedOf(wrapped), wrapped));
    expect(result.message).toBe('Internal error; retry later or report request id req-1234567');
    expect(JSON.stringify(result)).not.toMatch(/SELECT|users_pkey|stacktrace/);
    expect(result.extensions).toEqual({ code: 'INTERNAL_SERVER_ERROR', requestId: 'req-1234567' });
    expect(lines.some((line) => line.includes('users_pkey') && line.includes('req-1234567'))).toBe(true);
  });

  it('keeps graphql validation messages, which only describe the caller document', () => {
    const { format } = formatterWithLog();
    const error = new GraphQLError('Cannot query field "nope" on type "Query".', { extensions: { code: 'GRAPHQL_VALIDATION_FAILED' } });
    expect(format(formattedOf(error), error).message).toBe('Cannot query field "nope" on type "Query".');
  });
});
