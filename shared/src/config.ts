// Configuration comes only from environment variables, validated once at start-up. A wrong or
// missing value stops the process with one line naming the variable and what to do: operators
// should never have to read a stack trace to find a typo in a URL.

export class ConfigError extends Error {
  readonly variable: string;
  constructor(variable: string, problem: string) {
    super(`${variable} ${problem}`);
    this.name = 'ConfigError';
    this.variable = variable;
  }
}

type Env = Record<string, string | undefined>;

function raw(env: Env, name: string): string | undefined {
  const value = env[name];
  return value === undefined || value.trim() === '' ? undefined : value.trim();
}

export interface EnvReader {
  string(name: string, fallback?: string): string;
  optionalString(name: string): string | undefined;
  int(name: string, fallback: number, range?: { min?: number; max?: number }): number;
  port(name: string, fallback: number): number;
  url(name: string, protocols: string[], fallback?: string): string;
  optionalUrl(name: string, protocols: string[]): string | undefined;
  bool(name: string, fallback: boolean): boolean;
  oneOf<T extends string>(name: string, choices: readonly T[], fallback: T): T;
}

export function envReader(env: Env = process.env): EnvReader {
  const reader: EnvReader = {
    string(name, fallback) {
      const value = raw(env, name) ?? fallback;
      if (value === undefined) throw new ConfigError(name, 'is required but not set');
      return value;
    },
    optionalString(name) {
      return raw(env, name);
    },
    int(name, fallback, range = {}) {
      const text = raw(env, name);
      if (text === undefined) return fallback;
      const value = Number(text);
      if (!Number.isInteger(value)) throw new ConfigError(name, `must be a whole number, got "${text}"`);
      if (range.min !== undefined && value < range.min) throw new ConfigError(name, `must be >= ${range.min}, got ${value}`);
      if (range.max !== undefined && value > range.max) throw new ConfigError(name, `must be <= ${range.max}, got ${value}`);
      return value;
    },
    port(name, fallback) {
      return reader.int(name, fallback, { min: 0, max: 65535 });
    },
    url(name, protocols, fallback) {
      const value = reader.optionalUrl(name, protocols) ?? fallback;
      if (value === undefined) throw new ConfigError(name, `is required: set it to a ${protocols.join(' or ')} URL`);
      return value;
    },
    optionalUrl(name, protocols) {
      const text = raw(env, name);
      if (text === undefined) return undefined;
      let parsed: URL;
      try {
        parsed = new URL(text);
      } catch {
        throw new ConfigError(name, `is not a valid URL (expected ${protocols.map((p) => `${p}//...`).join(' or ')})`);
      }
      if (!protocols.includes(parsed.protocol)) {
        throw new ConfigError(name, `must use ${protocols.join(' or ')}, got "${parsed.protocol}"`);
      }
      return text;
    },
    bool(name, fallback) {
      const text = raw(env, name);
      if (text === undefined) return fallback;
      if (['1', 'true', 'yes', 'on'].includes(text.toLowerCase())) return true;
      if (['0', 'false', 'no', 'off'].includes(text.toLowerCase())) return false;
      throw new ConfigError(name, `must be true or false, got "${text}"`);
    },
    oneOf(name, choices, fallback) {
      const text = raw(env, name);
      if (text === undefined) return fallback;
      const match = choices.find((choice) => choice === text);
      if (!match) throw new ConfigError(name, `must be one of ${choices.join(', ')}, got "${text}"`);
      return match;
    },
  };
  return reader;
}

/** Settings every service reads; each service adds its own on top. */
export interface CommonConfig {
  logLevel: 'debug' | 'info' | 'warn' | 'error';
  jwtIssuer: string;
  jwtAudience: string;
  /** Where the users subgraph publishes its signing keys; every service verifies tokens against it. */
  jwksUrl: string;
  /** Prefix of the event streams (`<prefix>:reviews`, ...); stacks sharing one Redis need distinct ones. */
  eventStreamPrefix: string;
}

export function readCommonConfig(env: Env = process.env): CommonConfig {
  const read = envReader(env);
  return {
    logLevel: read.oneOf('LOG_LEVEL', ['debug', 'info', 'warn', 'error'] as const, 'info'),
    jwtIssuer: read.string('JWT_ISSUER', 'movie-platform'),
    jwtAudience: read.string('JWT_AUDIENCE', 'movie-platform-api'),
    jwksUrl: read.url('JWKS_URL', ['http:', 'https:'], 'http://127.0.0.1:4001/.well-known/jwks.json'),
    eventStreamPrefix: read.string('EVENT_STREAM_PREFIX', 'events'),
  };
}
