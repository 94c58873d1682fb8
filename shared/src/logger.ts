import { AsyncLocalStorage } from 'node:async_hooks';

// One structured logger for every process: a JSON object per line on stdout, so logs of the
// gateway and all subgraphs can be merged and filtered by `requestId` across services.

export type LogLevel = 'debug' | 'info' | 'warn' | 'error';
const levelRank: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };

export interface RequestScope {
  requestId: string;
}

/** Carries the request id through async calls without threading it through every signature. */
export const requestScope = new AsyncLocalStorage<RequestScope>();

export interface Logger {
  debug(message: string, fields?: Record<string, unknown>): void;
  info(message: string, fields?: Record<string, unknown>): void;
  warn(message: string, fields?: Record<string, unknown>): void;
  error(message: string, fields?: Record<string, unknown>): void;
  child(fields: Record<string, unknown>): Logger;
}

export type LogSink = (line: string) => void;

const stdoutSink: LogSink = (line) => {
  process.stdout.write(line + '\n');
};

function serialize(value: unknown): unknown {
  if (value instanceof Error) return { name: value.name, message: value.message, stack: value.stack };
  return value;
}

export function createLogger(
  service: string,
  options: { level?: LogLevel; sink?: LogSink; fields?: Record<string, unknown> } = {},
): Logger {
  const threshold = levelRank[options.level ?? (process.env.LOG_LEVEL as LogLevel | undefined) ?? 'info'] ?? levelRank.info;
  const sink = options.sink ?? stdoutSink;
  const base = options.fields ?? {};
  const write = (level: LogLevel, message: string, fields?: Record<string, unknown>): void => {
    if (levelRank[level] < threshold) return;
    const entry: Record<string, unknown> = { time: new Date().toISOString(), level, service, msg: message, ...base };
    const scope = requestScope.getStore();
    if (scope) entry.requestId = scope.requestId;
    if (fields) for (const [key, value] of Object.entries(fields)) entry[key] = serialize(value);
    sink(JSON.stringify(entry));
  };
  return {
    debug: (m, f) => write('debug', m, f),
    info: (m, f) => write('info', m, f),
    warn: (m, f) => write('warn', m, f),
    error: (m, f) => write('error', m, f),
    child: (fields) => createLogger(service, { ...options, fields: { ...base, ...fields } }),
  };
}
