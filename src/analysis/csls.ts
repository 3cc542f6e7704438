/**
 * Cross-domain similarity local scaling (CSLS, Conneau et al. 2018, "Word translation without
 * parallel data") and the k-NN statistics it is built from. For unit rows s (translated source)
 * and t (target):
 *
 *   CSLS(s, t) = 2·cos(s, t) − r_T(s) − r_S(t)
 *   r_T(s) = mean cosine of s to its k nearest target rows
 *   r_S(t) = mean cosine of t to its k nearest source rows
 *
 * A "hub" (a target row close to everything) gets a large r_S and loses the ties it would
 * otherwise win for every query. Every similarity product goes through the engine's MatMul in
 * blocks of query rows (topNeighbours), so memory stays O(block × pool), never pool × pool.
 *
 * Inputs are expected row-normalised (normalizeRows); a zero row has cosine 0 with everything.
 */
import type { MatMul } from '../engine/types.js'
import type { Matrix } from '../math/matrix.js'
import { topNeighbours } from './similarity.js'

/** CSLS neighbourhood size when none is given (MUSE's default). */
export const CSLS_K = 10

function dotRows (a: Matrix, i: number, b: Matrix, j: number): number {
  const d = a.cols
  let dot = 0
  for (let c = 0; c < d; c++) dot += a.data[i * d + c] * b.data[j * d + c]
  return dot
}

/**
 * For each query row, the mean cosine to its k nearest index rows (float64 sums of the kept
 * neighbours' dot products). `excludeSelf`: queries are the index rows themselves and a row is
 * not its own neighbour (leave-one-out). k is clamped to the candidates available.
 */
export async function meanTopSimilarity (queries: Matrix, index: Matrix, k: number, mm: MatMul, opts: { excludeSelf?: boolean, blockRows?: number } = {}): Promise<Float64Array> {
  const out = new Float64Array(queries.rows)
  const candidates = index.rows - (opts.excludeSelf === true ? 1 : 0)
  const kk = Math.min(k, candidates)
  if (queries.rows === 0 || kk < 1) return out
  const nearest = await topNeighbours(queries, index, kk, mm, opts)
  for (let i = 0; i < queries.rows; i++) {
    let sum = 0
    for (let m = 0; m < kk; m++) sum += dotRows(queries, i, index, nearest[i * kk + m])
    out[i] = sum / kk
  }
  return out
}

/**
 * Rows with one extra column: `queries` get 1, `index` row j gets −penalty[j]/2, so the dot product
 * of the two is cos − penalty/2, which ranks index rows exactly as 2·cos − penalty does. That lets
 * the engine's blockwise top-k rank by CSLS without a new graph.
 */
function withColumn (m: Matrix, value: (i: number) => number): Matrix {
  const cols = m.cols + 1
  const data = new Float32Array(m.rows * cols)
  for (let i = 0; i < m.rows; i++) {
    data.set(m.data.subarray(i * m.cols, (i + 1) * m.cols), i * cols)
    data[i * cols + m.cols] = value(i)
  }
  return { rows: m.rows, cols, data }
}

/**
 * The k-NN radii of both sides: rTarget[i] = r_T(source row i), rSource[j] = r_S(target row j).
 */
export async function cslsRadii (source: Matrix, target: Matrix, k: number, mm: MatMul, opts: { blockRows?: number } = {}): Promise<{ rTarget: Float64Array, rSource: Float64Array }> {
  checkK(k)
  const rTarget = await meanTopSimilarity(source, target, k, mm, opts)
  const rSource = await meanTopSimilarity(target, source, k, mm, opts)
  return { rTarget, rSource }
}

function checkK (k: number): void {
  if (!Number.isInteger(k) || k < 1) throw new RangeError(`CSLS k must be a positive integer, got ${k}`)
}

/**
 * For each query row, the `top` index rows ranked by CSLS (best first), as queries.rows × top
 * indices; `penalty[j]` is r of index row j (the query's own radius does not change its ranking).
 */
export async function cslsTopNeighbours (queries: Matrix, index: Matrix, penalty: Float64Array, top: number, mm: MatMul, opts: { blockRows?: number } = {}): Promise<Int32Array> {
  if (penalty.length !== index.rows) throw new RangeError(`penalty has ${penalty.length} values for ${index.rows} index rows`)
  return await topNeighbours(withColumn(queries, () => 1), withColumn(index, j => -penalty[j] / 2), top, mm, opts)
}

/** CSLS of source row i and target row j, in float64 from the float32 unit rows. */
export function cslsScore (source: Matrix, i: number, target: Matrix, j: number, rTarget: Float64Array, rSource: Float64Array): number {
  return 2 * dotRows(source, i, target, j) - rTarget[i] - rSource[j]
}

export interface MutualPairs {
  /** Source row of each pair, ascending. */
  source: Int32Array
  /** Target row of each pair. */
  target: Int32Array
  /** CSLS of each pair. */
  score: Float64Array
  /** Mean CSLS over the pairs (0 when there are none): MUSE's unsupervised model-selection criterion. */
  meanScore: number
}

/**
 * Pairs (i, j) where target j is source i's best match under CSLS and source i is target j's:
 * the confident matches self-learning refits on. Two blockwise passes for the radii and two for
 * the best matches; nothing pool × pool is held.
 */
export async function mutualNearestCsls (source: Matrix, target: Matrix, k: number, mm: MatMul, opts: { blockRows?: number } = {}): Promise<MutualPairs> {
  checkK(k)
  if (source.cols !== target.cols) throw new RangeError(`source rows have ${source.cols} columns, target rows ${target.cols}`)
  if (source.rows === 0 || target.rows === 0) return { source: new Int32Array(0), target: new Int32Array(0), score: new Float64Array(0), meanScore: 0 }
  const { rTarget, rSource } = await cslsRadii(source, target, k, mm, opts)
  const forward = await cslsTopNeighbours(source, target, rSource, 1, mm, opts)
  const backward = await cslsTopNeighbours(target, source, rTarget, 1, mm, opts)
  const s: number[] = []
  const t: number[] = []
  const scores: number[] = []
  let sum = 0
  for (let i = 0; i < source.rows; i++) {
    const j = forward[i]
    if (backward[j] !== i) continue
    const score = cslsScore(source, i, target, j, rTarget, rSource)
    s.push(i)
    t.push(j)
    scores.push(score)
    sum += score
  }
  return { source: Int32Array.from(s), target: Int32Array.from(t), score: Float64Array.from(scores), meanScore: s.length === 0 ? 0 : sum / s.length }
}
