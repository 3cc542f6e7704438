/**
 * Float64 dense linear algebra for fitting: conversions, small products, and the factorisations
 * that stay in JS (pivoted Cholesky, triangular inverses). Large products go through the engine's
 * matmul64 (see `product`); everything here is O(n²) or an O(n³/3) factorisation that yields to
 * the event loop between columns, so a 1,024-wide factorisation never blocks it for long.
 */
import type { Matrix, Matrix64 } from './matrix.js'

export type { Matrix64 }

/** The float64 product the fitting code needs (the engine's matmul64, or a JS stand-in). */
export interface Product64 {
  matmul64: (a: Matrix64, b: Matrix64, opts?: { transposeA?: boolean, transposeB?: boolean }) => Promise<Matrix64>
}

export function zeros64 (rows: number, cols: number): Matrix64 {
  return { rows, cols, data: new Float64Array(rows * cols) }
}

export function toFloat64 (m: Matrix): Matrix64 {
  return { rows: m.rows, cols: m.cols, data: Float64Array.from(m.data) }
}

export function toFloat32 (m: Matrix64): Matrix {
  return { rows: m.rows, cols: m.cols, data: Float32Array.from(m.data) }
}

export function identity64 (n: number): Matrix64 {
  const m = zeros64(n, n)
  for (let i = 0; i < n; i++) m.data[i * n + i] = 1
  return m
}

export function transpose64 (m: Matrix64): Matrix64 {
  const out = zeros64(m.cols, m.rows)
  for (let i = 0; i < m.rows; i++) {
    for (let j = 0; j < m.cols; j++) out.data[j * m.rows + i] = m.data[i * m.cols + j]
  }
  return out
}

/** The rows at the given indices, copied. */
export function takeRows64 (m: Matrix64, indices: ArrayLike<number>): Matrix64 {
  const out = zeros64(indices.length, m.cols)
  for (let k = 0; k < indices.length; k++) out.data.set(m.data.subarray(indices[k] * m.cols, (indices[k] + 1) * m.cols), k * m.cols)
  return out
}

export function frobenius (m: { data: ArrayLike<number> }): number {
  let s = 0
  for (let i = 0; i < m.data.length; i++) s += m.data[i] * m.data[i]
  return Math.sqrt(s)
}

/**
 * Gives the event loop a turn once more than `budgetMs` passed since the last one, and stops the
 * work when `signal` is aborted (throws its reason). JS loops of the fit call `tick()` between
 * units of work of a millisecond or so; `check()` between engine calls.
 */
export class Ticker {
  private last = performance.now()
  constructor (private readonly budgetMs = 8, readonly signal?: AbortSignal) {}

  check (): void {
    this.signal?.throwIfAborted()
  }

  async tick (): Promise<void> {
    this.signal?.throwIfAborted()
    if (performance.now() - this.last < this.budgetMs) return
    await new Promise<void>(resolve => setImmediate(resolve))
    this.last = performance.now()
  }
}

/** op(a)·op(b) in JS (float64, i-k-j order); for products too small to be worth an engine call. */
export function multiply64 (a: Matrix64, b: Matrix64, opts: { transposeA?: boolean, transposeB?: boolean } = {}): Matrix64 {
  const ta = opts.transposeA === true
  const tb = opts.transposeB === true
  const m = ta ? a.cols : a.rows
  const inner = ta ? a.rows : a.cols
  const n = tb ? b.rows : b.cols
  if ((tb ? b.cols : b.rows) !== inner) throw new RangeError(`cannot multiply: inner dimensions ${inner} and ${tb ? b.cols : b.rows}`)
  const bb = tb ? transpose64(b) : b
  const out = new Float64Array(m * n)
  const ad = a.data
  const bd = bb.data
  for (let i = 0; i < m; i++) {
    const row = i * n
    for (let k = 0; k < inner; k++) {
      const v = ta ? ad[k * a.cols + i] : ad[i * a.cols + k]
      if (v === 0) continue
      const bRow = k * n
      for (let j = 0; j < n; j++) out[row + j] += v * bd[bRow + j]
    }
  }
  return { rows: m, cols: n, data: out }
}

/** Products with fewer multiply-adds than this run in JS (an engine call costs ~0.1–1 ms). */
const JS_PRODUCT_LIMIT = 2e5

/** op(a)·op(b) in float64: small ones in JS, the rest through the engine (ORT, both exact to ~1e-16). */
export async function product (engine: Product64, a: Matrix64, b: Matrix64, opts: { transposeA?: boolean, transposeB?: boolean } = {}): Promise<Matrix64> {
  const m = opts.transposeA === true ? a.cols : a.rows
  const inner = opts.transposeA === true ? a.rows : a.cols
  const n = opts.transposeB === true ? b.rows : b.cols
  if (m * inner * n <= JS_PRODUCT_LIMIT) return multiply64(a, b, opts)
  return await engine.matmul64(a, b, opts)
}

/**
 * Σ_{k<len} a[ai+k]·b[bi+k] with four partial sums: independent additions, so the loop runs at
 * the multiply-add throughput instead of waiting on one sum's latency (about twice as fast in V8).
 */
function dot (a: Float64Array, ai: number, b: Float64Array, bi: number, len: number): number {
  let s0 = 0
  let s1 = 0
  let s2 = 0
  let s3 = 0
  let k = 0
  for (; k + 3 < len; k += 4) {
    s0 += a[ai + k] * b[bi + k]
    s1 += a[ai + k + 1] * b[bi + k + 1]
    s2 += a[ai + k + 2] * b[bi + k + 2]
    s3 += a[ai + k + 3] * b[bi + k + 3]
  }
  for (; k < len; k++) s0 += a[ai + k] * b[bi + k]
  return (s0 + s1) + (s2 + s3)
}

export interface PivotedCholesky {
  /** n x rank, lower trapezoidal in pivot order: A[perm][:, perm] ≈ L·Lᵀ. */
  factor: Matrix64
  /** perm[j] = the row of A that is pivot j. */
  perm: Int32Array
  rank: number
}

/**
 * Lower Cholesky factor, column by column in the left-looking (dot-product) form: column j of L is
 * A's column j less the dot products of L's rows so far, so every inner loop reads two contiguous
 * rows of L and writes nothing (a right-looking update stores every trailing entry at every step:
 * twice the time here). `d` holds the Schur complement's diagonal, updated per column, which is
 * what pivoting compares. With `pivot`, LAPACK dpstrf's rule: the largest remaining diagonal is the
 * next pivot, and the factorisation stops when it falls to `floor`; without, a pivot ≤ 0 throws.
 * Returns L (n x n, row-major; columns past `rank` are zero), the pivot order and the rank.
 */
async function leftLookingCholesky (a: Matrix64, pivot: boolean, floor: number, ticker: Ticker): Promise<{ l: Float64Array, perm: Int32Array, rank: number }> {
  const n = a.rows
  if (a.cols !== n) throw new RangeError(`Cholesky needs a square matrix, got ${a.rows} x ${a.cols}`)
  const l = new Float64Array(n * n)
  const d = new Float64Array(n)
  const perm = Int32Array.from({ length: n }, (_, i) => i)
  for (let i = 0; i < n; i++) d[i] = a.data[i * n + i]
  let rank = 0
  for (let j = 0; j < n; j++) {
    if (pivot) {
      let p = j
      for (let i = j + 1; i < n; i++) if (d[i] > d[p]) p = i
      if (!(d[p] > floor)) break
      if (p !== j) {
        // Pivots j and p trade places: their rows of L so far, their diagonals, their A rows.
        const rj = j * n
        const rp = p * n
        for (let k = 0; k < j; k++) { const t = l[rj + k]; l[rj + k] = l[rp + k]; l[rp + k] = t }
        const t = d[j]; d[j] = d[p]; d[p] = t
        const q = perm[j]; perm[j] = perm[p]; perm[p] = q
      }
    } else if (!(d[j] > 0)) {
      throw new RangeError(`matrix is not positive definite (pivot ${j} is ${d[j]})`)
    }
    const pivotValue = Math.sqrt(d[j])
    const inverse = 1 / pivotValue
    const rj = j * n
    const pj = perm[j]
    l[rj + j] = pivotValue
    for (let i = j + 1; i < n; i++) {
      const ri = i * n
      const pi = perm[i]
      // A's lower triangle only: entry (pi, pj) or its mirror.
      const aij = pi > pj ? a.data[pi * n + pj] : a.data[pj * n + pi]
      const v = (aij - dot(l, ri, l, rj, j)) * inverse
      l[ri + j] = v
      d[i] -= v * v
    }
    rank = j + 1
    await ticker.tick()
  }
  return { l, perm, rank }
}

/**
 * Cholesky with diagonal pivoting (LAPACK dpstrf's rule, unblocked): at each step the largest
 * remaining Schur-complement diagonal is the pivot, and the factorisation stops when it falls to
 * `relTol` times the largest diagonal of A. For a positive semi-definite A of rank r this reveals
 * r (exactly for structural deficiency: fewer rows than columns, duplicates, constant columns).
 * Lower triangle only; n³/6 multiply-adds, one event-loop check per column.
 */
export async function pivotedCholesky (a: Matrix64, relTol: number, ticker = new Ticker()): Promise<PivotedCholesky> {
  const n = a.rows
  let maxDiagonal = 0
  for (let i = 0; i < Math.min(n, a.cols); i++) maxDiagonal = Math.max(maxDiagonal, a.data[i * a.cols + i])
  const { l, perm, rank } = await leftLookingCholesky(a, true, relTol * maxDiagonal, ticker)
  const factor = zeros64(n, rank)
  for (let i = 0; i < n; i++) factor.data.set(l.subarray(i * n, i * n + Math.min(i + 1, rank)), i * rank)
  return { factor, perm, rank }
}

/** Plain Cholesky of a symmetric positive definite matrix: lower L with A = L·Lᵀ; throws if not SPD. */
export async function cholesky (a: Matrix64, ticker = new Ticker()): Promise<Matrix64> {
  const n = a.rows
  const { l } = await leftLookingCholesky(a, false, 0, ticker)
  return { rows: n, cols: n, data: l }
}

/** Triangular inverses at most this wide run in JS (lowerInverse); wider ones split in halves. */
const INVERSE_BLOCK = 128

/** Rows r0..r1 and columns c0..c1 of m, copied. */
function block64 (m: Matrix64, r0: number, r1: number, c0: number, c1: number): Matrix64 {
  const out = zeros64(r1 - r0, c1 - c0)
  for (let i = r0; i < r1; i++) out.data.set(m.data.subarray(i * m.cols + c0, i * m.cols + c1), (i - r0) * (c1 - c0))
  return out
}

/**
 * The inverse of the leading r x r block of a lower-triangular matrix (r = l.cols, l may have
 * more rows). Up to INVERSE_BLOCK wide, in JS: column j of X = L⁻¹ top-down, X[j,j] = 1/L[j,j] and
 * below it X[i,j] = −(Σ_{j≤k<i} L[i,k]·X[k,j]) / L[i,i], with column j kept as row j of Xᵀ so that
 * each sum is a dot product of two contiguous rows. Wider, with `engine`, by halves:
 *   L = [L₁₁ 0; L₂₁ L₂₂]  →  L⁻¹ = [L₁₁⁻¹ 0; −L₂₂⁻¹·L₂₁·L₁₁⁻¹  L₂₂⁻¹],
 * the two products through the engine: the JS work falls from r³/6 to about r·INVERSE_BLOCK²/6
 * multiply-adds (a 512-wide inverse ran 4.6x faster, agreeing to 2e-11 relative).
 */
export async function lowerInverse (l: Matrix64, ticker = new Ticker(), engine?: Product64): Promise<Matrix64> {
  const r = l.cols
  if (engine !== undefined && r > INVERSE_BLOCK) {
    const h = r >> 1
    const x11 = await lowerInverse(block64(l, 0, h, 0, h), ticker, engine)
    const x22 = await lowerInverse(block64(l, h, r, h, r), ticker, engine)
    const x21 = await product(engine, x22, await product(engine, block64(l, h, r, 0, h), x11))
    const out = zeros64(r, r)
    for (let i = 0; i < h; i++) out.data.set(x11.data.subarray(i * h, i * h + i + 1), i * r)
    for (let i = h; i < r; i++) {
      const row = i * r
      const from = (i - h) * h
      for (let j = 0; j < h; j++) out.data[row + j] = -x21.data[from + j]
      out.data.set(x22.data.subarray((i - h) * (r - h), (i - h) * (r - h) + (i - h) + 1), row + h)
    }
    return out
  }
  const stride = l.cols
  const xt = new Float64Array(r * r)
  for (let j = 0; j < r; j++) {
    const row = j * r
    xt[row + j] = 1 / l.data[j * stride + j]
    for (let i = j + 1; i < r; i++) {
      const li = i * stride
      xt[row + i] = -dot(l.data, li + j, xt, row + j, i - j) / l.data[li + i]
    }
    await ticker.tick()
  }
  return transpose64({ rows: r, cols: r, data: xt })
}

/** Rows of m reordered: out[j] = m[perm[j]] (or back, out[perm[j]] = m[j], with inverse). */
export function permuteRows (m: Matrix64, perm: Int32Array, inverse = false): Matrix64 {
  const out = zeros64(m.rows, m.cols)
  for (let j = 0; j < perm.length; j++) {
    const [to, from] = inverse ? [perm[j], j] : [j, perm[j]]
    out.data.set(m.data.subarray(from * m.cols, (from + 1) * m.cols), to * m.cols)
  }
  return out
}

export interface PsdSolution {
  /** A⁺·B (A⁻¹·B when A has full rank). */
  x: Matrix64
  /** Numerical rank of A found by the pivoted Cholesky. */
  rank: number
}

/**
 * A⁺·B for a symmetric positive semi-definite A (n x n) and B (n x m): the minimal-norm solution
 * of A·X = B on A's range. Pivoted Cholesky reveals the rank r (pivots below relTol of A's largest
 * diagonal stop it); with P the pivot order and L (n x r) the factor, A = Pᵀ·L·Lᵀ·P, and
 *   r = n:  X = Pᵀ·L⁻ᵀ·L⁻¹·P·B
 *   r < n:  with LᵀL = R·Rᵀ and M = L·R⁻ᵀ (orthonormal columns), A⁺ = Pᵀ·M·R⁻¹R⁻ᵀ·Mᵀ·P.
 * The factorisations run in JS, the products through `engine`.
 */
export async function psdSolve (engine: Product64, a: Matrix64, b: Matrix64, relTol: number, ticker = new Ticker()): Promise<PsdSolution> {
  const n = a.rows
  if (b.rows !== n) throw new RangeError(`right-hand side has ${b.rows} rows, the matrix ${n}`)
  if (n === 0) return { x: zeros64(0, b.cols), rank: 0 }
  const { factor, perm, rank } = await pivotedCholesky(a, relTol, ticker)
  if (rank === 0) return { x: zeros64(n, b.cols), rank: 0 }
  ticker.check()
  const pb = permuteRows(b, perm)
  let px: Matrix64
  if (rank === n) {
    const inverse = await lowerInverse(factor, ticker, engine)
    const half = await product(engine, inverse, pb)
    px = await product(engine, inverse, half, { transposeA: true })
  } else {
    const gram = await product(engine, factor, factor, { transposeA: true })
    const rInverse = await lowerInverse(await cholesky(gram, ticker), ticker, engine)
    const m = await product(engine, factor, rInverse, { transposeB: true })
    const z = await product(engine, m, pb, { transposeA: true })
    const z1 = await product(engine, rInverse, z, { transposeA: true })
    const z2 = await product(engine, rInverse, z1)
    px = await product(engine, m, z2)
  }
  return { x: permuteRows(px, perm, true), rank }
}
