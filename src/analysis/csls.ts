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
 * blocks of query rows, so memory stays O(block × pool), never pool × pool.
 *
 * Inputs are expected row-normalised (normalizeRows); a zero row has cosine 0 with everything.
 */
import type { MatMul } from '../engine/types.js'
import type { Matrix } from '../math/matrix.js'
import { topNeighbours } from './neighbours.js'

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
 * Similarity values per block of the mutual-pairs passes (4 MiB of float32): each block is
 * scanned in JS in one go, so smaller blocks keep the event loop free (~10 ms per block).
 */
const BLOCK_VALUES = 1 << 20

/**
 * Both directions of one product, block by block: `visit(block, start, end)` sees the similarity
 * rows of source rows start..end−1 against every target row. Memory O(block × targets).
 */
async function forEachBlock (source: Matrix, target: Matrix, mm: MatMul, blockRows: number | undefined, visit: (sims: Float32Array, start: number, end: number) => void): Promise<void> {
  const rows = blockRows ?? Math.max(1, Math.floor(BLOCK_VALUES / Math.max(1, target.rows)))
  if (!Number.isInteger(rows) || rows < 1) throw new RangeError(`blockRows must be a positive integer, got ${rows}`)
  for (let start = 0; start < source.rows; start += rows) {
    const end = Math.min(source.rows, start + rows)
    const block = { rows: end - start, cols: source.cols, data: source.data.subarray(start * source.cols, end * source.cols) }
    visit((await mm.matmul(block, target, { transposeB: true })).data, start, end)
  }
}

/**
 * k largest values per slot, unordered, with the position of each slot's smallest kept value.
 * `floor[slot]` is what a value must exceed to be kept (−∞ until the slot holds k): hot loops test
 * it inline and call `add` only for the few values that pass.
 */
export class TopValues {
  readonly values: Float64Array
  readonly size: Int32Array
  readonly minAt: Int32Array
  readonly floor: Float64Array
  constructor (slots: number, readonly k: number) {
    this.values = new Float64Array(slots * k)
    this.size = new Int32Array(slots)
    this.minAt = new Int32Array(slots)
    this.floor = new Float64Array(slots).fill(-Infinity)
  }

  add (slot: number, v: number): void {
    const base = slot * this.k
    const size = this.size[slot]
    if (size < this.k) {
      this.values[base + size] = v
      this.size[slot] = size + 1
      if (size === 0 || v < this.values[base + this.minAt[slot]]) this.minAt[slot] = size
      if (size + 1 === this.k) this.floor[slot] = this.values[base + this.minAt[slot]]
      return
    }
    if (v <= this.floor[slot]) return
    this.values[base + this.minAt[slot]] = v
    let m = 0
    for (let i = 1; i < this.k; i++) if (this.values[base + i] < this.values[base + m]) m = i
    this.minAt[slot] = m
    this.floor[slot] = this.values[base + m]
  }

  /** The largest value kept in a slot (−∞ when empty). */
  max (slot: number): number {
    let best = -Infinity
    for (let i = 0; i < this.size[slot]; i++) best = Math.max(best, this.values[slot * this.k + i])
    return best
  }

  private mean (slot: number): number {
    const size = this.size[slot]
    let sum = 0
    for (let i = 0; i < size; i++) sum += this.values[slot * this.k + i]
    return size === 0 ? 0 : sum / size
  }

  /** Every slot's mean. */
  means (): Float64Array {
    return Float64Array.from({ length: this.size.length }, (_, slot) => this.mean(slot))
  }
}

/**
 * One block of similarity rows (rows start..end−1 against every column) into each row's and each
 * column's k largest values: the scan behind both sides' k-NN radii.
 */
export function addBlockToTops (sims: Float32Array, start: number, end: number, rowTop: TopValues, colTop: TopValues): void {
  const cols = colTop.size.length
  const rowFloor = rowTop.floor
  const colFloor = colTop.floor
  for (let i = start; i < end; i++) {
    const offset = (i - start) * cols
    let floor = rowFloor[i]
    for (let j = 0; j < cols; j++) {
      const v = sims[offset + j]
      if (v > floor) { rowTop.add(i, v); floor = rowFloor[i] }
      if (v > colFloor[j]) colTop.add(j, v)
    }
  }
}

/**
 * Pairs (i, j) where target j is source i's best match under CSLS and source i is target j's:
 * the confident matches self-learning refits on. Two blockwise passes over source × target: the
 * first keeps each row's and each column's k largest cosines (the radii), the second each row's
 * and each column's best CSLS; nothing pool × pool is held. Ties go to the lower index.
 */
export async function mutualNearestCsls (source: Matrix, target: Matrix, k: number, mm: MatMul, opts: { blockRows?: number } = {}): Promise<MutualPairs> {
  checkK(k)
  if (source.cols !== target.cols) throw new RangeError(`source rows have ${source.cols} columns, target rows ${target.cols}`)
  const ns = source.rows
  const nt = target.rows
  if (ns === 0 || nt === 0) return { source: new Int32Array(0), target: new Int32Array(0), score: new Float64Array(0), meanScore: 0 }
  const rowTop = new TopValues(ns, Math.min(k, nt))
  const colTop = new TopValues(nt, Math.min(k, ns))
  await forEachBlock(source, target, mm, opts.blockRows, (sims, start, end) => { addBlockToTops(sims, start, end, rowTop, colTop) })
  const rTarget = rowTop.means()
  const rSource = colTop.means()
  // CSLS − (the other side's radius) ranks the same: rows by 2c − r_S[j], columns by 2c − r_T[i].
  const rowBest = new Int32Array(ns).fill(-1)
  const rowScore = new Float64Array(ns).fill(-Infinity)
  const colBest = new Int32Array(nt).fill(-1)
  const colScore = new Float64Array(nt).fill(-Infinity)
  await forEachBlock(source, target, mm, opts.blockRows, (sims, start, end) => {
    for (let i = start; i < end; i++) {
      const offset = (i - start) * nt
      for (let j = 0; j < nt; j++) {
        const c = 2 * sims[offset + j]
        const forRow = c - rSource[j]
        if (forRow > rowScore[i]) { rowScore[i] = forRow; rowBest[i] = j }
        const forCol = c - rTarget[i]
        if (forCol > colScore[j]) { colScore[j] = forCol; colBest[j] = i }
      }
    }
  })
  const s: number[] = []
  const t: number[] = []
  const scores: number[] = []
  let sum = 0
  for (let i = 0; i < ns; i++) {
    const j = rowBest[i]
    if (colBest[j] !== i) continue
    const score = cslsScore(source, i, target, j, rTarget, rSource)
    s.push(i)
    t.push(j)
    scores.push(score)
    sum += score
  }
  return { source: Int32Array.from(s), target: Int32Array.from(t), score: Float64Array.from(scores), meanScore: s.length === 0 ? 0 : sum / s.length }
}
