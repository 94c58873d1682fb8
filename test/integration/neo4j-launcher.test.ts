import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import neo4j, { type Driver } from 'neo4j-driver';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startNeo4j, type RunningNeo4j } from '../../scripts/lib/neo4j.ts';

function portAcceptsConnections(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

function processExists(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe('Neo4j launcher', () => {
  let home: string;
  let server: RunningNeo4j;
  let driver: Driver;

  beforeAll(async () => {
    home = await mkdtemp(path.join(tmpdir(), 'neo4j-launcher-test-'));
    server = await startNeo4j({ home, port: 0 });
    driver = neo4j.driver(server.uri, neo4j.auth.basic(server.user, server.password), { disableLosslessIntegers: true });
  }, 180_000);

  afterAll(async () => {
    await driver?.close();
    await server?.stop();
    if (home) await rm(home, { recursive: true, force: true });
  });

  it('answers on loopback with the generated password, stored privately', async () => {
    expect(server.uri).toMatch(/^bolt:\/\/127\.0\.0\.1:\d+$/);
    const { records } = await driver.executeQuery('RETURN 1 AS one');
    expect(records[0]?.get('one')).toBe(1);
    expect((await readFile(path.join(home, 'password'), 'utf8')).trim()).toBe(server.password);
    expect((await stat(path.join(home, 'password'))).mode & 0o777).toBe(0o600);
  });

  it('keeps what it writes', async () => {
    const title = `Launcher test ${Date.now()}`;
    await driver.executeQuery('CREATE (:Movie {title: $title, year: 1999})', { title });
    const { records } = await driver.executeQuery('MATCH (m:Movie {title: $title}) RETURN m.year AS year', { title });
    expect(records.map((record) => record.get('year'))).toEqual([1999]);
  });

  it('rejects a wrong password', async () => {
    const intruder = neo4j.driver(server.uri, neo4j.auth.basic('neo4j', 'not-the-password'));
    try {
      await expect(intruder.getServerInfo()).rejects.toMatchObject({ code: 'Neo.ClientError.Security.Unauthorized' });
    } finally {
      await intruder.close();
    }
  });

  it('refuses a second server on the same store', async () => {
    await expect(startNeo4j({ home, port: 0 })).rejects.toThrow(/already in use by process \d+/);
  });

  it('stops: the process is gone and the port closed', async () => {
    const port = Number(new URL(server.uri.replace('bolt:', 'http:')).port);
    await driver.close();
    await server.stop();
    expect(processExists(server.pid)).toBe(false);
    expect(await portAcceptsConnections(port)).toBe(false);
  });
});
