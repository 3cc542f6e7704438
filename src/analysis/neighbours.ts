/**
 * Unit rows and the blockwise top-k cosine neighbours: the search that similarity, CSLS and the
 * fit's scoring share (a module of its own, so csls.ts and similarity.ts need not import each other).
 */
import type { MatMul } from '../engine/types.js'
import { NORM_EPS, type Matrix } from '../math/matrix.js'

/** Similarity rows held at once by the blockwise top-k, as a count of float32 values (16 MiB). */
export const BLOCK_VALUES = 1 << 22

/**
 * Rows scaled to unit L2 norm (norms summed in float64). A row whose norm is below NORM_EPS stays
 * zero, so its cosine with anything is 0 rather than NaN.
 */
export function normalizeRows (m: Matrix): Matrix {
  const { rows, cols, data } = m
  const out = new Float32Array(rows * cols)
  for (let i = 0; i < rows; i++) {
    const start = i * cols
    let sumSquares = 0
    for (let j = 0; j < cols; j++) sumSquares += data[start + j] * data[start + j]
    const norm = Math.sqrt(sumSquares)
    if (norm < NORM_EPS) continue
    for (let j = 0; j < cols; j++) out[start + j] = data[start + j] / norm
  }
  return { rows, cols, data: out }
}

export interface NeighbourOptions {
  /** Skip index row i for query row i (queries and index are the same rows). */
  excludeSelf?: boolean
  /** Query rows per similarity block; by default as many as fit 4 Mi float32 similarities. */
  blockRows?: number
}

/**
 * For each query row, the k index rows with the largest dot product (the cosine when both sides
 * are row-normalised), best first, as a queries.rows x k array of row indices. Ties go to the
 * lower index, so the result is deterministic. Similarities are computed through mm one block of
 * query rows at a time (memory O(block x index.rows)), and each row keeps only a k-sized heap
 * instead of sorting all index rows: O(N log k) per row.
 */
export async function topNeighbours (
  queries: Matrix,
  index: Matrix,
  k: number,
  mm: MatMul,
  opts: NeighbourOptions = {}
): Promise<Int32Array> {
  const excludeSelf = opts.excludeSelf ?? false
  const n = index.rows
  const candidates = excludeSelf ? n - 1 : n
  if (queries.cols !== index.cols) {
    throw new RangeError(`queries have ${queries.cols} columns but the index has ${index.cols}`)
  }
  if (excludeSelf && queries.rows !== n) {
    throw new RangeError('excludeSelf needs the queries to be the index rows themselves')
  }
  if (!Number.isInteger(k) || k < 1 || k > candidates) {
    throw new RangeError(`k must be an integer from 1 to ${candidates} (the candidate neighbours), got ${k}`)
  }
  const blockRows = opts.blockRows ?? Math.max(1, Math.floor(BLOCK_VALUES / Math.max(n, 1)))
  if (!Number.isInteger(blockRows) || blockRows < 1) {
    throw new RangeError(`blockRows must be a positive integer, got ${blockRows}`)
  }

  const out = new Int32Array(queries.rows * k)
  // Min-heap on "goodness": the root is the worst kept neighbour, the one to evict first.
  const heapScore = new Float64Array(k)
  const heapIndex = new Int32Array(k)
  const worse = (a: number, b: number): boolean =>
    heapScore[a] < heapScore[b] || (heapScore[a] === heapScore[b] && heapIndex[a] > heapIndex[b])
  const swap = (a: number, b: number): void => {
    const score = heapScore[a]
    heapScore[a] = heapScore[b]
    heapScore[b] = score
    const index = heapIndex[a]
    heapIndex[a] = heapIndex[b]
    heapIndex[b] = index
  }
  const siftDown = (size: number): void => {
    let at = 0
    for (;;) {
      const left = 2 * at + 1
      if (left >= size) return
      const right = left + 1
      const child = right < size && worse(right, left) ? right : left
      if (!worse(child, at)) return
      swap(child, at)
      at = child
    }
  }
  const siftUp = (from: number): void => {
    let at = from
    while (at > 0) {
      const parent = (at - 1) >> 1
      if (!worse(at, parent)) return
      swap(at, parent)
      at = parent
    }
  }

  for (let start = 0; start < queries.rows; start += blockRows) {
    const end = Math.min(queries.rows, start + blockRows)
    const block = {
      rows: end - start,
      cols: queries.cols,
      data: queries.data.slice(start * queries.cols, end * queries.cols)
    }
    const sims = (await mm.matmul(block, index, { transposeB: true })).data
    for (let q = start; q < end; q++) {
      const offset = (q - start) * n
      let size = 0
      for (let j = 0; j < n; j++) {
        if (excludeSelf && j === q) continue
        const score = sims[offset + j]
        if (size < k) {
          heapScore[size] = score
          heapIndex[size] = j
          siftUp(size)
          size++
        } else if (score > heapScore[0]) {
          // j only grows, so an equal score never beats the kept (lower-index) root.
          heapScore[0] = score
          heapIndex[0] = j
          siftDown(k)
        }
      }
      // Popping the worst each time fills the row from its end: best first.
      for (let last = k - 1; last >= 0; last--) {
        out[q * k + last] = heapIndex[0]
        swap(0, last)
        siftDown(last)
      }
    }
  }
  return out
}

