import { describe, expect, it } from 'vitest';
import { seededRandom } from '@platform/shared/testing';
import { jacobiEigen, topEigenpairs } from '../../src/model/spectral.ts';

/** A symmetric n×n matrix Q diag(values) Qᵀ with a random orthonormal Q (Gram–Schmidt of random columns). */
function withSpectrum(values: readonly number[], seed: number): { matrix: Float64Array; basis: number[][] } {
  const n = values.length;
  const random = seededRandom(seed);
  const basis: number[][] = [];
  for (let t = 0; t < n; t += 1) {
    const vector = Array.from({ length: n }, () => random() - 0.5);
    for (const other of basis) {
      const dot = vector.reduce((sum, value, i) => sum + value * other[i]!, 0);
      for (let i = 0; i < n; i += 1) vector[i]! -= dot * other[i]!;
    }
    const norm = Math.hypot(...vector);
    basis.push(vector.map((value) => value / norm));
  }
  const matrix = new Float64Array(n * n);
  for (let i = 0; i < n; i += 1) for (let j = 0; j < n; j += 1) matrix[i * n + j] = values.reduce((sum, value, t) => sum + value * basis[t]![i]! * basis[t]![j]!, 0);
  return { matrix, basis };
}

const dot = (a: ArrayLike<number>, b: ArrayLike<number>): number => Array.from(a).reduce((sum, value, i) => sum + value * b[i]!, 0);

describe('jacobiEigen', () => {
  it('finds every eigenpair of a small symmetric matrix', () => {
    // [[2,1],[1,2]]: 3 with (1,1)/√2, 1 with (1,-1)/√2.
    const { values, vectors } = jacobiEigen(Float64Array.from([2, 1, 1, 2]), 2);
    const order = values[0]! > values[1]! ? [0, 1] : [1, 0];
    expect(values[order[0]!]).toBeCloseTo(3, 12);
    expect(values[order[1]!]).toBeCloseTo(1, 12);
    const top = vectors.subarray(order[0]! * 2, order[0]! * 2 + 2);
    expect(Math.abs(top[0]!)).toBeCloseTo(Math.SQRT1_2, 12);
    expect(top[0]! * top[1]!).toBeGreaterThan(0);
  });
});

describe('topEigenpairs', () => {
  it('recovers the leading eigenvalues and eigenvectors of a 120×120 matrix with a decaying spectrum', () => {
    const spectrum = Array.from({ length: 120 }, (_, t) => 100 * 0.8 ** t);
    const { matrix, basis } = withSpectrum(spectrum, 7);
    const { values, vectors } = topEigenpairs(matrix, 120, 8);
    expect(values).toHaveLength(8);
    for (let t = 0; t < 8; t += 1) {
      expect(values[t]).toBeCloseTo(spectrum[t]!, 6);
      // Same direction up to sign: |⟨v, q⟩| = 1.
      expect(Math.abs(dot(vectors.subarray(t * 120, t * 120 + 120), basis[t]!))).toBeCloseTo(1, 6);
    }
  });

  it('is deterministic, caps the count at n, and handles rank-deficient and empty input', () => {
    const { matrix } = withSpectrum([5, 3, 0, 0, 0, 0], 3);
    const first = topEigenpairs(matrix, 6, 4);
    expect(topEigenpairs(matrix, 6, 4)).toEqual(first);
    expect(Array.from(first.values).map((value) => Math.round(value * 1e9) / 1e9)).toEqual([5, 3, 0, 0]);
    expect(topEigenpairs(matrix, 6, 50).values).toHaveLength(6);
    expect(topEigenpairs(new Float64Array(0), 0, 3).values).toHaveLength(0);
    expect(() => topEigenpairs(new Float64Array(5), 2, 1)).toThrow(RangeError);
    expect(() => topEigenpairs(matrix, 6, -1)).toThrow(RangeError);
  });
});
