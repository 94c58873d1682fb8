// Live subscriptions at scale through one gateway process: N concurrent graphql-ws clients, each
// its own signed-in user subscribed to recommendationsUpdated, while live messages are published
// on Redis at a steady rate (shared/src/live.ts publishLive, as the recommendations producer
// does). Per N it measures
//   - event -> client latency p50/p99/max (PUBLISH until the client has the `next` message; the
//     publisher and the clients share this process's clock),
//   - the gateway's resident memory per connection (RSS after N subscribed minus RSS before,
//     over N; the gateway is a child process, so RSS from /proc is what can be read, not its heap),
//   - the gateway's CPU (utime + stime from /proc/<pid>/stat) while connecting, idle and publishing,
//   - lost, duplicated and reordered events: each subscriber's messages carry a sequence number in
//     `reason`, checked on arrival and counted at the end,
// over measured rounds that follow a priming round: each subscriber's first update computes and
// caches its list (in production the producer has cached it before it publishes), timed apart,
// and prints one table with a column per N.
//
// Steady state only: a stack that finds no active recommendation model builds one a while after
// it starts, and the activation drops every cached list (a cache generation bump). Priming before
// that moment made the first measured events recompute cold lists (Neo4j queries) under the
// clients' eyes, a start-up artifact no client of a running system sees; so the bench waits, before
// it connects anyone, until a model is active, no build runs, and a build it saw has been followed
// by its cache invalidation. (The model lives in the shared Neo4j: later stacks find it active.)
//
// The bench's own event loop is watched during the measured rounds (its delay p99/max is printed):
// arrival times are taken on it, so a busy bench would add its own stalls to the latency figures. Every N gets a fresh stack (five subgraphs + gateway)
// on free ports, a scratch database and a private Neo4j seeded with the synthetic demo data, so
// recommendations are real lists whose movies the gateway fetches from the movies subgraph.
//
// Tokens are minted with the stack's own signing key (DATA_DIR/keys/signing-keys.json, which the
// users subgraph publishes as its JWKS) instead of thousands of sign-ups.
//
// Usage: npm run bench:subscriptions [-- --subscribers 1000,5000 --rate 100 --per-subscriber 2]
// Open files: the gateway holds one socket per subscriber (its upstream sockets to the subgraph
// are a few shared ones), the bench one per subscriber. Node raises its soft limit to the hard
// one, so `ulimit -Hn` must be above N + 1000 (raise it with `ulimit -n 20000` in the shell that
// runs the bench, as root if needed).
import { randomUUID } from 'node:crypto';
import { chmodSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { createClient, type Client } from 'graphql-ws';
import { Redis } from 'ioredis';
import { WebSocket } from 'ws';
import { liveChannelFor, publishLive } from '@platform/shared';
import { generateSyntheticDataset } from '../scripts/lib/synthetic.ts';
import { loadDataset } from '../scripts/lib/load-dataset.ts';
import { migrateAll } from '../scripts/lib/migrations.ts';
import { startNeo4j } from '../scripts/lib/neo4j.ts';
import { createScratchDatabase, ensureServices } from '../scripts/lib/services.ts';
import { startSupergraphStack, type SupergraphStack } from '../scripts/lib/supergraph-stack.ts';
import { readKeyFile, signAccessToken, toSigningKeys } from '../subgraphs/users/src/tokens.ts';
import { cacheKeys } from '../subgraphs/recommendations/src/cache.ts';

const { values } = parseArgs({
  options: {
    subscribers: { type: 'string', default: '1000,5000' },
    /** live messages per second, over all subscribers */
    rate: { type: 'string', default: '100' },
    /** messages each subscriber gets (>= 2 to see reordering) */
    'per-subscriber': { type: 'string', default: '2' },
    /** clients connecting at once */
    'connect-concurrency': { type: 'string', default: '200' },
  },
});
const subscriberCounts = values.subscribers.split(',').map(Number);
const ratePerSecond = Number(values.rate);
const perSubscriber = Number(values['per-subscriber']);
const connectConcurrency = Number(values['connect-concurrency']);
if (subscriberCounts.some((n) => !Number.isInteger(n) || n < 1) || !(ratePerSecond > 0) || !(perSubscriber >= 1) || !(connectConcurrency >= 1)) {
  throw new Error('usage: --subscribers 1000,5000 --rate <messages/s> --per-subscriber <n> --connect-concurrency <n>');
}

const subscription = 'subscription Live($first: Int) { recommendationsUpdated(first: $first) { reason at recommendations { score movie { id title } } } }';
const recommendationsPerUpdate = 5;
const clockTicksPerSecond = 100; // USER_HZ on Linux x86_64 and arm64
const log = (message: string): void => {
  process.stderr.write(`  ${message}\n`);
};
const delay = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
const percentile = (sorted: number[], p: number): number => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? Number.NaN;

/** Resident set size of a process, in bytes. */
function residentBytes(pid: number): number {
  return Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? Number.NaN) * 1024;
}

/** CPU time (user + system) a process has used so far, in ms. */
function cpuMs(pid: number): number {
  // Fields after the parenthesised command name: state is field 3, utime 14, stime 15.
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return ((Number(fields[11]) + Number(fields[12])) * 1000) / clockTicksPerSecond;
}

function openFileLimit(pid: number): number {
  const line = readFileSync(`/proc/${pid}/limits`, 'utf8').split('\n').find((row) => row.startsWith('Max open files'));
  return Number(line?.split(/\s+/)[3] ?? Number.NaN);
}

/** CPU used by `pid` during `work`, as a share of one core, plus the wall time. */
async function measuredCpu<T>(pid: number, work: () => Promise<T>): Promise<{ result: T; cpuShare: number; wallMs: number; cpuMs: number }> {
  const cpuBefore = cpuMs(pid);
  const started = performance.now();
  const result = await work();
  const wallMs = performance.now() - started;
  const used = cpuMs(pid) - cpuBefore;
  return { result, cpuShare: used / wallMs, wallMs, cpuMs: used };
}

interface Subscriber {
  userId: string;
  client: Client;
  /** sequence numbers received (a repeat is a duplicate) */
  seen: Set<number>;
  /** the highest sequence number so far (a lower one arriving later is reordered) */
  highest: number;
  duplicated: number;
  reordered: number;
  errors: string[];
  /** got its priming update (its recommendations are cached from then on) */
  primed: boolean;
}

interface RunFigures {
  subscribers: number;
  connectMs: number;
  connectCpuShare: number;
  idleCpuShare: number;
  rssBeforeMb: number;
  rssPerConnectionKb: number;
  upstreamRssPerConnectionKb: number;
  primingSeconds: number;
  primingDelivered: number;
  /** subscribers still without a cached list after every priming attempt */
  unprimed: number;
  primingP50: number;
  primingP99: number;
  published: number;
  publishSeconds: number;
  delivered: number;
  latencyP50: number;
  latencyP99: number;
  latencyMax: number;
  publishCpuShare: number;
  cpuMsPerEvent: number;
  recommendationsCpuMsPerEvent: number;
  moviesCpuMsPerEvent: number;
  /** the machine's 1-minute load average before and after the measured rounds (other work competes on 2 cores) */
  loadAverage: string;
  /** this process's event-loop delay during the measured rounds (arrivals are timed on it), ms */
  benchLoopDelayP99: number;
  benchLoopDelayMax: number;
  /** seconds waited for the first model activation (its cache invalidation) */
  modelWaitSeconds: number;
  lost: number;
  duplicated: number;
  reordered: number;
  publishFailures: number;
  primingErrors: number;
  measuredErrors: number;
  firstError: string | null;
}

const services = await ensureServices({ need: { postgres: true, redis: true }, log: () => {} });
const neo4jHome = mkdtempSync(join(tmpdir(), 'bench-subscriptions-neo4j-'));
chmodSync(neo4jHome, 0o755);
log('starting a private Neo4j');
const neo4j = await startNeo4j({ home: neo4jHome, port: 0, heapMb: 512, pageCacheMb: 128 });
const database = await createScratchDatabase(services.databaseUrl, 'bench_subscriptions');
await migrateAll(database.url);
log('seeding the synthetic demo data');
await loadDataset(generateSyntheticDataset(), { databaseUrl: database.url, neo4j });
const redis = new Redis(services.redisUrl);

async function runWith(subscriberCount: number): Promise<RunFigures> {
  const dataDir = mkdtempSync(join(tmpdir(), 'bench-subscriptions-data-'));
  const prefix = `bench-subscriptions-${randomUUID()}`;
  let stack: SupergraphStack | undefined;
  const subscribers: Subscriber[] = [];
  try {
    const stackStartedAt = Date.now();
    stack = await startSupergraphStack({
      services: { ...services, databaseUrl: database.url, neo4j },
      dataDir,
      freePorts: true,
      extraEnv: { LOG_LEVEL: 'warn', EVENT_STREAM_PREFIX: prefix },
      readyTimeoutMs: 120_000,
    });
    const gatewayPid = stack.processes.find((process) => process.name === 'gateway')!.child.pid!;
    const recommendationsPid = stack.processes.find((process) => process.name === 'recommendations')!.child.pid!;
    const fileLimit = openFileLimit(gatewayPid);
    if (fileLimit < subscriberCount + 500) log(`warning: the gateway may open ${fileLimit} files at most, fewer than ${subscriberCount} sockets and its own: raise ulimit -n`);
    const wsUrl = stack.gatewayUrl.replace(/^http/, 'ws');

    const keys = await toSigningKeys(readKeyFile(join(dataDir, 'keys', 'signing-keys.json')));
    const tokenSettings = { issuer: 'movie-platform', audience: 'movie-platform-api', ttlSeconds: 3_600 };
    const tokenFor = (userId: string): Promise<string> => signAccessToken(keys, tokenSettings, { id: userId, role: 'USER' });

    const userIds = Array.from({ length: subscriberCount }, () => randomUUID());
    const latencies: number[] = [];
    let publishFailures = 0;
    /** Which round errors belong to: a cold computation failing in the priming round is not a delivery failure. */
    let phase: 'priming' | 'measured' = 'priming';
    const errorCounts = { priming: 0, measured: 0 };
    let firstError: string | null = null;
    const recordError = (subscriber: Subscriber, message: string): void => {
      subscriber.errors.push(message);
      errorCounts[phase] += 1;
      firstError ??= `${phase} round: ${message}`;
    };
    /** Opens one client and subscribes; resolves once the gateway acknowledged the connection. */
    const subscribe = async (userId: string, onReason: (subscriber: Subscriber, reason: string) => void): Promise<Subscriber> => {
      const token = await tokenFor(userId);
      let acknowledged: () => void = () => {};
      let refused: (error: Error) => void = () => {};
      const connected = new Promise<void>((resolve, reject) => {
        acknowledged = resolve;
        refused = reject;
      });
      const client = createClient({
        url: wsUrl,
        webSocketImpl: WebSocket,
        connectionParams: { authorization: `Bearer ${token}` },
        retryAttempts: 0,
        on: {
          connected: () => acknowledged(),
          closed: (event) => refused(new Error(`closed before it was acknowledged: ${JSON.stringify(event)}`)),
        },
      });
      const subscriber: Subscriber = { userId, client, seen: new Set(), highest: -1, duplicated: 0, reordered: 0, errors: [], primed: false };
      client.subscribe<{ recommendationsUpdated: { reason: string } }>(
        { query: subscription, variables: { first: recommendationsPerUpdate } },
        {
          next: (result) => {
            if (result.errors?.length) recordError(subscriber, result.errors.map((error) => error.message).join('; '));
            const reason = result.data?.recommendationsUpdated.reason;
            if (reason) onReason(subscriber, reason);
          },
          error: (error) => recordError(subscriber, error instanceof Error ? error.message : JSON.stringify(error)),
          complete: () => {},
        },
      );
      await connected;
      return subscriber;
    };
    /** Priming messages (see below) are timed apart; only `seq` messages are checked for loss and order. */
    const primingLatencies: number[] = [];
    const recordArrival = (subscriber: Subscriber, reason: string): void => {
      const priming = /^bench prime sent=([\d.]+)$/.exec(reason);
      if (priming) {
        primingLatencies.push(performance.now() - Number(priming[1]));
        subscriber.primed = true;
        return;
      }
      const match = /^bench seq=(\d+) sent=([\d.]+)$/.exec(reason);
      if (!match) return;
      const seq = Number(match[1]);
      latencies.push(performance.now() - Number(match[2]));
      if (subscriber.seen.has(seq)) subscriber.duplicated += 1;
      else if (seq < subscriber.highest) subscriber.reordered += 1;
      subscriber.seen.add(seq);
      subscriber.highest = Math.max(subscriber.highest, seq);
    };
    /**
     * Publishes `count` messages at `ratePerSecond` (each 10 ms tick sends what the elapsed time
     * calls for, so timer jitter evens out), message i to targets[i mod targets.length], then waits
     * until `arrived()` reaches `count` or nothing more arrives for 10 s. Returns the publishing time in s.
     */
    const publishRound = async (targets: readonly string[], count: number, reasonOf: (index: number) => string, arrived: () => number): Promise<number> => {
      const started = performance.now();
      let sent = 0;
      while (sent < count) {
        const due = Math.min(count, Math.floor(((performance.now() - started) / 1000) * ratePerSecond) + 1);
        for (; sent < due; sent += 1) {
          const userId = targets[sent % targets.length]!;
          publishLive(redis, { kind: 'recommendations-updated', userId, reason: reasonOf(sent), at: new Date().toISOString() }, prefix).catch(() => {
            publishFailures += 1;
          });
        }
        await delay(10);
      }
      const publishSeconds = (performance.now() - started) / 1000;
      let lastCount = -1;
      let quietSince = performance.now();
      while (arrived() < count && performance.now() - quietSince < 10_000) {
        if (arrived() !== lastCount) {
          lastCount = arrived();
          quietSince = performance.now();
        }
        await delay(100);
      }
      return publishSeconds;
    };
    /** Resolves once the recommendations subgraph listens on every channel (the path is then complete). */
    const allListening = async (userIds: string[], timeoutMs: number): Promise<void> => {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        let missing = 0;
        for (let index = 0; index < userIds.length; index += 1_000) {
          const counts = (await redis.call('PUBSUB', 'NUMSUB', ...userIds.slice(index, index + 1_000).map((id) => liveChannelFor(id, prefix)))) as (string | number)[];
          for (let at = 1; at < counts.length; at += 2) if (Number(counts[at]) < 1) missing += 1;
        }
        if (missing === 0) return;
        if (Date.now() > deadline) throw new Error(`${missing} of ${userIds.length} subscriptions never reached the recommendations subgraph`);
        await delay(200);
      }
    };

    // See the top of this file. Without automatic builds no model ever becomes active: then go on after the timeout.
    const modelWaitStarted = performance.now();
    {
      const adminToken = await signAccessToken(keys, tokenSettings, { id: randomUUID(), role: 'ADMIN' });
      const generationKey = cacheKeys(prefix).generation;
      const deadline = Date.now() + 300_000;
      let sawBuild = false;
      for (;;) {
        const response = await fetch(stack.gatewayUrl, {
          method: 'POST',
          headers: { 'content-type': 'application/json', authorization: `Bearer ${adminToken}` },
          body: JSON.stringify({ query: '{ recommendationModel { active builtAt } recommendationModels(first: 1) { status } }' }),
        });
        const body = (await response.json()) as { data?: { recommendationModel: { active: boolean; builtAt: string | null } | null; recommendationModels: { status: string }[] } | null };
        const active = body.data?.recommendationModel;
        const building = body.data?.recommendationModels[0]?.status === 'BUILDING';
        // Built by this stack, even if faster than one poll: its invalidation may still be coming.
        sawBuild ||= building || (active?.builtAt !== null && active?.builtAt !== undefined && Date.parse(active.builtAt) >= stackStartedAt);
        const settled = active?.active === true && !building && (!sawBuild || (await redis.get(generationKey)) !== null);
        if (settled) break;
        if (Date.now() > deadline) {
          log('warning: no settled recommendation model within 5 minutes; measuring anyway');
          break;
        }
        await delay(500);
      }
    }
    const modelWaitSeconds = (performance.now() - modelWaitStarted) / 1000;
    log(`recommendation model settled after ${modelWaitSeconds.toFixed(1)} s`);

    // Warm-up: one subscriber end to end (JWKS fetched, plan cached, upstream path exercised), so
    // the baseline below is a gateway that has served subscriptions before.
    {
      const userId = randomUUID();
      let arrived = false;
      const warm = await subscribe(userId, () => {
        arrived = true;
      });
      await allListening([userId], 30_000);
      await publishLive(redis, { kind: 'recommendations-updated', userId, reason: 'warm-up', at: new Date().toISOString() }, prefix);
      for (let waited = 0; !arrived && waited < 30_000; waited += 50) await delay(50);
      if (!arrived) throw new Error(`the warm-up update never arrived: ${warm.errors.join('; ') || 'no error reported'}`);
      await warm.client.dispose();
      await delay(2_000);
    }
    const rssBefore = residentBytes(gatewayPid);
    const upstreamRssBefore = residentBytes(recommendationsPid);

    // Connect every subscriber, `connectConcurrency` at a time.
    const connecting = await measuredCpu(gatewayPid, async () => {
      let next = 0;
      await Promise.all(
        Array.from({ length: connectConcurrency }, async () => {
          while (next < userIds.length) {
            const index = next++;
            subscribers[index] = await subscribe(userIds[index]!, recordArrival);
          }
        }),
      );
      await allListening(userIds, 60_000);
    });
    log(`${subscriberCount} subscribers connected in ${(connecting.wallMs / 1000).toFixed(1)} s`);

    const idle = await measuredCpu(gatewayPid, () => delay(5_000));
    const rssAfter = residentBytes(gatewayPid);
    const upstreamRssAfter = residentBytes(recommendationsPid);

    // Priming round, one message per subscriber, timed apart: in production the producer
    // publishes right after it recomputed and cached the user's list, so the subscription's
    // resolver reads the cache; these users have no cached list until their first update.
    // A subscriber whose first computation failed (a timeout under load) is primed again, up to
    // three more times, so that the measured rounds run against cached lists only.
    const primingStarted = performance.now();
    for (let attempt = 0; attempt < 4; attempt += 1) {
      const unprimed = subscribers.filter((subscriber) => !subscriber.primed).map((subscriber) => subscriber.userId);
      if (unprimed.length === 0) break;
      const arrivedBefore = primingLatencies.length;
      await publishRound(unprimed, unprimed.length, () => `bench prime sent=${performance.now().toFixed(3)}`, () => primingLatencies.length - arrivedBefore);
      log(`priming attempt ${attempt + 1}: ${primingLatencies.length - arrivedBefore} of ${unprimed.length} updates`);
    }
    const primingSeconds = (performance.now() - primingStarted) / 1000;
    const unprimedCount = subscribers.filter((subscriber) => !subscriber.primed).length;

    // Measured rounds: message i carries sequence number floor(i / N) for subscriber i mod N.
    phase = 'measured';
    const total = subscriberCount * perSubscriber;
    // CPU of the processes on the event's path, to show where an event's cost goes.
    const onPath = ['recommendations', 'movies'].map((name) => ({ name, pid: stack!.processes.find((process) => process.name === name)!.child.pid! }));
    const onPathCpuBefore = onPath.map(({ pid }) => cpuMs(pid));
    const loadBefore = loadavg()[0]!;
    // It records each whole interval between its ticks: the stall is what exceeds the interval.
    const loopResolutionMs = 10;
    const loopDelay = monitorEventLoopDelay({ resolution: loopResolutionMs });
    loopDelay.enable();
    const publishing = await measuredCpu(gatewayPid, () =>
      publishRound(userIds, total, (index) => `bench seq=${Math.floor(index / subscriberCount)} sent=${performance.now().toFixed(3)}`, () => latencies.length),
    );
    loopDelay.disable();
    const onPathCpuMs = Object.fromEntries(onPath.map(({ name, pid }, index) => [name, cpuMs(pid) - onPathCpuBefore[index]!]));
    const loadAfter = loadavg()[0]!;

    latencies.sort((a, b) => a - b);
    primingLatencies.sort((a, b) => a - b);
    // An error result carries no sequence number: count it apart, and as lost only what is neither.
    const lost = Math.max(0, total - subscribers.reduce((sum, s) => sum + s.seen.size, 0) - errorCounts.measured);
    return {
      subscribers: subscriberCount,
      connectMs: connecting.wallMs,
      connectCpuShare: connecting.cpuShare,
      idleCpuShare: idle.cpuShare,
      rssBeforeMb: rssBefore / 2 ** 20,
      rssPerConnectionKb: (rssAfter - rssBefore) / subscriberCount / 1024,
      upstreamRssPerConnectionKb: (upstreamRssAfter - upstreamRssBefore) / subscriberCount / 1024,
      primingSeconds,
      primingDelivered: primingLatencies.length,
      unprimed: unprimedCount,
      primingP50: percentile(primingLatencies, 50),
      primingP99: percentile(primingLatencies, 99),
      published: total,
      publishSeconds: publishing.result,
      delivered: latencies.length,
      latencyP50: percentile(latencies, 50),
      latencyP99: percentile(latencies, 99),
      latencyMax: latencies.at(-1) ?? Number.NaN,
      publishCpuShare: publishing.cpuShare,
      cpuMsPerEvent: publishing.cpuMs / Math.max(1, latencies.length),
      recommendationsCpuMsPerEvent: (onPathCpuMs.recommendations ?? Number.NaN) / Math.max(1, latencies.length),
      moviesCpuMsPerEvent: (onPathCpuMs.movies ?? Number.NaN) / Math.max(1, latencies.length),
      loadAverage: `${loadBefore.toFixed(1)} -> ${loadAfter.toFixed(1)}`,
      benchLoopDelayP99: Math.max(0, loopDelay.percentile(99) / 1e6 - loopResolutionMs),
      benchLoopDelayMax: Math.max(0, loopDelay.max / 1e6 - loopResolutionMs),
      modelWaitSeconds,
      lost,
      duplicated: subscribers.reduce((sum, s) => sum + s.duplicated, 0),
      reordered: subscribers.reduce((sum, s) => sum + s.reordered, 0),
      publishFailures,
      primingErrors: errorCounts.priming,
      measuredErrors: errorCounts.measured,
      firstError,
    };
  } finally {
    await Promise.all(subscribers.map((s) => s?.client.dispose()));
    await stack?.stop();
    rmSync(dataDir, { recursive: true, force: true });
  }
}

const runs: RunFigures[] = [];
try {
  for (const count of subscriberCounts) {
    log(`run with ${count} subscribers`);
    runs.push(await runWith(count));
  }
} finally {
  redis.disconnect();
  await database.drop();
  await neo4j.stop();
  rmSync(neo4jHome, { recursive: true, force: true });
  await services.stop();
}

const fixed = (value: number, digits = 1): string => (Number.isFinite(value) ? value.toFixed(digits) : 'n/a');
const percent = (share: number): string => `${fixed(share * 100, 0)} %`;
const rows: [string, (run: RunFigures) => string][] = [
  ['connect + subscribe all (wall)', (run) => `${fixed(run.connectMs / 1000)} s`],
  ['gateway CPU while connecting (of one core)', (run) => percent(run.connectCpuShare)],
  ['gateway CPU idle with N open (of one core)', (run) => percent(run.idleCpuShare)],
  ['gateway RSS before connections', (run) => `${fixed(run.rssBeforeMb, 0)} MB`],
  ['gateway RSS per connection (target <= 20 KB)', (run) => `${fixed(run.rssPerConnectionKb)} KB`],
  ['recommendations subgraph RSS per connection', (run) => `${fixed(run.upstreamRssPerConnectionKb)} KB`],
  ['priming (first update per subscriber, cold cache): delivered', (run) => `${run.primingDelivered} in ${fixed(run.primingSeconds)} s`],
  ['priming latency p50 / p99', (run) => `${fixed(run.primingP50, 0)} / ${fixed(run.primingP99, 0)} ms`],
  ['priming error results (retried) / subscribers left unprimed', (run) => `${run.primingErrors} / ${run.unprimed}`],
  ['live messages published', (run) => `${run.published} in ${fixed(run.publishSeconds)} s (${fixed(run.published / run.publishSeconds, 0)}/s)`],
  ['events delivered', (run) => String(run.delivered)],
  ['event -> client latency p50', (run) => `${fixed(run.latencyP50)} ms`],
  ['event -> client latency p99 (target <= 250 ms)', (run) => `${fixed(run.latencyP99)} ms`],
  ['event -> client latency max', (run) => `${fixed(run.latencyMax)} ms`],
  ['gateway CPU while publishing (of one core)', (run) => percent(run.publishCpuShare)],
  ['CPU per delivered event: gateway', (run) => `${fixed(run.cpuMsPerEvent, 2)} ms`],
  ['CPU per delivered event: recommendations subgraph', (run) => `${fixed(run.recommendationsCpuMsPerEvent, 2)} ms`],
  ['CPU per delivered event: movies subgraph (titles)', (run) => `${fixed(run.moviesCpuMsPerEvent, 2)} ms`],
  ['machine load average (1 min) over the measured rounds', (run) => run.loadAverage],
  ['bench process event-loop stall p99 / max (arrivals are timed on it)', (run) => `${fixed(run.benchLoopDelayP99)} / ${fixed(run.benchLoopDelayMax)} ms`],
  ['waited for a settled recommendation model before connecting', (run) => `${fixed(run.modelWaitSeconds)} s`],
  ['lost events (neither an update nor an error result)', (run) => String(run.lost)],
  ['duplicated events', (run) => String(run.duplicated)],
  ['reordered events', (run) => String(run.reordered)],
  ['failed PUBLISH commands', (run) => String(run.publishFailures)],
  ['error results, measured rounds', (run) => String(run.measuredErrors)],
];
process.stdout.write(
  `\nrecommendationsUpdated through one gateway process: graphql-ws clients, one user each, ${perSubscriber} messages per subscriber at ${ratePerSecond} messages/s ` +
    `(each update: ${recommendationsPerUpdate} recommendations, titles from the movies subgraph)\n\n` +
    `| | ${runs.map((run) => `N = ${run.subscribers}`).join(' | ')} |\n|---|${runs.map(() => '---').join('|')}|\n` +
    rows.map(([label, cell]) => `| ${label} | ${runs.map(cell).join(' | ')} |`).join('\n') +
    '\n',
);
for (const run of runs) if (run.firstError) process.stdout.write(`\nN = ${run.subscribers}: first error: ${run.firstError}\n`);
process.exit(0);
