// Leading eigenpairs of a dense symmetric matrix, for the low-rank term of the EASE model
// (similarity.ts). Only the top few dozen pairs of a 1000×1000 Gram matrix are needed, so a full
// eigendecomposition (~4n³ operations, several seconds here) would be wasted: randomized subspace
// iteration (Halko, Martinsson & Tropp 2011, algorithm 4.4) costs `iterations` × n² × (k + oversampling)
// multiply-adds instead, and the Rayleigh–Ritz step on the small projected matrix is exact (Jacobi).
//
// Deterministic: the starting block comes from a fixed-seed generator, so the same matrix always
// gives the same pairs (and a rebuilt model the same edges).

import { seededRandom } from '@platform/shared/seeded-random';

export interface Eigenpairs {
  /** Eigenvalues, largest first. */
  values: Float64Array;
  /** Eigenvector t is vectors[t·n .. t·n + n) (unit length). */
  vectors: Float64Array;
}

export interface TopEigenOptions {
  /** Extra vectors carried along: the error shrinks with (λ[k + oversampling] / λ[k])^(2·iterations). */
  oversampling?: number;
  /** Multiplications by the matrix after the first. */
  iterations?: number;
  seed?: number;
}

/**
 * The `count` largest eigenvalues of the symmetric n×n matrix `matrix` (row-major; only
 * symmetric input is meaningful) and their eigenvectors. `count` is capped at n.
 */
export function topEigenpairs(matrix: Float64Array, n: number, count: number, options: TopEigenOptions = {}): Eigenpairs {
  if (!Number.isSafeInteger(n) || n < 0 || matrix.length !== n * n) throw new RangeError(`matrix must hold n×n = ${n * n} values, got ${matrix.length}`);
  if (!Number.isSafeInteger(count) || count < 0) throw new RangeError(`count must be a whole number >= 0, got ${count}`);
  const k = Math.min(count, n);
  const width = Math.min(n, k + (options.oversampling ?? 10));
  const iterations = options.iterations ?? 12;
  if (k === 0) return { values: new Float64Array(0), vectors: new Float64Array(0) };

  const random = seededRandom(options.seed ?? 0x5eed);
  let block = new Float64Array(width * n);
  for (let index = 0; index < block.length; index += 1) block[index] = random() - 0.5;
  orthonormalize(block, n, width);
  for (let iteration = 0; iteration < iterations; iteration += 1) {
    block = multiplyBlock(matrix, n, block, width);
    orthonormalize(block, n, width);
  }

  // Rayleigh–Ritz: T = Qᵀ A Q (width × width), T = Y Θ Yᵀ, eigenvectors ≈ Q Y.
  const product = multiplyBlock(matrix, n, block, width);
  const projected = new Float64Array(width * width);
  for (let a = 0; a < width; a += 1) {
    for (let b = a; b < width; b += 1) {
      const sum = dot(block, a * n, product, b * n, n);
      projected[a * width + b] = sum;
      projected[b * width + a] = sum;
    }
  }
  const small = jacobiEigen(projected, width);
  const order = Array.from({ length: width }, (_, index) => index).sort((a, b) => small.values[b]! - small.values[a]!);
  const values = new Float64Array(k);
  const vectors = new Float64Array(k * n);
  for (let t = 0; t < k; t += 1) {
    const column = order[t]!;
    values[t] = small.values[column]!;
    for (let a = 0; a < width; a += 1) {
      const coefficient = small.vectors[column * width + a]!;
      if (coefficient === 0) continue;
      for (let i = 0; i < n; i += 1) vectors[t * n + i]! += coefficient * block[a * n + i]!;
    }
  }
  return { values, vectors };
}

/**
 * Every eigenpair of a small symmetric matrix by cyclic Jacobi rotations (exact to rounding;
 * O(n³) per sweep, for the projected matrix of a few dozen rows). Unsorted.
 */
export function jacobiEigen(symmetric: Float64Array, n: number): Eigenpairs {
  const a = Float64Array.from(symmetric);
  // Rows of `rotations` end up as the eigenvectors.
  const rotations = new Float64Array(n * n);
  for (let i = 0; i < n; i += 1) rotations[i * n + i] = 1;
  for (let sweep = 0; sweep < 100; sweep += 1) {
    let offDiagonal = 0;
    let scale = 0;
    for (let p = 0; p < n; p += 1) {
      scale += a[p * n + p]! ** 2;
      for (let q = p + 1; q < n; q += 1) offDiagonal += a[p * n + q]! ** 2;
    }
    if (offDiagonal <= 1e-30 * Math.max(scale, Number.MIN_VALUE)) break;
    for (let p = 0; p < n - 1; p += 1) {
      for (let q = p + 1; q < n; q += 1) {
        const apq = a[p * n + q]!;
        if (apq === 0) continue;
        const theta = (a[q * n + q]! - a[p * n + p]!) / (2 * apq);
        const t = Math.sign(theta || 1) / (Math.abs(theta) + Math.sqrt(theta * theta + 1));
        const c = 1 / Math.sqrt(t * t + 1);
        const s = t * c;
        // A ← Jᵀ A J: columns p and q, then rows p and q; the rotations accumulate in rows.
        rotate(a, p, q, n, n, c, s);
        rotate(a, p * n, q * n, 1, n, c, s);
        rotate(rotations, p * n, q * n, 1, n, c, s);
      }
    }
  }
  const values = new Float64Array(n);
  for (let i = 0; i < n; i += 1) values[i] = a[i * n + i]!;
  return { values, vectors: rotations };
}

/** A·Q for a row-major n×n A and a block of `width` vectors of length n (stored one after another). */
function multiplyBlock(matrix: Float64Array, n: number, block: Float64Array, width: number): Float64Array<ArrayBuffer> {
  const out = new Float64Array(width * n);
  // Row by row of A: the row stays in cache while it meets every vector of the block.
  for (let i = 0; i < n; i += 1) {
    const row = i * n;
    for (let t = 0; t < width; t += 1) {
      const vector = t * n;
      out[vector + i] = dot(matrix, row, block, vector, n);
    }
  }
  return out;
}

/**
 * Modified Gram–Schmidt, twice ("twice is enough", Giraud et al. 2005): the vectors stay
 * orthonormal to rounding even when the power steps have made them nearly parallel. A vector
 * that vanishes (a rank-deficient matrix) is replaced by zeros, which contribute nothing after.
 */
function orthonormalize(block: Float64Array, n: number, width: number): void {
  for (let pass = 0; pass < 2; pass += 1) {
    for (let t = 0; t < width; t += 1) {
      const vector = t * n;
      for (let previous = 0; previous < t; previous += 1) {
        const other = previous * n;
        const overlap = dot(block, vector, block, other, n);
        for (let i = 0; i < n; i += 1) block[vector + i]! -= overlap * block[other + i]!;
      }
      const norm = Math.sqrt(dot(block, vector, block, vector, n));
      for (let i = 0; i < n; i += 1) block[vector + i] = norm > 1e-300 ? block[vector + i]! / norm : 0;
    }
  }
}

/** Σ x[xStart + i]·y[yStart + i] over `length` entries. */
function dot(x: Float64Array, xStart: number, y: Float64Array, yStart: number, length: number): number {
  let sum = 0;
  for (let i = 0; i < length; i += 1) sum += x[xStart + i]! * y[yStart + i]!;
  return sum;
}

/**
 * The plane rotation (c, s) of two lines of `matrix`, `length` entries each, `stride` apart
 * within a line: rows p and q (starts p·n and q·n, stride 1) or columns p and q (starts p and q,
 * stride n).
 */
function rotate(matrix: Float64Array, first: number, second: number, stride: number, length: number, c: number, s: number): void {
  for (let r = 0; r < length; r += 1) {
    const x = matrix[first + r * stride]!;
    const y = matrix[second + r * stride]!;
    matrix[first + r * stride] = c * x - s * y;
    matrix[second + r * stride] = s * x + c * y;
  }
}
