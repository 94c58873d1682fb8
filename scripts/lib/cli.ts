import { ConfigError } from '@platform/shared';

/**
 * Runs a command-line task: an error becomes one line on stderr and a non-zero exit, with the
 * stack only when DEBUG is set, so users see what to do rather than a trace.
 */
export async function runCli(task: () => Promise<void>): Promise<void> {
  try {
    await task();
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    process.stderr.write(`error: ${message}\n`);
    if (process.env.DEBUG && error instanceof Error && !(error instanceof ConfigError)) process.stderr.write(`${error.stack}\n`);
    process.exitCode = error instanceof ConfigError ? 2 : 1;
  }
}
