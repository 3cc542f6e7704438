/**
 * Choosing k well-spread anchors among the items a space holds (docs/methods.md §14): uniformly at
 * random, by farthest-point sampling, or as the items nearest to k-means centroids. fps and
 * k-means work on L2-normalised vectors (Euclidean on the unit sphere); a zero vector stays at
 * the origin, at distance 1 from every unit vector. Every strategy is reproducible from its seed.
 */
import type { MatMul } from '../engine/types.js'
import type { Matrix } from '../math/matrix.js'
import { createRng, sampleIndices, type Rng } from '../math/random.js'
import { BLOCK_VALUES, normalizeRows } from './neighbours.js'

export type AnchorStrategy = 'fps' | 'kmeans' | 'random'

export interface SelectOptions {
  k: number
  strategy: AnchorStrategy
  seed: number
  /** Lloyd iterations at most (kmeans only); default 50. */
  maxIterations?: number
  /** Stops the selection between steps when aborted. */
  signal?: AbortSignal
}

const DEFAULT_MAX_ITERATIONS = 50


/** Element operations between two yields to the event loop in the sequential O(k·N·d) loops. */
const WORK_BETWEEN_YIELDS = 1 << 24

/** A turn for the event loop; stops the selection when its signal was aborted meanwhile. */
const yieldToEventLoop = async (signal?: AbortSignal): Promise<void> => {
  await new Promise(resolve => setImmediate(resolve))
  signal?.throwIfAborted()
}

function squaredDistance (data: Float32Array, cols: number, a: number, b: number): number {
  let sum = 0
  const offsetA = a * cols
  const offsetB = b * cols
  for (let j = 0; j < cols; j++) {
    const diff = data[offsetA + j] - data[offsetB + j]
    sum += diff * diff
  }
  return sum
}

/**
 * Farthest-point sampling: the first point drawn by the seed, then each time the point whose
 * distance to its nearest chosen point is largest (ties: lowest index). A running min-distance
 * array makes each step O(N·d). Distances are computed here in float64 rather than through the
 * engine so that the picks do not depend on the engine's float32 rounding.
 */
async function farthestPoints (unit: Matrix, k: number, rng: Rng, signal?: AbortSignal): Promise<Uint32Array> {
  const { rows, cols, data } = unit
  const picked = new Uint32Array(k)
  const chosen = new Uint8Array(rows)
  const minDistance = new Float64Array(rows).fill(Infinity)
  let current = rng.int(rows)
  let work = 0
  for (let step = 0; step < k; step++) {
    picked[step] = current
    chosen[current] = 1
    if (step === k - 1) break
    let next = -1
    let farthest = -1
    for (let i = 0; i < rows; i++) {
      if (chosen[i] === 1) continue
      const distance = squaredDistance(data, cols, i, current)
      if (distance < minDistance[i]) minDistance[i] = distance
      // Strict > keeps the lowest index among equals; duplicates (distance 0) still qualify.
      if (minDistance[i] > farthest) {
        farthest = minDistance[i]
        next = i
      }
    }
    // Only NaN distances (non-finite input) leave no farthest point; stay distinct regardless.
    current = next === -1 ? chosen.indexOf(0) : next
    work += rows * cols
    if (work > WORK_BETWEEN_YIELDS) {
      work = 0
      await yieldToEventLoop(signal)
    }
  }
  return picked
}

/** Row r of m copied into row c of centroids. */
function copyRow (m: Matrix, r: number, centroids: Float32Array, c: number): void {
  centroids.set(m.data.subarray(r * m.cols, (r + 1) * m.cols), c * m.cols)
}

/**
 * k-means++ seeding: the first centre drawn uniformly, each next one drawn with probability
 * proportional to its squared distance to the nearest centre so far. When every remaining point
 * coincides with a centre (total 0), the lowest-index point not yet a centre is taken instead.
 */
async function kmeansPlusPlus (unit: Matrix, k: number, rng: Rng, signal?: AbortSignal): Promise<Float32Array> {
  const { rows, cols, data } = unit
  const centroids = new Float32Array(k * cols)
  const isCentre = new Uint8Array(rows)
  const nearest = new Float64Array(rows).fill(Infinity)
  let current = rng.int(rows)
  let work = 0
  for (let c = 0; c < k; c++) {
    copyRow(unit, current, centroids, c)
    isCentre[current] = 1
    if (c === k - 1) break
    let total = 0
    for (let i = 0; i < rows; i++) {
      const distance = isCentre[i] === 1 ? 0 : squaredDistance(data, cols, i, current)
      if (distance < nearest[i]) nearest[i] = distance
      total += nearest[i]
    }
    let next = -1
    if (total > 0) {
      const target = rng.float() * total
      let cumulative = 0
      for (let i = 0; i < rows; i++) {
        if (nearest[i] <= 0) continue
        next = i // the last positive one, should rounding leave cumulative ≤ target
        cumulative += nearest[i]
        if (cumulative > target) break
      }
    } else {
      next = isCentre.indexOf(0)
    }
    current = next
    work += rows * cols
    if (work > WORK_BETWEEN_YIELDS) {
      work = 0
      await yieldToEventLoop(signal)
    }
  }
  return centroids
}

/**
 * Assigns each row to its nearest centroid: argmin ‖u − c‖² = argmax (u·c − ½‖c‖²), the products
 * through mm in row blocks (memory O(block·k)); ties go to the lower centroid. Writes each row's
 * squared distance to its centroid into `distance` and returns how many assignments changed.
 */
async function assignToCentroids (
  unit: Matrix,
  centroids: Matrix,
  assignment: Int32Array,
  distance: Float64Array,
  mm: MatMul
): Promise<number> {
  const { rows, cols, data } = unit
  const k = centroids.rows
  const halfNorms = new Float64Array(k)
  for (let c = 0; c < k; c++) {
    let sum = 0
    for (let j = c * cols; j < (c + 1) * cols; j++) sum += centroids.data[j] * centroids.data[j]
    halfNorms[c] = sum / 2
  }
  const blockRows = Math.max(1, Math.floor(BLOCK_VALUES / Math.max(k, cols)))
  let changed = 0
  for (let start = 0; start < rows; start += blockRows) {
    const end = Math.min(rows, start + blockRows)
    const block = { rows: end - start, cols, data: data.slice(start * cols, end * cols) }
    const products = (await mm.matmul(block, centroids, { transposeB: true })).data
    for (let i = start; i < end; i++) {
      const offset = (i - start) * k
      let best = 0
      let bestScore = -Infinity
      for (let c = 0; c < k; c++) {
        const score = products[offset + c] - halfNorms[c]
        if (score > bestScore) {
          bestScore = score
          best = c
        }
      }
      if (assignment[i] !== best) {
        assignment[i] = best
        changed++
      }
      let selfNorm = 0
      for (let j = i * cols; j < (i + 1) * cols; j++) selfNorm += data[j] * data[j]
      distance[i] = Math.max(0, selfNorm - 2 * bestScore)
    }
  }
  return changed
}

/**
 * Centroids become the means of their members (sums in float64). An empty cluster is re-seeded
 * on the point farthest from its own centroid (ties: lowest index), each such point used once.
 */
function updateCentroids (
  unit: Matrix,
  assignment: Int32Array,
  distance: Float64Array,
  centroids: Matrix
): void {
  const { rows, cols, data } = unit
  const k = centroids.rows
  const sums = new Float64Array(k * cols)
  const counts = new Float64Array(k)
  for (let i = 0; i < rows; i++) {
    const c = assignment[i]
    counts[c]++
    for (let j = 0; j < cols; j++) sums[c * cols + j] += data[i * cols + j]
  }
  const reseedable = Float64Array.from(distance)
  for (let c = 0; c < k; c++) {
    if (counts[c] > 0) {
      for (let j = 0; j < cols; j++) centroids.data[c * cols + j] = sums[c * cols + j] / counts[c]
      continue
    }
    let farthest = 0
    for (let i = 1; i < rows; i++) if (reseedable[i] > reseedable[farthest]) farthest = i
    reseedable[farthest] = -Infinity
    copyRow(unit, farthest, centroids.data, c)
  }
}

export interface KmeansResult {
  /** k x d; each the mean of its members (or a re-seeded point, for a cluster left empty). */
  centroids: Matrix
  /** The centroid of each row, as of the last assignment step. */
  assignment: Int32Array
  /** Assignment steps run. */
  iterations: number
  /** The last assignment step changed nothing: assignment and centroids agree. */
  converged: boolean
}

/**
 * Euclidean k-means on the given rows: k-means++ seeding from rng, then Lloyd iterations until
 * no assignment changes or maxIterations assignment steps have run.
 */
export async function kmeans (points: Matrix, k: number, rng: Rng, maxIterations: number, mm: MatMul, signal?: AbortSignal): Promise<KmeansResult> {
  const { rows, cols } = points
  if (!Number.isInteger(k) || k < 1 || k > rows) {
    throw new RangeError(`k-means needs k from 1 to ${rows} (the number of points), got ${k}`)
  }
  const centroids: Matrix = { rows: k, cols, data: await kmeansPlusPlus(points, k, rng, signal) }
  const assignment = new Int32Array(rows).fill(-1)
  const distance = new Float64Array(rows)
  let iterations = 0
  let converged = false
  while (!converged && iterations < maxIterations) {
    iterations++
    signal?.throwIfAborted()
    converged = await assignToCentroids(points, centroids, assignment, distance, mm) === 0
    if (!converged) updateCentroids(points, assignment, distance, centroids)
  }
  return { centroids, assignment, iterations, converged }
}

/**
 * k-means on the unit vectors, then for each centroid in order the item nearest by cosine that
 * no earlier centroid took.
 */
async function kmeansAnchors (unit: Matrix, k: number, rng: Rng, maxIterations: number, mm: MatMul, signal?: AbortSignal): Promise<Uint32Array> {
  const { rows, cols } = unit
  const { centroids } = await kmeans(unit, k, rng, maxIterations, mm, signal)

  // Items are unit (or zero) vectors, so for a fixed centroid u·c ranks them as the cosine does;
  // a zero centroid scores every item 0 and the lowest unused index wins.
  const picked = new Uint32Array(k)
  const used = new Uint8Array(rows)
  const blockCentroids = Math.max(1, Math.floor(BLOCK_VALUES / rows))
  for (let start = 0; start < k; start += blockCentroids) {
    const end = Math.min(k, start + blockCentroids)
    const block = { rows: end - start, cols, data: centroids.data.slice(start * cols, end * cols) }
    const scores = (await mm.matmul(block, unit, { transposeB: true })).data
    for (let c = start; c < end; c++) {
      const offset = (c - start) * rows
      let best = -1
      let bestScore = -Infinity
      for (let i = 0; i < rows; i++) {
        if (used[i] === 1) continue
        if (scores[offset + i] > bestScore) {
          bestScore = scores[offset + i]
          best = i
        }
      }
      if (best === -1) best = used.indexOf(0) // NaN scores from non-finite input
      used[best] = 1
      picked[c] = best
    }
  }
  return picked
}

/** Row indices of k distinct anchors among the rows of `vectors`; see selectAnchors. */
export async function selectAnchorIndices (vectors: Matrix, opts: SelectOptions, mm: MatMul): Promise<Uint32Array> {
  const { k, strategy, seed } = opts
  const n = vectors.rows
  if (!Number.isInteger(k) || k < 1 || k > n) {
    throw new RangeError(`cannot select ${k} anchors from ${n} vectors: k must be an integer from 1 to ${n}`)
  }
  const maxIterations = opts.maxIterations ?? DEFAULT_MAX_ITERATIONS
  if (!Number.isInteger(maxIterations) || maxIterations < 1) {
    throw new RangeError(`maxIterations must be a positive integer, got ${maxIterations}`)
  }
  const rng = createRng(seed)
  switch (strategy) {
    case 'random':
      return sampleIndices(rng, n, k)
    case 'fps':
      return await farthestPoints(normalizeRows(vectors), k, rng, opts.signal)
    case 'kmeans':
      return await kmeansAnchors(normalizeRows(vectors), k, rng, maxIterations, mm, opts.signal)
    default:
      throw new RangeError(`unknown anchor selection strategy '${String(strategy)}'`)
  }
}

/**
 * k distinct ids among `ids` (row i of `vectors` is `ids[i]`), well spread for 'fps' and
 * 'kmeans', uniform for 'random'. The same inputs and seed always give the same ids. 'fps' and
 * 'random' are in pick order, 'kmeans' in centroid order. Throws RangeError when k is not an
 * integer from 1 to the number of rows.
 */
export async function selectAnchors (
  vectors: Matrix,
  ids: string[],
  opts: SelectOptions,
  mm: MatMul
): Promise<string[]> {
  if (ids.length !== vectors.rows) {
    throw new RangeError(`got ${ids.length} ids for ${vectors.rows} vectors`)
  }
  const indices = await selectAnchorIndices(vectors, opts, mm)
  return Array.from(indices, i => ids[i])
}
