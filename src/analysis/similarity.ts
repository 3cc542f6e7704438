/**
 * Similarity between two embedding spaces on the same items, and retrieval scores of a translation
 * (definitions: docs/methods.md §12 and §13). Large products go through the engine's MatMul; reductions are
 * accumulated in float64.
 */
import type { MatMul } from '../engine/types.js'
import { NORM_EPS, type Matrix } from '../math/matrix.js'
import { cslsTopNeighbours, meanTopSimilarity } from './csls.js'
import { normalizeRows, topNeighbours } from './neighbours.js'

/** The column-centred matrix, transposed (cols x rows): the layout the Gram products need. */
function centredTranspose (m: Matrix): Matrix {
  const { rows, cols, data } = m
  const means = new Float64Array(cols)
  for (let i = 0; i < rows; i++) {
    for (let j = 0; j < cols; j++) means[j] += data[i * cols + j]
  }
  for (let j = 0; j < cols; j++) means[j] /= rows
  const out = new Float32Array(rows * cols)
  for (let i = 0; i < rows; i++) {
    for (let j = 0; j < cols; j++) out[j * rows + i] = data[i * cols + j] - means[j]
  }
  return { rows: cols, cols: rows, data: out }
}

function frobeniusSquared (m: Matrix): number {
  let sum = 0
  for (let i = 0; i < m.data.length; i++) sum += m.data[i] * m.data[i]
  return sum
}

/**
 * Linear CKA of row-aligned X (N x d1) and Y (N x d2) in the feature form
 * ‖YcᵀXc‖_F² / (‖XcᵀXc‖_F · ‖YcᵀYc‖_F), Xc and Yc column-centred; the three Gram products are
 * d x d and go through mm.
 *
 * A space whose rows are all equal (or N < 2) has no variance to compare, so the ratio is 0/0:
 * that case returns 0 ("shares no structure"), never NaN, which JSON cannot carry. The result is
 * capped at 1 because rounding can push an exact 1 (e.g. CKA(X, X)) a hair above it.
 */
export async function linearCka (x: Matrix, y: Matrix, mm: MatMul): Promise<number> {
  if (x.rows !== y.rows) {
    throw new RangeError(`CKA needs row-aligned matrices, got ${x.rows} and ${y.rows} rows`)
  }
  const xt = centredTranspose(x)
  const yt = centredTranspose(y)
  const [xx, yy, yx] = await Promise.all([
    mm.matmul(xt, xt, { transposeB: true }),
    mm.matmul(yt, yt, { transposeB: true }),
    mm.matmul(yt, xt, { transposeB: true })
  ])
  const denominator = Math.sqrt(frobeniusSquared(xx)) * Math.sqrt(frobeniusSquared(yy))
  if (!(denominator > 0)) return 0
  return Math.min(1, frobeniusSquared(yx) / denominator)
}

/** Mean over rows of |A_i ∩ B_i| / |A_i ∪ B_i| for two lists of k distinct indices per row. */
function meanJaccard (a: Int32Array, b: Int32Array, k: number, indexRows: number): number {
  const rows = a.length / k
  if (rows === 0) return 0
  const seenInRow = new Int32Array(indexRows).fill(-1)
  let sum = 0
  for (let i = 0; i < rows; i++) {
    for (let m = 0; m < k; m++) seenInRow[a[i * k + m]] = i
    let shared = 0
    for (let m = 0; m < k; m++) if (seenInRow[b[i * k + m]] === i) shared++
    sum += shared / (2 * k - shared)
  }
  return sum / rows
}

/**
 * kNN Jaccard between two spaces on the same N items: for each item i, its k nearest neighbours
 * by cosine within X and within Y, i itself excluded from both (it would always be shared and
 * inflate the score), Jaccard of the two sets, averaged. k is from 1 to N − 1.
 */
export async function knnJaccard (
  x: Matrix,
  y: Matrix,
  k: number,
  mm: MatMul,
  opts: { blockRows?: number } = {}
): Promise<number> {
  if (x.rows !== y.rows) {
    throw new RangeError(`kNN Jaccard needs row-aligned matrices, got ${x.rows} and ${y.rows} rows`)
  }
  const neighbourOpts = { excludeSelf: true, blockRows: opts.blockRows }
  const nx = normalizeRows(x)
  const ny = normalizeRows(y)
  const inX = await topNeighbours(nx, nx, k, mm, neighbourOpts)
  const inY = await topNeighbours(ny, ny, k, mm, neighbourOpts)
  return meanJaccard(inX, inY, k, x.rows)
}

export interface RetrievalScores {
  /** Fraction of rows whose own target is the most similar target. */
  top1: number
  /** Fraction of rows whose own target is among the k most similar. */
  topK: number
  /** Mean of 1/rank of the own target within the top k, 0 for a miss. */
  mrr: number
  /** Mean Jaccard of the translated row's k nearest targets and the true target's k nearest targets (itself included). */
  jaccard: number
  /** Mean cosine of each translated row with its own target (0 where either is a zero row). */
  meanCosine: number
  /** Mean squared error per element. */
  mse: number
}

/**
 * How well translated rows retrieve their own targets among all target rows (row i of each is the
 * same item), by cosine: docs/methods.md §12. With `cslsK`, targets are ranked by CSLS
 * instead (csls.ts), which discounts targets close to many translated rows (hubs); top1, topK,
 * mrr and jaccard then follow that ranking, meanCosine and mse do not depend on it.
 */
export async function retrievalScores (
  translated: Matrix,
  target: Matrix,
  k: number,
  mm: MatMul,
  opts: { blockRows?: number, cslsK?: number } = {}
): Promise<RetrievalScores> {
  const { rows, cols } = target
  if (translated.rows !== rows || translated.cols !== cols) {
    throw new RangeError(`translated (${translated.rows} x ${translated.cols}) and target (${rows} x ${cols}) must have the same shape`)
  }
  const nt = normalizeRows(translated)
  const ny = normalizeRows(target)
  // With cslsK, targets are ranked by CSLS: each target's penalty is its mean cosine to its cslsK
  // nearest translated rows (the query's own radius does not change its ranking).
  const fromTranslated = opts.cslsK === undefined
    ? await topNeighbours(nt, ny, k, mm, { blockRows: opts.blockRows })
    : await cslsTopNeighbours(nt, ny, await meanTopSimilarity(ny, nt, opts.cslsK, mm, { blockRows: opts.blockRows }), k, mm, { blockRows: opts.blockRows })
  const fromTarget = await topNeighbours(ny, ny, k, mm, { blockRows: opts.blockRows })

  let hits1 = 0
  let hitsK = 0
  let reciprocalRanks = 0
  for (let i = 0; i < rows; i++) {
    for (let m = 0; m < k; m++) {
      if (fromTranslated[i * k + m] !== i) continue
      if (m === 0) hits1++
      hitsK++
      reciprocalRanks += 1 / (m + 1)
      break
    }
  }

  // Cosine and error from the raw values in float64, not from the float32 normalised copies.
  let cosineSum = 0
  let squaredError = 0
  const t = translated.data
  const y = target.data
  for (let i = 0; i < rows; i++) {
    let dot = 0
    let tt = 0
    let yy = 0
    for (let j = i * cols; j < (i + 1) * cols; j++) {
      dot += t[j] * y[j]
      tt += t[j] * t[j]
      yy += y[j] * y[j]
      squaredError += (t[j] - y[j]) * (t[j] - y[j])
    }
    cosineSum += dot / (Math.max(Math.sqrt(tt), NORM_EPS) * Math.max(Math.sqrt(yy), NORM_EPS))
  }

  return {
    top1: hits1 / rows,
    topK: hitsK / rows,
    mrr: reciprocalRanks / rows,
    jaccard: meanJaccard(fromTranslated, fromTarget, k, rows),
    meanCosine: cosineSum / rows,
    mse: cols === 0 ? 0 : squaredError / (rows * cols)
  }
}
