import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { repoRoot } from '@platform/shared';

// `npm run eval:recs` as a user runs it: the script in a child process over small CSV files of
// its own (MovieLens is never needed here), checking what it prints, writes and refuses.

const run = promisify(execFile);
const script = join(repoRoot, 'scripts', 'eval-recs.ts');

async function evalRecs(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run(process.execPath, [script, ...args], { cwd: repoRoot, timeout: 60_000 });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const failed = error as { code?: number; stdout?: string; stderr?: string };
    return { code: failed.code ?? -1, stdout: failed.stdout ?? '', stderr: failed.stderr ?? '' };
  }
}

/** 40 users in two taste groups over 30 movies: enough for every movie to reach both splits. */
function ratingsCsv(): string {
  const lines = ['userId,movieId,rating,timestamp'];
  for (let user = 1; user <= 40; user += 1) {
    const group = user % 2;
    for (let movie = 1; movie <= 30; movie += 1) {
      if ((movie + user) % 3 === 0) continue;
      const liked = movie % 2 === group;
      lines.push(`${user},${movie},${liked ? 4.5 : 2},${1_000_000 + user * 100 + movie}`);
    }
  }
  return `${lines.join('\n')}\n`;
}

// Every test starts the command as a process (or several): time for a loaded machine, where the
// unit default of 5 s is not enough.
describe('eval:recs', { timeout: 30_000 }, () => {
  let dir: string;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'eval-recs-'));
    await writeFile(join(dir, 'ratings.csv'), ratingsCsv());
  });

  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('splits a ratings file, trains on one part, scores the other and writes userId,movieId,rank', async () => {
    const split = await evalRecs(['--split', join(dir, 'ratings.csv'), '--seed', '42', '--out-dir', dir]);
    expect(split.code).toBe(0);
    const scored = await evalRecs(['--train', join(dir, 'train.csv'), '--test', join(dir, 'test.csv'), '--k', '5', '--out', join(dir, 'recs.csv')]);
    expect(scored.stderr).toBe('');
    expect(scored.code).toBe(0);
    expect(scored.stdout).toMatch(/^model: ease 1000 most rated movies lambda=12 /);
    expect(scored.stdout).toMatch(/\n\s*model\s+[\d.]+\s+[\d.]+/);
    expect(scored.stdout).toMatch(/\n\s*popularity\s+[\d.]+\s+[\d.]+/);
    const lines = (await readFile(join(dir, 'recs.csv'), 'utf8')).trim().split('\n');
    expect(lines[0]).toBe('userId,movieId,rank');
    expect(lines.length).toBeGreaterThan(1);
    for (const line of lines.slice(1)) expect(line).toMatch(/^\d+,\d+,[1-5]$/);
  });

  it('scores on validation splits of the training parts with --validation, leaving the test parts unused', async () => {
    const result = await evalRecs(['--movielens', dir, '--seeds', '42', '--validation', '--validation-repeats', '2', '--k', '5']);
    expect(result.code).toBe(0);
    expect(result.stdout).toContain('scored on validation splits of each training part (0.9 to training, 2 per seed: seed + 1000·r), test parts unused');
    // One row per repeat (seed 42.1, 42.2), then the mean.
    expect(result.stdout).toMatch(/\nseed 42\.1\s+model\s+[\d.]+/);
    expect(result.stdout).toMatch(/\nseed 42\.2\s+model\s+[\d.]+/);
    expect(result.stdout).toMatch(/\nmean\s+model\s+[\d.]+/);
    const onTest = await evalRecs(['--movielens', dir, '--seeds', '42', '--k', '5']);
    expect(onTest.stdout).toContain('scored on the test parts');
    // Different held-out rows, so different figures.
    const meanLine = (text: string) => text.split('\n').find((line) => /^mean\s+model/.test(line));
    expect(meanLine(result.stdout)).not.toEqual(meanLine(onTest.stdout));
  });

  // Five process starts, side by side.
  it('refuses --validation outside --movielens, its options without it, and bad model options, with one line and exit code 2', async () => {
    const [validation, dropout, ratio, withoutValidation, lowRank] = await Promise.all([
      evalRecs(['--train', join(dir, 'ratings.csv'), '--test', join(dir, 'ratings.csv'), '--validation']),
      evalRecs(['--movielens', dir, '--ease-dropout', '1']),
      evalRecs(['--movielens', dir, '--validation', '--validation-ratio', '1']),
      evalRecs(['--movielens', dir, '--validation-repeats', '3']),
      evalRecs(['--movielens', dir, '--low-rank-weight=-1']),
    ]);
    expect(validation.stderr).toMatch(/--validation.*only applies to --movielens/);
    expect(dropout.stderr).toMatch(/--ease-dropout.*\[0, 1\)/);
    expect(ratio.stderr).toMatch(/--validation-ratio.*between 0 and 1/);
    expect(withoutValidation.stderr).toMatch(/only apply with --validation/);
    expect(lowRank.stderr).toMatch(/--low-rank-weight.*>= 0/);
    for (const result of [validation, dropout, ratio, withoutValidation, lowRank]) {
      expect(result.code).toBe(2);
      expect(result.stderr.trim().split('\n')).toHaveLength(1);
    }
  });
});
