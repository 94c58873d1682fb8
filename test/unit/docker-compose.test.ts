// Docker is not available where this project is developed and tested, so the container setup can
// never be run here. This test is the safety net instead: it parses docker/compose.yaml,
// docker/Dockerfile and .dockerignore and checks them against supergraph.yaml (the single list of
// subgraphs), so adding, renaming or re-porting a subgraph without updating the container files
// fails here with a message naming what is missing.

import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join, posix, relative, resolve, sep } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { repoRoot } from '@platform/shared';
import { readGatewayConfig } from '../../gateway/src/config.ts';
import { readSupergraphConfig } from '../../scripts/lib/platform.ts';

// ---------------------------------------------------------------------------------------------
// What the services need (mirrors the services' config readers; see the task's environment list)
// ---------------------------------------------------------------------------------------------

/** Variables every application container gets. */
const COMMON_ENV = ['SERVICE', 'HOST', 'PORT', 'LOG_LEVEL', 'JWT_ISSUER', 'JWT_AUDIENCE'] as const;

/** Variables specific to each known subgraph; a subgraph not listed gets the generic checks only. */
const SUBGRAPH_ENV: Record<string, readonly string[]> = {
  users: ['DATABASE_URL', 'REDIS_URL', 'JWT_KEYS_FILE', 'ACCESS_TOKEN_TTL_SECONDS'],
  movies: ['DATABASE_URL', 'REDIS_URL'],
  reviews: ['DATABASE_URL', 'REDIS_URL'],
  recommendations: ['NEO4J_URI', 'NEO4J_USER', 'NEO4J_PASSWORD', 'REDIS_URL'],
  analytics: ['DATABASE_URL', 'REDIS_URL'],
};

/** The users subgraph issues tokens and verifies them with its own keys; all others fetch its JWKS. */
const TOKEN_ISSUER = 'users';

const DATABASE_IMAGES = [
  { service: 'postgres', image: /^postgres:15(?:[.-]|$)/, expected: 'postgres:15' },
  { service: 'redis', image: /^redis:7(?:[.-]|$)/, expected: 'redis:7' },
  { service: 'neo4j', image: /^neo4j:5\.26-community$/, expected: 'neo4j:5.26-community' },
] as const;

const GATEWAY = 'gateway';
const MIGRATE = 'migrate';

// ---------------------------------------------------------------------------------------------
// Loading and normalising compose.yaml
// ---------------------------------------------------------------------------------------------

type YamlMap = Record<string, unknown>;

function isMap(value: unknown): value is YamlMap {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function asMap(value: unknown): YamlMap {
  return isMap(value) ? value : {};
}

const composePath = join(repoRoot, 'docker', 'compose.yaml');
const dockerfilePath = join(repoRoot, 'docker', 'Dockerfile');
const dockerignorePath = join(repoRoot, '.dockerignore');

// merge: true resolves `<<: *anchor` the way compose does; the yaml package leaves merge keys off
// by default (YAML 1.2 dropped them), which would hide every shared fragment from these checks.
const composeDocument: unknown = parseYaml(readFileSync(composePath, 'utf8'), { merge: true });
const compose = asMap(composeDocument);
const services = asMap(compose.services);
const declaredVolumes = asMap(compose.volumes);

const supergraph = readSupergraphConfig();
const subgraphs = supergraph.subgraphs;
const usersSubgraph = subgraphs.find((subgraph) => subgraph.name === TOKEN_ISSUER);
const gatewayPort = readGatewayConfig({}).port;

function service(name: string): YamlMap | undefined {
  const value = services[name];
  return isMap(value) ? value : undefined;
}

/**
 * Compose substitutes ${NAME}, ${NAME:-default} and ${NAME-default} from the host environment
 * and turns $$ into $. These checks use an empty host environment, i.e. the file's defaults.
 */
function interpolate(text: string): string {
  return text.replace(
    /\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?::?-([^}]*))?\}|\$([A-Za-z_][A-Za-z0-9_]*)/g,
    (match: string, _braced: string | undefined, fallback: string | undefined) => (match === '$$' ? '$' : (fallback ?? '')),
  );
}

/** A service's environment as name -> value (interpolated), from either the map or the list form. */
function environmentOf(definition: YamlMap | undefined): Map<string, string> {
  const result = new Map<string, string>();
  const environment = definition?.environment;
  if (Array.isArray(environment)) {
    for (const entry of environment) {
      const text = String(entry);
      const equals = text.indexOf('=');
      if (equals > 0) result.set(text.slice(0, equals), interpolate(text.slice(equals + 1)));
    }
  } else if (isMap(environment)) {
    for (const [name, value] of Object.entries(environment)) {
      result.set(name, value === null || value === undefined ? '' : interpolate(String(value)));
    }
  }
  return result;
}

interface PortMapping {
  published: number | null;
  target: number;
}

/** Published ports from the short ("[ip:]host:container[/proto]") or the long syntax. */
function portsOf(definition: YamlMap | undefined): PortMapping[] {
  const ports = definition?.ports;
  if (!Array.isArray(ports)) return [];
  return ports.flatMap((entry): PortMapping[] => {
    if (isMap(entry)) {
      const published = entry.published === undefined ? null : Number(entry.published);
      return [{ published, target: Number(entry.target) }];
    }
    const parts = interpolate(String(entry)).split('/')[0]?.split(':') ?? [];
    const target = Number(parts.at(-1));
    const published = parts.length >= 2 ? Number(parts.at(-2)) : null;
    return [{ published, target }];
  });
}

/** depends_on as service -> condition; the list form means service_started. */
function dependenciesOf(definition: YamlMap | undefined): Map<string, string> {
  const result = new Map<string, string>();
  const dependsOn = definition?.depends_on;
  if (Array.isArray(dependsOn)) {
    for (const name of dependsOn) result.set(String(name), 'service_started');
  } else if (isMap(dependsOn)) {
    for (const [name, options] of Object.entries(dependsOn)) {
      const condition = asMap(options).condition;
      result.set(name, typeof condition === 'string' ? condition : 'service_started');
    }
  }
  return result;
}

/** Services something waits for with service_completed_successfully: one-shot jobs, not servers. */
const oneShotJobs = new Set<string>(
  Object.keys(services).flatMap((name) =>
    [...dependenciesOf(service(name))].filter(([, condition]) => condition === 'service_completed_successfully').map(([job]) => job),
  ),
);

/** Services running the platform's own image (built from docker/Dockerfile). */
const appServices = Object.keys(services).filter((name) => service(name)?.build !== undefined);

/** What every server container needs: the right process, on its port, reachable, published. */
function listenerProblems(name: string, definition: YamlMap | undefined, port: number): string[] {
  const environment = environmentOf(definition);
  const problems: string[] = [];
  const expectations: Array<[variable: string, expected: string, why: string]> = [
    ['PORT', String(port), name === GATEWAY ? 'the gateway default' : 'its routing_url port in supergraph.yaml'],
    ['HOST', '0.0.0.0', '127.0.0.1 is unreachable from other containers'],
    ['SERVICE', name, 'it picks the process the image runs'],
  ];
  for (const [variable, expected, why] of expectations) {
    const actual = environment.get(variable);
    if (actual !== expected) problems.push(`${name}: ${variable} is ${actual ?? 'not set'}, expected ${expected} (${why})`);
  }
  if (!portsOf(definition).some((mapping) => mapping.target === port && mapping.published === port)) {
    problems.push(`${name}: does not publish "${port}:${port}"`);
  }
  return problems;
}

function hostOf(url: string): string | null {
  try {
    return new URL(url).hostname;
  } catch {
    return null;
  }
}

// ---------------------------------------------------------------------------------------------
// docker/compose.yaml
// ---------------------------------------------------------------------------------------------

describe('docker/compose.yaml', () => {
  it('is a Compose Specification file: services at the top level, no version key', () => {
    expect(isMap(composeDocument), 'docker/compose.yaml must be a YAML mapping').toBe(true);
    expect(Object.keys(compose), 'the `version` key is obsolete in the Compose Specification; remove it').not.toContain('version');
    expect(Object.keys(services).length, 'docker/compose.yaml has no `services:` mapping').toBeGreaterThan(0);
  });

  it('has a service for every subgraph of supergraph.yaml, on its routing_url port', () => {
    const problems: string[] = [];
    for (const { name, port } of subgraphs) {
      const definition = service(name);
      if (!definition) {
        problems.push(`${name}: no compose service of that name (supergraph.yaml lists it)`);
        continue;
      }
      problems.push(...listenerProblems(name, definition, port));
    }
    expect(problems, 'compose services vs supergraph.yaml').toEqual([]);
  });

  it('runs the gateway on its port, routing to every subgraph by service name', () => {
    const definition = service(GATEWAY);
    expect(definition, `no "${GATEWAY}" service`).toBeDefined();
    const environment = environmentOf(definition);
    const problems = listenerProblems(GATEWAY, definition, gatewayPort);
    if (!environment.has('SUBGRAPH_TIMEOUT_MS')) problems.push(`${GATEWAY}: SUBGRAPH_TIMEOUT_MS is not set`);
    for (const { name, port } of subgraphs) {
      const variable = `SUBGRAPH_URL_${name.toUpperCase()}`;
      const expected = `http://${name}:${port}/graphql`;
      const actual = environment.get(variable);
      if (actual !== expected) problems.push(`${GATEWAY}: ${variable} is ${actual ?? 'not set'}, expected ${expected}`);
    }
    const known = new Set(subgraphs.map(({ name }) => `SUBGRAPH_URL_${name.toUpperCase()}`));
    for (const variable of environment.keys()) {
      if (variable.startsWith('SUBGRAPH_URL_') && !known.has(variable)) problems.push(`${GATEWAY}: ${variable} names no subgraph of supergraph.yaml (stale?)`);
    }
    const dependencies = dependenciesOf(definition);
    for (const { name } of subgraphs) {
      const condition = dependencies.get(name);
      if (condition !== 'service_healthy') problems.push(`${GATEWAY}: depends_on ${name} is ${condition ?? 'missing'}, expected condition service_healthy`);
    }
    expect(problems, 'gateway service').toEqual([]);
  });

  it('gives each subgraph the environment it needs, and no other service credentials', () => {
    const problems: string[] = [];
    const jwksUrl = usersSubgraph ? `http://${usersSubgraph.name}:${usersSubgraph.port}/.well-known/jwks.json` : null;
    expect(jwksUrl, `supergraph.yaml has no "${TOKEN_ISSUER}" subgraph to publish the JWKS`).not.toBeNull();
    for (const { name } of subgraphs) {
      if (!service(name)) continue; // reported by the test above
      const environment = environmentOf(service(name));
      const needed = [...COMMON_ENV, ...(SUBGRAPH_ENV[name] ?? []), ...(name === TOKEN_ISSUER ? [] : ['JWKS_URL'])];
      for (const variable of needed) {
        if (!environment.get(variable)) problems.push(`${name}: ${variable} is not set`);
      }
      if (name !== TOKEN_ISSUER && environment.has('JWKS_URL') && environment.get('JWKS_URL') !== jwksUrl) {
        problems.push(`${name}: JWKS_URL is ${environment.get('JWKS_URL')}, expected ${jwksUrl}`);
      }
      // Least privilege for the known subgraphs: a database password only where it is used.
      const known = SUBGRAPH_ENV[name];
      if (known) {
        for (const variable of ['DATABASE_URL', 'REDIS_URL', 'NEO4J_URI', 'NEO4J_PASSWORD']) {
          if (environment.has(variable) && !known.includes(variable)) problems.push(`${name}: has ${variable} but does not use it`);
        }
      }
    }
    expect(problems, 'subgraph environments').toEqual([]);
  });

  it('points database URLs at the compose services, with matching credentials', () => {
    const problems: string[] = [];
    const expectations: Array<{ variable: string; protocols: string[]; host: string }> = [
      { variable: 'DATABASE_URL', protocols: ['postgres:', 'postgresql:'], host: 'postgres' },
      { variable: 'REDIS_URL', protocols: ['redis:', 'rediss:'], host: 'redis' },
      { variable: 'NEO4J_URI', protocols: ['bolt:', 'neo4j:'], host: 'neo4j' },
    ];
    const postgresEnvironment = environmentOf(service('postgres'));
    const neo4jAuth = environmentOf(service('neo4j')).get('NEO4J_AUTH') ?? '';
    for (const name of appServices) {
      const environment = environmentOf(service(name));
      for (const { variable, protocols, host } of expectations) {
        const value = environment.get(variable);
        if (value === undefined) continue;
        let url: URL;
        try {
          url = new URL(value);
        } catch {
          problems.push(`${name}: ${variable}=${value} is not a URL`);
          continue;
        }
        if (!protocols.includes(url.protocol)) problems.push(`${name}: ${variable} uses ${url.protocol}, expected ${protocols.join(' or ')}`);
        if (url.hostname !== host) problems.push(`${name}: ${variable} points at host "${url.hostname}", expected the "${host}" service`);
        if (variable === 'DATABASE_URL') {
          const user = decodeURIComponent(url.username);
          const password = decodeURIComponent(url.password);
          const database = url.pathname.replace(/^\//, '');
          if (user !== (postgresEnvironment.get('POSTGRES_USER') ?? 'postgres')) problems.push(`${name}: DATABASE_URL user "${user}" is not postgres' POSTGRES_USER`);
          if (password !== postgresEnvironment.get('POSTGRES_PASSWORD')) problems.push(`${name}: DATABASE_URL password differs from postgres' POSTGRES_PASSWORD`);
          if (database !== (postgresEnvironment.get('POSTGRES_DB') ?? user)) problems.push(`${name}: DATABASE_URL database "${database}" is not postgres' POSTGRES_DB`);
        }
      }
      if (environment.has('NEO4J_URI')) {
        const credentials = `${environment.get('NEO4J_USER') ?? ''}/${environment.get('NEO4J_PASSWORD') ?? ''}`;
        if (credentials !== neo4jAuth) problems.push(`${name}: NEO4J_USER/NEO4J_PASSWORD do not match neo4j's NEO4J_AUTH`);
      }
    }
    expect(problems, 'connection URLs').toEqual([]);
  });

  it('starts every service only after what it connects to is healthy (and migrations ran)', () => {
    const problems: string[] = [];
    for (const name of Object.keys(services)) {
      const environment = environmentOf(service(name));
      const dependencies = dependenciesOf(service(name));
      for (const [dependency] of dependencies) {
        if (!service(dependency)) problems.push(`${name}: depends_on "${dependency}", which is not a service`);
      }
      // Every URL naming another compose service (database, JWKS, subgraph) must be waited for.
      const hosts = new Set(
        [...environment.values()].map(hostOf).filter((host): host is string => host !== null && host !== name && service(host) !== undefined),
      );
      for (const host of hosts) {
        const condition = dependencies.get(host);
        if (condition !== 'service_healthy') problems.push(`${name}: connects to ${host} but depends_on it with ${condition ?? 'nothing'}, expected condition service_healthy`);
      }
      if (name !== MIGRATE && environment.has('DATABASE_URL') && dependencies.get(MIGRATE) !== 'service_completed_successfully') {
        problems.push(`${name}: uses DATABASE_URL but does not wait for ${MIGRATE} (condition service_completed_successfully)`);
      }
    }
    expect(problems, 'depends_on').toEqual([]);
  });

  it('runs migrations once, with the platform image, before the subgraphs', () => {
    const definition = service(MIGRATE);
    expect(definition, `no "${MIGRATE}" service`).toBeDefined();
    const command = definition?.command;
    const commandText = Array.isArray(command) ? command.map(String).join(' ') : String(command ?? '');
    expect(commandText, `${MIGRATE}: command should run npm run migrate`).toBe('npm run migrate');
    expect(environmentOf(definition).get('DATABASE_URL'), `${MIGRATE}: DATABASE_URL is not set`).toBeTruthy();
    expect(dependenciesOf(definition).get('postgres'), `${MIGRATE}: must depend on postgres with condition service_healthy`).toBe('service_healthy');
    expect(definition?.restart ?? 'no', `${MIGRATE}: a one-shot job must not be restarted`).toBe('no');
    expect(oneShotJobs.has(MIGRATE), `nothing waits for ${MIGRATE} with condition service_completed_successfully`).toBe(true);
  });

  it('builds every application service from docker/Dockerfile at the repository root', () => {
    const problems: string[] = [];
    for (const name of [GATEWAY, MIGRATE, ...subgraphs.map((subgraph) => subgraph.name)]) {
      const build = service(name)?.build;
      if (build === undefined) {
        problems.push(`${name}: has no build section`);
        continue;
      }
      const context = typeof build === 'string' ? build : String(asMap(build).context ?? '.');
      const dockerfile = typeof build === 'string' ? 'Dockerfile' : String(asMap(build).dockerfile ?? 'Dockerfile');
      const contextDir = resolve(join(repoRoot, 'docker'), context);
      if (relative(repoRoot, contextDir) !== '') problems.push(`${name}: build context ${context} is not the repository root`);
      if (resolve(contextDir, dockerfile) !== dockerfilePath) problems.push(`${name}: dockerfile ${dockerfile} is not docker/Dockerfile`);
    }
    expect(problems, 'build sections').toEqual([]);
  });

  it('gives every long-running service a health check, and one-shot jobs none', () => {
    const problems: string[] = [];
    for (const name of Object.keys(services)) {
      const healthcheck = asMap(service(name)?.healthcheck);
      if (oneShotJobs.has(name)) {
        if (healthcheck.disable !== true) problems.push(`${name}: a one-shot job; set healthcheck.disable: true (the image's HTTP check would fail)`);
        continue;
      }
      const test = healthcheck.test;
      const testText = Array.isArray(test) ? test.map(String).join(' ') : typeof test === 'string' ? test : '';
      if (healthcheck.disable === true || testText === '' || testText === 'NONE') {
        problems.push(`${name}: no healthcheck (depends_on service_healthy needs one)`);
      } else if (appServices.includes(name) && !testText.includes('/health')) {
        problems.push(`${name}: its healthcheck does not probe /health`);
      }
    }
    expect(problems, 'health checks').toEqual([]);
  });

  it('uses the expected database images, with their settings and named volumes', () => {
    const problems: string[] = [];
    for (const { service: name, image, expected } of DATABASE_IMAGES) {
      const definition = service(name);
      if (!definition) {
        problems.push(`no "${name}" service`);
        continue;
      }
      if (!image.test(String(definition.image ?? ''))) problems.push(`${name}: image is ${String(definition.image ?? 'not set')}, expected ${expected}`);
    }
    const neo4jEnvironment = environmentOf(service('neo4j'));
    for (const variable of ['NEO4J_AUTH', 'NEO4J_server_memory_heap_max__size', 'NEO4J_server_memory_pagecache_size']) {
      if (!neo4jEnvironment.get(variable)) problems.push(`neo4j: ${variable} is not set`);
    }
    if (!/^neo4j\/.{8,}$/.test(neo4jEnvironment.get('NEO4J_AUTH') ?? '')) problems.push('neo4j: NEO4J_AUTH must be neo4j/<password of 8+ characters>');
    for (const name of ['postgres', 'redis', 'neo4j']) {
      if (namedVolumesOf(name).length === 0) problems.push(`${name}: keeps its data in no named volume`);
    }
    expect(problems, 'databases').toEqual([]);
  });

  it("keeps the users subgraph's signing keys (JWT_KEYS_FILE) on a named volume the service can write", () => {
    expect(usersSubgraph, `supergraph.yaml has no "${TOKEN_ISSUER}" subgraph`).toBeDefined();
    const keysFile = environmentOf(service(TOKEN_ISSUER)).get('JWT_KEYS_FILE') ?? '';
    expect(posix.isAbsolute(keysFile), `${TOKEN_ISSUER}: JWT_KEYS_FILE must be an absolute path, got "${keysFile}"`).toBe(true);
    const holding = namedVolumesOf(TOKEN_ISSUER).filter(({ target }) => keysFile.startsWith(`${target.replace(/\/$/, '')}/`));
    expect(holding, `${TOKEN_ISSUER}: JWT_KEYS_FILE (${keysFile}) is on no named volume; keys would change on every re-creation`).not.toEqual([]);
    // A fresh named volume copies the ownership of the image's directory at the mount point; one
    // the image does not create (owned by the non-root user) would be root-owned and unwritable.
    const runText = instructionsOf(finalStage, 'RUN').map((instruction) => instruction.args).join('\n');
    const uncreated = holding.map(({ target }) => target).filter((target) => !runText.includes(target.replace(/\/$/, '')));
    expect(uncreated, 'volume mount points the Dockerfile does not create (mkdir + chown to the runtime user)').toEqual([]);
  });

  it('declares every named volume it mounts, and JWT settings agree across services', () => {
    const problems: string[] = [];
    for (const name of Object.keys(services)) {
      for (const { source } of namedVolumesOf(name)) {
        if (!(source in declaredVolumes)) problems.push(`${name}: mounts volume "${source}", which is not declared under top-level volumes`);
      }
    }
    // Tokens minted by users must verify everywhere: one issuer and one audience.
    for (const variable of ['JWT_ISSUER', 'JWT_AUDIENCE']) {
      const servers = appServices.filter((name) => !oneShotJobs.has(name));
      const values = new Set(servers.map((name) => environmentOf(service(name)).get(variable) ?? '(not set)'));
      if (values.size !== 1) problems.push(`${variable} differs between services: ${[...values].join(', ')}`);
    }
    expect(problems, 'volumes and JWT settings').toEqual([]);
  });
});

/** Mounts of named volumes (not bind mounts) in the short or the long syntax. */
function namedVolumesOf(name: string): Array<{ source: string; target: string }> {
  const volumes = service(name)?.volumes;
  if (!Array.isArray(volumes)) return [];
  return volumes.flatMap((entry): Array<{ source: string; target: string }> => {
    if (isMap(entry)) {
      return entry.type === 'volume' && typeof entry.source === 'string' && typeof entry.target === 'string' ? [{ source: entry.source, target: entry.target }] : [];
    }
    const [source = '', target = ''] = String(entry).split(':');
    // A bind mount's source is a path (./x, /x, ~/x); a named volume's is a plain name.
    return /^[A-Za-z0-9][A-Za-z0-9_.-]*$/.test(source) && target.startsWith('/') ? [{ source, target }] : [];
  });
}

// ---------------------------------------------------------------------------------------------
// docker/Dockerfile
// ---------------------------------------------------------------------------------------------

interface Instruction {
  keyword: string;
  args: string;
}

interface Stage {
  base: string;
  name: string | null;
  instructions: Instruction[];
}

/** Splits a Dockerfile into stages of instructions (continuations joined, comments dropped). */
function parseDockerfile(text: string): Stage[] {
  const logicalLines: string[] = [];
  let pending = '';
  for (const line of text.split('\n')) {
    const trimmed = line.trim();
    // Comment lines inside a continued instruction are skipped by Docker, not ended at.
    if (trimmed.startsWith('#')) continue;
    if (trimmed.endsWith('\\')) {
      pending += `${trimmed.slice(0, -1)} `;
      continue;
    }
    const complete = `${pending}${trimmed}`.trim();
    pending = '';
    if (complete !== '') logicalLines.push(complete);
  }
  const stages: Stage[] = [];
  for (const line of logicalLines) {
    const match = /^(\S+)\s*(.*)$/.exec(line);
    if (!match?.[1]) continue;
    const keyword = match[1].toUpperCase();
    const args = match[2] ?? '';
    if (keyword === 'FROM') {
      const from = /^(?:--\S+\s+)*(\S+)(?:\s+AS\s+(\S+))?/i.exec(args);
      stages.push({ base: from?.[1] ?? '', name: from?.[2] ?? null, instructions: [] });
    } else {
      stages.at(-1)?.instructions.push({ keyword, args });
    }
  }
  return stages;
}

/** Paths a COPY/ADD instruction copies from the build context (none for COPY --from=...). */
function copySources(instruction: Instruction): string[] {
  const words = instruction.args.split(/\s+/).filter((word) => word !== '');
  if (words.some((word) => word.startsWith('--from='))) return [];
  const paths = words.filter((word) => !word.startsWith('--'));
  return paths.slice(0, -1);
}

function instructionsOf(stage: Stage | undefined, keyword: string): Instruction[] {
  return stage?.instructions.filter((instruction) => instruction.keyword === keyword) ?? [];
}

/** A context-relative source path as compared here: POSIX separators, no trailing slash. */
function normalizeSource(source: string): string {
  return posix.normalize(source).replace(/\/$/, '');
}

/** ENV KEY=VALUE pairs of a stage (the legacy `ENV KEY VALUE` form too). */
function envOf(stage: Stage): Map<string, string> {
  const result = new Map<string, string>();
  for (const { keyword, args } of stage.instructions) {
    if (keyword !== 'ENV') continue;
    if (!args.includes('=')) {
      const [name = '', ...rest] = args.split(/\s+/);
      result.set(name, rest.join(' '));
      continue;
    }
    for (const pair of args.matchAll(/([A-Za-z_][A-Za-z0-9_]*)=("[^"]*"|'[^']*'|\S*)/g)) {
      result.set(pair[1] ?? '', (pair[2] ?? '').replace(/^(["'])(.*)\1$/, '$2'));
    }
  }
  return result;
}

const stages = parseDockerfile(readFileSync(dockerfilePath, 'utf8'));
const finalStage = stages.at(-1);

describe('docker/Dockerfile', () => {
  it('builds every stage on node:24-slim', () => {
    expect(stages.length, 'docker/Dockerfile has no FROM').toBeGreaterThan(0);
    const stageNames = new Set(stages.map((stage) => stage.name?.toLowerCase()).filter((name) => name !== undefined));
    const foreign = stages.map((stage) => stage.base).filter((base) => !stageNames.has(base.toLowerCase()) && base !== 'node:24-slim');
    expect(foreign, 'every FROM must be node:24-slim (or an earlier stage)').toEqual([]);
  });

  it('runs as a non-root user', () => {
    const users = instructionsOf(finalStage, 'USER').map((instruction) => instruction.args.trim());
    expect(users.length, 'the final stage has no USER instruction: the services would run as root').toBeGreaterThan(0);
    const user = (users.at(-1) ?? '').split(':')[0];
    expect(['root', '0'], `the final USER is "${user}", which is root`).not.toContain(user);
  });

  it('sets production defaults and a /health HEALTHCHECK', () => {
    const environment = finalStage ? envOf(finalStage) : new Map<string, string>();
    const problems: string[] = [];
    for (const [variable, expected] of [['NODE_ENV', 'production'], ['APOLLO_TELEMETRY_DISABLED', '1'], ['HOST', '0.0.0.0']] as const) {
      if (environment.get(variable) !== expected) problems.push(`ENV ${variable} is ${environment.get(variable) ?? 'not set'}, expected ${expected}`);
    }
    const healthcheck = finalStage?.instructions.find((instruction) => instruction.keyword === 'HEALTHCHECK')?.args ?? '';
    if (!healthcheck.includes('/health') || !healthcheck.includes('PORT')) problems.push('no HEALTHCHECK probing /health on $PORT');
    const command = finalStage?.instructions.find((instruction) => instruction.keyword === 'CMD')?.args ?? '';
    if (!command.includes('SERVICE')) problems.push('CMD does not choose the service from SERVICE');
    expect(problems, 'docker/Dockerfile runtime settings').toEqual([]);
  });

  it('installs production dependencies from the manifests of every workspace before copying sources', () => {
    const lockfile = asMap(JSON.parse(readFileSync(join(repoRoot, 'package-lock.json'), 'utf8')));
    // The lockfile's non-node_modules package entries are exactly the workspaces `npm ci` expects.
    const workspaces = Object.keys(asMap(lockfile.packages)).filter((key) => key !== '' && !key.startsWith('node_modules/'));
    const manifests = ['package.json', 'package-lock.json', ...workspaces.map((workspace) => `${workspace}/package.json`)];
    const isInstall = (instruction: Instruction): boolean => instruction.keyword === 'RUN' && /\bnpm ci\b/.test(instruction.args);
    const installStage = stages.find((stage) => stage.instructions.some(isInstall));
    expect(installStage, 'no stage runs npm ci').toBeDefined();
    const instructions = installStage?.instructions ?? [];
    const installAt = instructions.findIndex(isInstall);
    expect(instructions[installAt]?.args, 'npm ci must omit dev dependencies (--omit=dev)').toMatch(/--omit=dev\b/);
    const copiedBefore = new Set(
      instructions
        .slice(0, installAt)
        .filter((instruction) => instruction.keyword === 'COPY')
        .flatMap((instruction) => copySources(instruction).map(normalizeSource)),
    );
    const missing = manifests.filter((manifest) => !copiedBefore.has(manifest));
    expect(missing, 'manifests not COPYed before npm ci (add `COPY <workspace>/package.json <workspace>/`)').toEqual([]);
    const sourcesBefore = [...copiedBefore].filter((source) => !manifests.includes(source));
    expect(sourcesBefore, 'sources copied before npm ci would rebuild the dependency layer on every edit').toEqual([]);
  });

  it('copies the sources every service needs', () => {
    const copied = new Set(instructionsOf(finalStage, 'COPY').flatMap((instruction) => copySources(instruction).map(normalizeSource)));
    const needed = ['shared', 'gateway', 'subgraphs', 'schema', 'scripts', 'supergraph.yaml', 'tsconfig.json'];
    expect(needed.filter((path) => !copied.has(path)), 'the final stage does not COPY these').toEqual([]);
  });
});

// ---------------------------------------------------------------------------------------------
// .dockerignore
// ---------------------------------------------------------------------------------------------

interface IgnoreRule {
  negated: boolean;
  pattern: RegExp;
}

/** Translates one .dockerignore pattern (Go filepath.Match plus `**`) into a regular expression. */
function ignorePatternToRegExp(pattern: string): RegExp {
  let source = '';
  for (let index = 0; index < pattern.length; index += 1) {
    const char = pattern[index] ?? '';
    if (char === '*') {
      if (pattern[index + 1] === '*') {
        index += 1;
        if (pattern[index + 1] === '/') {
          index += 1;
          source += '(?:.*/)?';
        } else {
          source += '.*';
        }
      } else {
        source += '[^/]*';
      }
    } else if (char === '?') {
      source += '[^/]';
    } else if (char === '[') {
      const end = pattern.indexOf(']', index + 1);
      if (end === -1) {
        source += '\\[';
      } else {
        source += `[${pattern.slice(index + 1, end).replace(/^!/, '^')}]`;
        index = end;
      }
    } else if (char === '\\' && index + 1 < pattern.length) {
      index += 1;
      source += (pattern[index] ?? '').replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
    } else {
      source += char.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
    }
  }
  return new RegExp(`^${source}$`);
}

function readIgnoreRules(text: string): IgnoreRule[] {
  return text
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line !== '' && !line.startsWith('#'))
    .map((line) => {
      const negated = line.startsWith('!');
      const cleaned = posix.normalize((negated ? line.slice(1) : line).trim()).replace(/^\/+/, '').replace(/\/+$/, '');
      return { negated, pattern: ignorePatternToRegExp(cleaned) };
    });
}

/** Whether the build context leaves `path` out: the last matching rule wins; a parent directory's match covers its files. */
function isIgnored(rules: IgnoreRule[], path: string): boolean {
  const parts = path.split('/');
  const candidates = parts.map((_, index) => parts.slice(0, index + 1).join('/'));
  let ignored = false;
  for (const rule of rules) {
    if (candidates.some((candidate) => rule.pattern.test(candidate))) ignored = !rule.negated;
  }
  return ignored;
}

function contextRelative(absolute: string): string {
  return relative(repoRoot, absolute).split(sep).join('/');
}

/** Folders left out of the build context on purpose: host-installed modules and tests. */
const NOT_FOR_THE_IMAGE = new Set(['node_modules', 'test']);

/** Files under a context-relative path, skipping the folders the image deliberately goes without. */
function filesUnder(path: string): string[] {
  const absolute = join(repoRoot, path);
  if (!existsSync(absolute)) return [];
  if (!statSync(absolute).isDirectory()) return [path];
  return readdirSync(absolute).flatMap((entry) => (NOT_FOR_THE_IMAGE.has(entry) ? [] : filesUnder(posix.join(path, entry))));
}

describe('.dockerignore', () => {
  const rules = readIgnoreRules(readFileSync(dockerignorePath, 'utf8'));

  it('keeps local state, host-installed modules, tests and MovieLens data out of the build context', () => {
    const mustBeIgnored = [
      'node_modules/yaml/package.json',
      'shared/node_modules/x/index.js',
      'subgraphs/users/node_modules/argon2/package.json',
      '.data/keys/signing-keys.json',
      '.data/neo4j/data/store',
      '.cache/neo4j-5.26.30/lib/neo4j.jar',
      '.tools/node/bin/node',
      'ml-latest-small/ratings.csv',
      'ml-latest/movies.csv',
      'ml-32m/ratings.csv',
      'data/ml-latest-small/ratings.csv',
      'ml-latest-small.zip',
      'shared/test/unit/config.test.ts',
    ];
    expect(mustBeIgnored.filter((path) => !isIgnored(rules, path)), 'these paths would be sent to the builder').toEqual([]);
  });

  it('excludes nothing the Dockerfile copies', () => {
    const copiedFromContext = stages.flatMap((stage) =>
      stage.instructions.filter((instruction) => instruction.keyword === 'COPY' || instruction.keyword === 'ADD').flatMap(copySources),
    );
    expect(copiedFromContext.length, 'the Dockerfile copies nothing from the build context').toBeGreaterThan(0);
    const files = [...new Set(copiedFromContext.map(normalizeSource))].flatMap(filesUnder);
    // Spot checks too, in case a folder were missing on disk: the entry points and schemas.
    const essentials = ['package.json', 'package-lock.json', 'gateway/src/main.ts', 'schema/supergraph.graphql', 'scripts/migrate.ts'];
    for (const { entry, schemaFile } of subgraphs) essentials.push(contextRelative(entry), contextRelative(schemaFile));
    const excluded = [...new Set([...files, ...essentials])].filter((path) => isIgnored(rules, path));
    expect(excluded, '.dockerignore excludes files the image needs').toEqual([]);
  });
});
