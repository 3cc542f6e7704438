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
 * One column of a lower Cholesky factorisation in place (w: n x n, row-major, its diagonal at j
 * positive): scales column j below the pivot by 1/√w[j,j] into `column`, then subtracts the rank-one
 * Schur-complement update from the trailing lower triangle, row by row (contiguous).
 */
function eliminateColumn (w: Float64Array, n: number, j: number, column: Float64Array): void {
  const pivot = Math.sqrt(w[j * n + j])
  w[j * n + j] = pivot
  for (let i = j + 1; i < n; i++) {
    w[i * n + j] /= pivot
    column[i] = w[i * n + j]
  }
  for (let i = j + 1; i < n; i++) {
    const lij = column[i]
    if (lij === 0) continue
    const row = i * n
    for (let k = j + 1; k <= i; k++) w[row + k] -= lij * column[k]
  }
}

export interface PivotedCholesky {
  /** n x rank, lower trapezoidal in pivot order: A[perm][:, perm] ≈ L·Lᵀ. */
  factor: Matrix64
  /** perm[j] = the row of A that is pivot j. */
  perm: Int32Array
  rank: number
}

/**
 * Cholesky with diagonal pivoting (LAPACK dpstrf's rule, unblocked): at each step the largest
 * remaining Schur-complement diagonal is the pivot, and the factorisation stops when it falls to
 * `relTol` times the largest diagonal of A. For a positive semi-definite A of rank r this reveals
 * r (exactly for structural deficiency: fewer rows than columns, duplicates, constant columns).
 * Lower triangle only; n³/3 multiply-adds, one event-loop check per column.
 */
export async function pivotedCholesky (a: Matrix64, relTol: number, ticker = new Ticker()): Promise<PivotedCholesky> {
  const n = a.rows
  if (a.cols !== n) throw new RangeError(`Cholesky needs a square matrix, got ${a.rows} x ${a.cols}`)
  const w = a.data.slice()
  const perm = Int32Array.from({ length: n }, (_, i) => i)
  let maxDiagonal = 0
  for (let i = 0; i < n; i++) maxDiagonal = Math.max(maxDiagonal, w[i * n + i])
  const floor = relTol * maxDiagonal
  const column = new Float64Array(n)
  let rank = 0
  for (let j = 0; j < n; j++) {
    let p = j
    for (let i = j + 1; i < n; i++) if (w[i * n + i] > w[p * n + p]) p = i
    if (!(w[p * n + p] > floor)) break
    if (p !== j) {
      // Symmetric swap of rows and columns j and p, lower triangle only.
      const swap = (x: number, y: number): void => { const t = w[x]; w[x] = w[y]; w[y] = t }
      swap(j * n + j, p * n + p)
      for (let k = 0; k < j; k++) swap(j * n + k, p * n + k)
      for (let i = j + 1; i < p; i++) swap(i * n + j, p * n + i)
      for (let i = p + 1; i < n; i++) swap(i * n + j, i * n + p)
      const t = perm[j]; perm[j] = perm[p]; perm[p] = t
    }
    eliminateColumn(w, n, j, column)
    rank = j + 1
    await ticker.tick()
  }
  const factor = zeros64(n, rank)
  for (let i = 0; i < n; i++) {
    for (let k = 0; k < Math.min(i + 1, rank); k++) factor.data[i * rank + k] = w[i * n + k]
  }
  return { factor, perm, rank }
}

/** Plain Cholesky of a symmetric positive definite matrix: lower L with A = L·Lᵀ; throws if not SPD. */
export async function cholesky (a: Matrix64, ticker = new Ticker()): Promise<Matrix64> {
  const n = a.rows
  const w = a.data.slice()
  const column = new Float64Array(n)
  for (let j = 0; j < n; j++) {
    const d = w[j * n + j]
    if (!(d > 0)) throw new RangeError(`matrix is not positive definite (pivot ${j} is ${d})`)
    eliminateColumn(w, n, j, column)
    await ticker.tick()
  }
  for (let i = 0; i < n; i++) for (let k = i + 1; k < n; k++) w[i * n + k] = 0
  return { rows: n, cols: n, data: w }
}

/**
 * The inverse of the leading r x r block of a lower-triangular matrix (r = l.cols, l may have
 * more rows), row by row: X[i] = (e_i − Σ_{k<i} L[i,k]·X[k]) / L[i,i]. n³/6 multiply-adds.
 */
export async function lowerInverse (l: Matrix64, ticker = new Ticker()): Promise<Matrix64> {
  const r = l.cols
  const x = new Float64Array(r * r)
  for (let i = 0; i < r; i++) {
    const xi = i * r
    for (let k = 0; k < i; k++) {
      const lik = l.data[i * l.cols + k]
      if (lik === 0) continue
      const xk = k * r
      for (let j = 0; j <= k; j++) x[xi + j] -= lik * x[xk + j]
    }
    const inverse = 1 / l.data[i * l.cols + i]
    for (let j = 0; j < i; j++) x[xi + j] *= inverse
    x[xi + i] = inverse
    await ticker.tick()
  }
  return { rows: r, cols: r, data: x }
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
    const inverse = await lowerInverse(factor, ticker)
    const half = await product(engine, inverse, pb)
    px = await product(engine, inverse, half, { transposeA: true })
  } else {
    const gram = await product(engine, factor, factor, { transposeA: true })
    const rInverse = await lowerInverse(await cholesky(gram, ticker), ticker)
    const m = await product(engine, factor, rInverse, { transposeB: true })
    const z = await product(engine, m, pb, { transposeA: true })
    const z1 = await product(engine, rInverse, z, { transposeA: true })
    const z2 = await product(engine, rInverse, z1)
    px = await product(engine, m, z2)
  }
  return { x: permuteRows(px, perm, true), rank }
}
