import { buildSchema, parse, specifiedRules, validate } from 'graphql';
import { describe, expect, it } from 'vitest';
import { operationLimitsRule } from '../../src/operation-limits.ts';

const schema = buildSchema(`
  type Query { movie(id: ID!): Movie }
  type Movie { id: ID! title: String similar: [Movie!]! }
`);
const rules = [...specifiedRules, operationLimitsRule({ maxDepth: 3, maxAliases: 2 })];
const errorsOf = (query: string) => validate(schema, parse(query), rules).map((error) => error.message);

describe('operation limits', () => {
  it('accepts an operation within both limits', () => {
    expect(errorsOf('{ a: movie(id: 1) { similar { title } } }')).toEqual([]);
  });

  it('rejects depth beyond the limit, also when hidden in fragments', () => {
    expect(errorsOf('{ movie(id: 1) { similar { similar { title } } } }')[0]).toMatch(/4 levels deep; the limit is 3/);
    expect(errorsOf('{ movie(id: 1) { ...F } } fragment F on Movie { similar { similar { id } } }')[0]).toMatch(/4 levels deep/);
  });

  it('counts aliases across the whole operation', () => {
    expect(errorsOf('{ a: movie(id: 1) { t: title } b: movie(id: 2) { id } }')[0]).toMatch(/3 aliases; the limit is 2/);
  });

  it('leaves fragment cycles to graphql-js instead of looping', () => {
    const messages = errorsOf('{ movie(id: 1) { ...A } } fragment A on Movie { similar { ...A } }');
    expect(messages.some((message) => /Cannot spread fragment "A" within itself/.test(message))).toBe(true);
  });
});
