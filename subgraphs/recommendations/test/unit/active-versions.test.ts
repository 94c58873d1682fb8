import { describe, expect, it } from 'vitest';
import { activeVersions, type ActiveVersion } from '../../src/model/model-recommender.ts';

// The memo of the active model version behind similarMovies, on a clock the test moves.

function setUp(ttlMs: number) {
  const state = { now: 0, reads: 0, pointer: { version: 'v1', similarityEdges: 10 } as ActiveVersion, failing: false };
  const memo = activeVersions(
    ttlMs,
    async () => {
      state.reads += 1;
      if (state.failing) throw new Error('graph unavailable');
      return state.pointer;
    },
    () => state.now,
  );
  return { state, memo };
}

describe('activeVersions', () => {
  it('reads the pointer once per ttl and answers from memory in between', async () => {
    const { state, memo } = setUp(1_000);
    expect((await memo.current()).version).toBe('v1');
    state.pointer = { version: 'v2', similarityEdges: 10 };
    state.now = 999;
    expect((await memo.current()).version).toBe('v1');
    expect(state.reads).toBe(1);
    state.now = 1_000;
    expect((await memo.current()).version).toBe('v2');
    expect(state.reads).toBe(2);
  });

  it('shares one read between concurrent callers', async () => {
    const { state, memo } = setUp(1_000);
    const answers = await Promise.all([memo.current(), memo.current(), memo.current()]);
    expect(answers.map((answer) => answer.version)).toEqual(['v1', 'v1', 'v1']);
    expect(state.reads).toBe(1);
  });

  it('takes what other reads of the pointer saw, the newest read winning', async () => {
    const { state, memo } = setUp(60_000);
    await memo.current();
    state.now = 10;
    memo.note({ version: 'v2', similarityEdges: 20 }, 5);
    expect(await memo.current()).toEqual({ version: 'v2', similarityEdges: 20, readAt: 5 });
    // A read that started before the one it would replace is older news.
    memo.note({ version: 'v1', similarityEdges: 10 }, 3);
    expect((await memo.current()).version).toBe('v2');
    expect(state.reads).toBe(1);
  });

  it('keeps the last version read while the graph does not answer, and fails without one', async () => {
    const { state, memo } = setUp(0);
    state.failing = true;
    await expect(memo.current()).rejects.toThrow('graph unavailable');
    state.failing = false;
    expect((await memo.current()).version).toBe('v1');
    state.failing = true;
    expect((await memo.current()).version).toBe('v1');
    expect(state.reads).toBe(3);
  });

  it('peek() shows what was last read without reading', async () => {
    const { state, memo } = setUp(0);
    expect(memo.peek()).toBeNull();
    await memo.current();
    expect(memo.peek()).toMatchObject({ version: 'v1', similarityEdges: 10 });
    expect(state.reads).toBe(1);
  });

  it('with ttl 0 reads the pointer for every call', async () => {
    const { state, memo } = setUp(0);
    await memo.current();
    await memo.current();
    expect(state.reads).toBe(2);
  });
});
