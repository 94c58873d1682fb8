import { describe, expect, it } from 'vitest';
import { buildNeo4jJavaArgs, NEO4J_JVM_FLAGS, parseReadyLine, readNeo4jVersion, tailLines } from '../../scripts/lib/neo4j.ts';
import {
  classifyNeo4jFailure,
  classifyPostgresFailure,
  classifyRedisFailure,
  describeEnvFailure,
  isValidDatabaseName,
  parseDatabaseUrl,
  parseNeo4jUri,
  parseRedisUrl,
  postgresServerOptions,
  redactUrl,
  redisServerArgs,
  scratchDatabaseName,
  ServiceError,
  withDatabase,
} from '../../scripts/lib/services.ts';

function caught(action: () => unknown): unknown {
  try {
    action();
  } catch (error) {
    return error;
  }
  throw new Error('expected a throw');
}

function systemError(code: string, message = `connect ${code} 127.0.0.1:1`): Error {
  return Object.assign(new Error(message), { code });
}

describe('environment URLs', () => {
  it('accepts the usual forms', () => {
    expect(parseDatabaseUrl('postgres://app:pw@db:5432/movies').hostname).toBe('db');
    expect(parseDatabaseUrl('postgresql://postgres@127.0.0.1/x').protocol).toBe('postgresql:');
    expect(parseRedisUrl('redis://127.0.0.1:6379/2').port).toBe('6379');
    expect(parseRedisUrl('rediss://:secret@cache:6380').protocol).toBe('rediss:');
    expect(parseNeo4jUri('neo4j+s://graph.example:7687').hostname).toBe('graph.example');
  });

  it('rejects a wrong scheme, naming the variable and never echoing the password', () => {
    const error = caught(() => parseRedisUrl('http://user:hunter22@cache:80'));
    expect(error).toBeInstanceOf(ServiceError);
    expect(error).toMatchObject({ service: 'redis', variable: 'REDIS_URL' });
    expect((error as Error).message).toMatch(/^REDIS_URL=.* is not a redis URL: expected redis:\/\//);
    expect((error as Error).message).not.toContain('hunter22');
  });

  it('rejects text that is not a URL and a PostgreSQL URL without a database', () => {
    expect(caught(() => parseNeo4jUri('localhost:7687'))).toMatchObject({ variable: 'NEO4J_URI' });
    expect(caught(() => parseDatabaseUrl('not a url'))).toMatchObject({ variable: 'DATABASE_URL' });
    const noDatabase = caught(() => parseDatabaseUrl('postgres://postgres@127.0.0.1:5432'));
    expect((noDatabase as Error).message).toContain('names no database');
  });

  it('redacts passwords, also in strings that do not parse', () => {
    expect(redactUrl('postgres://app:s3cret@db:5432/x')).toBe('postgres://app:***@db:5432/x');
    expect(redactUrl('redis://127.0.0.1:6379')).toBe('redis://127.0.0.1:6379');
    expect(redactUrl('weird://app:s3cret@[bad')).not.toContain('s3cret');
  });

  it('swaps the database of a PostgreSQL URL and keeps the rest', () => {
    expect(withDatabase('postgres://app:pw@db:5432/movies?sslmode=disable', 'scratch_1')).toBe('postgres://app:pw@db:5432/scratch_1?sslmode=disable');
  });
});

describe('database names', () => {
  it('accepts only plain identifiers within 63 bytes', () => {
    expect(isValidDatabaseName('movie_platform')).toBe(true);
    expect(isValidDatabaseName('Movie')).toBe(false);
    expect(isValidDatabaseName('1movies')).toBe(false);
    expect(isValidDatabaseName('a"; DROP DATABASE x; --')).toBe(false);
    expect(isValidDatabaseName('a'.repeat(64))).toBe(false);
  });

  it('builds scratch names that are valid whatever the prefix', () => {
    expect(scratchDatabaseName('Ratings-Test', 'abc123')).toBe('ratings_test_abc123');
    expect(scratchDatabaseName('42', 'x1')).toBe('scratch_x1');
    const long = scratchDatabaseName('p'.repeat(100), 'lmn0pq9f3e2a');
    expect(long.length).toBeLessThanOrEqual(63);
    expect(isValidDatabaseName(long)).toBe(true);
  });
});

describe('failure classification', () => {
  it('tells unreachable servers from bad credentials', () => {
    expect(classifyPostgresFailure(systemError('ECONNREFUSED'))).toEqual({ kind: 'unreachable', reason: 'connection refused' });
    expect(classifyPostgresFailure(systemError('ENOTFOUND', 'getaddrinfo ENOTFOUND db'))).toEqual({ kind: 'unreachable', reason: 'host not found' });
    expect(classifyPostgresFailure(new Error('Connection terminated due to connection timeout'))).toEqual({ kind: 'unreachable', reason: 'timed out' });
    expect(classifyPostgresFailure(systemError('28P01', 'password authentication failed for user "app"'))).toMatchObject({ kind: 'auth' });
    expect(classifyPostgresFailure(systemError('3D000', 'database "x" does not exist'))).toMatchObject({ kind: 'missing-database' });
  });

  it('reads the code inside the AggregateError of a dual-stack connect', () => {
    const aggregate = new AggregateError([systemError('ECONNREFUSED'), systemError('ECONNREFUSED')], '');
    expect(classifyRedisFailure(aggregate)).toEqual({ kind: 'unreachable', reason: 'connection refused' });
  });

  it('recognises Redis authentication replies', () => {
    expect(classifyRedisFailure(new Error('WRONGPASS invalid username-password pair or user is disabled.'))).toEqual({ kind: 'auth', reason: 'wrong user or password' });
    expect(classifyRedisFailure(new Error('NOAUTH Authentication required.'))).toEqual({ kind: 'auth', reason: 'the server requires a password' });
  });

  it('maps neo4j-driver error codes', () => {
    const refused = Object.assign(new Error('Failed to connect to server. Caused by: connect ECONNREFUSED 127.0.0.1:7999'), { code: 'ServiceUnavailable' });
    expect(classifyNeo4jFailure(refused)).toEqual({ kind: 'unreachable', reason: 'connection refused' });
    const unauthorized = Object.assign(new Error('The client is unauthorized'), { code: 'Neo.ClientError.Security.Unauthorized' });
    expect(classifyNeo4jFailure(unauthorized)).toEqual({ kind: 'auth', reason: 'authentication failed' });
  });

  it('says in one line what is wrong and what to do', () => {
    const message = describeEnvFailure({
      variable: 'NEO4J_URI',
      value: 'bolt://127.0.0.1:7999',
      product: 'Neo4j',
      failure: { kind: 'unreachable', reason: 'connection refused' },
      authFix: 'check NEO4J_PASSWORD',
    });
    expect(message).toBe(
      'NEO4J_URI=bolt://127.0.0.1:7999 does not answer (connection refused): start Neo4j there or unset NEO4J_URI to let the project start its own',
    );
    const auth = describeEnvFailure({
      variable: 'NEO4J_URI',
      value: 'bolt://127.0.0.1:7687',
      product: 'Neo4j',
      failure: { kind: 'auth', reason: 'authentication failed' },
      authFix: 'check NEO4J_USER (neo4j) and NEO4J_PASSWORD',
    });
    expect(auth).toContain('rejects the credentials (authentication failed): check NEO4J_USER (neo4j) and NEO4J_PASSWORD');
    expect(auth).not.toContain('\n');
  });
});

describe('server command lines', () => {
  it('keeps the private PostgreSQL on loopback with its socket in its own folder, quoted for pg_ctl', () => {
    expect(postgresServerOptions(54321, "/data/it's/pg")).toBe(
      "-c listen_addresses=127.0.0.1 -p 54321 -c unix_socket_directories='/data/it'\\''s/pg'",
    );
  });

  it('runs the private Redis without persistence', () => {
    const args = redisServerArgs(6400, '/data/redis');
    expect(args.join(' ')).toContain('--port 6400 --bind 127.0.0.1');
    expect(args.slice(args.indexOf('--save'), args.indexOf('--save') + 2)).toEqual(['--save', '']);
    expect(args).toContain('--appendonly');
  });
});

describe('Neo4j launcher command', () => {
  const command = { classpath: '/c/classes:/c/lib/*', home: '/h', port: 7999, heapMb: 512, pageCacheMb: 256, passwordFile: '/h/password' };

  it('sizes the heap, opens the modules Neo4j needs and passes the password only as a file', () => {
    const args = buildNeo4jJavaArgs(command);
    expect(args.slice(0, 2)).toEqual(['-Xms512m', '-Xmx512m']);
    for (const flag of NEO4J_JVM_FLAGS) expect(args).toContain(flag);
    expect(args).toContain('--add-opens=java.base/sun.nio.ch=ALL-UNNAMED');
    expect(args.slice(args.indexOf('Neo4jLauncher'))).toEqual([
      'Neo4jLauncher', '--home', '/h', '--port', '7999', '--pagecache-mb', '256', '--password-file', '/h/password',
    ]);
    expect(args[args.indexOf('-cp') + 1]).toBe('/c/classes:/c/lib/*');
  });

  it('refuses sizes and ports that are not positive integers', () => {
    expect(() => buildNeo4jJavaArgs({ ...command, port: 0 })).toThrow(/port must be a positive integer/);
    expect(() => buildNeo4jJavaArgs({ ...command, heapMb: 1.5 })).toThrow(/heapMb/);
  });

  it('recognises only a well-formed READY line', () => {
    expect(parseReadyLine('NEO4J_READY bolt://127.0.0.1:41234')).toBe('bolt://127.0.0.1:41234');
    expect(parseReadyLine('INFO NEO4J_READY bolt://127.0.0.1:1')).toBeNull();
    expect(parseReadyLine('NEO4J_READY soon')).toBeNull();
  });

  it('reads the version from the pom property', () => {
    expect(readNeo4jVersion('<properties>\n  <neo4j.version>5.26.30</neo4j.version>\n</properties>')).toBe('5.26.30');
    expect(() => readNeo4jVersion('<project/>')).toThrow(/neo4j\.version/);
  });

  it('keeps the last lines of a log, ignoring the final newline', () => {
    expect(tailLines('a\nb\nc\n', 2)).toEqual(['b', 'c']);
    expect(tailLines('', 5)).toEqual([]);
  });
});
