// Recomputes the analytics read model from the source schemas and moves the `analytics` consumer
// group to the stream positions it corresponds to:
//   node subgraphs/analytics/src/backfill-cli.ts          (DATABASE_URL, REDIS_URL from the environment)
//   npm run backfill --workspace @platform/analytics
import { fileURLToPath } from 'node:url';
import { ConfigError, connectRedis, envReader, migrateSchema } from '@platform/shared';
import { backfillAnalytics } from './backfill.ts';
import { analyticsStreamsFor } from './consumer.ts';

const undefinedTable = '42P01';

async function main(): Promise<void> {
  const read = envReader();
  const databaseUrl = read.url('DATABASE_URL', ['postgres:', 'postgresql:']);
  const redisUrl = read.url('REDIS_URL', ['redis:', 'rediss:'], 'redis://127.0.0.1:6379');
  const streams = analyticsStreamsFor(read.string('EVENT_STREAM_PREFIX', 'events'));
  // Only our own schema: the source schemas belong to their subgraphs' migrations.
  await migrateSchema(databaseUrl, 'analytics', fileURLToPath(new URL('../drizzle', import.meta.url)));
  const redis = connectRedis(redisUrl, { name: 'analytics-backfill' });
  try {
    try {
      await redis.ping();
    } catch (error) {
      // Without the stream positions the consumer would re-read what the backfill already counted.
      throw new ConfigError('REDIS_URL', `does not answer (${error instanceof Error ? error.message : String(error)}): start Redis there or fix the URL`);
    }
    const started = performance.now();
    const { totals, changed, changedRows, eventsMarked, streamPositions } = await backfillAnalytics(databaseUrl, { redis, streams });
    const took = Math.round(performance.now() - started);
    const counts = `users ${totals.users}, movies ${totals.movies}, ratings ${totals.ratings}, reviews ${totals.reviews}, likes ${totals.likes}, dislikes ${totals.dislikes}`;
    const rows = Object.entries(changedRows).map(([table, count]) => `${table} ${count}`).join(', ');
    const positions = Object.entries(streamPositions ?? {}).map(([stream, id]) => `${stream} ${id}`).join(', ');
    process.stdout.write(
      `analytics backfill ${changed ? 'rebuilt' : 'found nothing to change in'} the read model in ${took} ms: ${counts}\n` +
        `  rows changed: ${rows}; outbox events marked processed: ${eventsMarked}\n` +
        `  consumer group "analytics" continues after: ${positions}\n`,
    );
  } finally {
    redis.disconnect();
  }
}

function explain(error: unknown): string {
  if (error instanceof Error && 'code' in error && error.code === undefinedTable) {
    return `${error.message}: the source schemas are missing; run \`npm run migrate\` first`;
  }
  return error instanceof Error ? error.message : String(error);
}

main().catch((error: unknown) => {
  process.stderr.write(`error: ${explain(error)}\n`);
  if (process.env.DEBUG && error instanceof Error) process.stderr.write(`${error.stack}\n`);
  process.exitCode = error instanceof ConfigError ? 2 : 1;
});
