import { describe, expect, it } from 'vitest';
import type { Viewer } from '@platform/shared';
import type { ReviewRow } from '../../src/data.ts';
import { reviewVisibleTo } from '../../src/resolvers.ts';

// Who may read a review reached by its id: a written one is public, a bare rating private.

const author = '5b0c8f1e-3f47-4d59-9c55-0d3c2f8e8a11';
const review = (comment: string | null): ReviewRow => ({
  userId: author,
  movieId: 42,
  ratingHalves: 7,
  comment,
  createdAt: new Date('2026-01-01T00:00:00Z'),
  updatedAt: new Date('2026-01-01T00:00:00Z'),
});
const viewer = (id: string, role: Viewer['role'] = 'USER'): Viewer => ({ id, role, expiresAt: 2_000_000_000 });
const stranger = viewer('0e6f2a44-1b2c-4d3e-8f90-a1b2c3d4e5f6');

describe('reviewVisibleTo', () => {
  it('shows a written review to everyone, anonymous callers included', () => {
    for (const who of [null, stranger, viewer(author), viewer(stranger.id, 'ADMIN')]) expect(reviewVisibleTo(review('Good.'), who)).toBe(true);
  });

  it('shows a bare rating to its author and admins only', () => {
    expect(reviewVisibleTo(review(null), viewer(author))).toBe(true);
    expect(reviewVisibleTo(review(null), viewer(stranger.id, 'ADMIN'))).toBe(true);
    expect(reviewVisibleTo(review(null), stranger)).toBe(false);
    expect(reviewVisibleTo(review(null), null)).toBe(false);
  });

  it('does not take another spelling of the author\'s id for the author', () => {
    expect(reviewVisibleTo(review(null), viewer(author.toUpperCase()))).toBe(false);
  });
});
