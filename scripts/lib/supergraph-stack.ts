import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { repoRoot } from '@platform/shared';
import type { ServiceEndpoints } from './services.ts';
import { readSupergraphConfig } from './platform.ts';

// Starts the five subgraphs and the gateway as separate processes (as in production: one process
// each), used by `npm start`, the end-to-end tests and the benchmarks. Each process announces
// its URL in its "listening" log line, so everything can run on free ports (port 0).

export interface StackProcess {
  name: string;
  url: string;
  child: ChildProcess;
  /** the last lines it printed, for error reports */
  tail(): string[];
  /** SIGTERM (graceful drain), SIGKILL after 10 s; resolves once it has exited */
  stop(): Promise<void>;
}

export interface SupergraphStack {
  gatewayUrl: string;
  processes: StackProcess[];
  stop(): Promise<void>;
}

export interface StackOptions {
  services: ServiceEndpoints;
  dataDir: string;
  /** true: every process on a free port; false: the ports of supergraph.yaml and 4000 for the gateway */
  freePorts: boolean;
  gatewayPort?: number;
  extraEnv?: Record<string, string>;
  /** receives every log line of every process, prefixed by its name */
  onLog?(name: string, line: string): void;
  /** called when a process exits while the stack is supposed to be running */
  onUnexpectedExit?(name: string, code: number | null, tail: string[]): void;
  readyTimeoutMs?: number;
}

const tailLength = 40;

function startProcess(name: string, entry: string, env: NodeJS.ProcessEnv, options: StackOptions): Promise<StackProcess> {
  const child = spawn(process.execPath, [entry], { env, stdio: ['ignore', 'pipe', 'pipe', 'ipc'] });
  const lines: string[] = [];
  let stopping = false;
  let ready = false;
  const remember = (line: string): void => {
    lines.push(line);
    if (lines.length > tailLength) lines.shift();
    options.onLog?.(name, line);
  };
  const stop = async (): Promise<void> => {
    stopping = true;
    if (child.exitCode !== null || child.signalCode !== null) return;
    await new Promise<void>((resolve) => {
      const force = setTimeout(() => child.kill('SIGKILL'), 10_000);
      child.once('exit', () => {
        clearTimeout(force);
        resolve();
      });
      child.kill('SIGTERM');
    });
  };
  const readyTimeoutMs = options.readyTimeoutMs ?? 30_000;
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${name} did not start within ${readyTimeoutMs} ms; its last lines:\n${lines.join('\n')}`));
    }, readyTimeoutMs);
    child.on('message', (message: { type?: unknown; url?: unknown }) => {
      if (message.type !== 'listening' || typeof message.url !== 'string') return;
      clearTimeout(timer);
      ready = true;
      resolve({ name, url: message.url, child, tail: () => [...lines], stop });
    });
    createInterface({ input: child.stdout! }).on('line', remember);
    createInterface({ input: child.stderr! }).on('line', remember);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`${name} exited with code ${code} before it was ready; its last lines:\n${lines.join('\n')}`));
      // Before it was ready the rejection above reports it; afterwards only this callback can.
      if (ready && !stopping) options.onUnexpectedExit?.(name, code, [...lines]);
    });
  });
}

export async function startSupergraphStack(options: StackOptions): Promise<SupergraphStack> {
  const { subgraphs } = readSupergraphConfig();
  const usersPort = options.freePorts ? 0 : (subgraphs.find((s) => s.name === 'users')?.port ?? 4001);
  const baseEnv: NodeJS.ProcessEnv = {
    ...process.env,
    APOLLO_TELEMETRY_DISABLED: '1',
    DATA_DIR: options.dataDir,
    DATABASE_URL: options.services.databaseUrl,
    REDIS_URL: options.services.redisUrl,
    NEO4J_URI: options.services.neo4j.uri,
    NEO4J_USER: options.services.neo4j.user,
    NEO4J_PASSWORD: options.services.neo4j.password,
    ...options.extraEnv,
  };
  const started: StackProcess[] = [];
  const stop = async (): Promise<void> => {
    await Promise.all(started.map((running) => running.stop()));
  };
  try {
    // users first: its JWKS URL (port known only once it listens) is configuration for the others.
    const users = await startProcess('users', join(repoRoot, 'subgraphs', 'users', 'src', 'main.ts'), { ...baseEnv, PORT: String(usersPort) }, options);
    started.push(users);
    const jwksUrl = new URL('/.well-known/jwks.json', users.url).toString();
    const others = await Promise.all(
      subgraphs
        .filter((subgraph) => subgraph.name !== 'users')
        .map((subgraph) =>
          startProcess(subgraph.name, subgraph.entry, { ...baseEnv, JWKS_URL: jwksUrl, PORT: String(options.freePorts ? 0 : subgraph.port) }, options).then(
            (running) => {
              started.push(running);
              return running;
            },
          ),
        ),
    );
    const subgraphUrlEnv = Object.fromEntries([users, ...others].map((p) => [`SUBGRAPH_URL_${p.name.toUpperCase()}`, p.url]));
    const gatewayPort = options.freePorts ? 0 : (options.gatewayPort ?? 4000);
    const gateway = await startProcess(
      'gateway',
      join(repoRoot, 'gateway', 'src', 'main.ts'),
      { ...baseEnv, ...subgraphUrlEnv, JWKS_URL: jwksUrl, PORT: String(gatewayPort) },
      options,
    );
    started.push(gateway);
    return { gatewayUrl: gateway.url, processes: started, stop };
  } catch (error) {
    await stop();
    throw error;
  }
}
