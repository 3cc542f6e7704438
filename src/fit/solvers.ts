/**
 * The closed-form solvers, on scaled anchors X̃ (k x dx) and Ỹ (k x dy) whose row i is the same
 * item. Each returns the weight (dx x dy) and bias (dy) of ỹ = x̃·W + b, and the numerical rank it
 * was solved from. Products run through the engine in float64; factorisations in JS (linalg.ts).
 *
 *   procrustes        W = U_r V_rᵀ of X̃ᵀỸ (polar.ts)
 *   linear            W = X̃⁺Ỹ, the minimal-norm least-squares solution
 *   affine            [W; b] least squares with a bias: W = X̃c⁺Ỹc on the centred rows,
 *                     b = ȳ − x̄·W (the bias is not penalised; equals lstsq on [X̃ 1] at full rank)
 *   ridge             W = (X̃ᵀX̃ + λI)⁻¹X̃ᵀỸ
 *   inverse-relative  W = Âxᵀ·Ây·(ÂyᵀÂy + λI)⁻¹ with Â the row-normalised anchors: the relative
 *                     projection r = x̂·Âxᵀ followed by argmin_y ‖y·Âyᵀ − r‖² + λ‖y‖² (docs/methods.md §5.5);
 *                     λ = 0 is the pseudo-inverse
 *
 * λ is relative: the ridge option times the mean eigenvalue of the Gram it regularises
 * (‖X̃‖²_F/dx for ridge, ‖Ây‖²_F/dy for inverse-relative), so one grid fits every scaling and
 * anchor count. Each Gram is formed on the smaller side (k x k when k < d, by the push-through
 * identity X̃ᵀ(X̃X̃ᵀ + λI)⁻¹ = (X̃ᵀX̃ + λI)⁻¹X̃ᵀ), so few anchors in many dimensions stay cheap.
 */
import type { FitMethod } from './types.js'
import type { Matrix64 } from '../math/linalg.js'
import { frobenius, pivotedCholesky, product, psdSolve, transpose64, zeros64, Ticker } from '../math/linalg.js'
import { polarFactor, type PolarEngine } from './polar.js'

/**
 * Gram pivots below this fraction of the largest diagonal end the factorisation: singular values
 * of the anchor matrix below ~1e-6·σ₁ count as zero for linear, affine and the pseudo-inverse.
 */
export const GRAM_TOLERANCE = 1e-12

export interface Solution {
  weight: Matrix64
  bias: Float64Array
  rank: number
}

function addDiagonal (m: Matrix64, value: number): Matrix64 {
  if (value === 0) return m
  const out = { rows: m.rows, cols: m.cols, data: m.data.slice() }
  for (let i = 0; i < m.rows; i++) out.data[i * m.cols + i] += value
  return out
}

/**
 * Products of one pair of scaled sides that several solves on them share: the cross-validated
 * ridge grid and linear reuse one Gram and cross product, inverse-relative's grid its own. Filled
 * by the first solve that needs each; the same numbers as computing them afresh.
 */
export interface SharedProducts {
  gram?: Matrix64
  cross?: Matrix64
  squaredNorm?: number
  targetGram?: Matrix64
  targetCross?: Matrix64
  targetSquaredNorm?: number
}

/** (X̃ᵀX̃ + λI)⁺X̃ᵀỸ on the cheaper side; λ absolute. */
async function leastSquares (engine: PolarEngine, xs: Matrix64, ys: Matrix64, lambda: number, ticker: Ticker, shared: SharedProducts = {}): Promise<{ weight: Matrix64, rank: number }> {
  const k = xs.rows
  if (k >= xs.cols) {
    const gram = shared.gram ??= await product(engine, xs, xs, { transposeA: true })
    const cross = shared.cross ??= await product(engine, xs, ys, { transposeA: true })
    const { x, rank } = await psdSolve(engine, addDiagonal(gram, lambda), cross, GRAM_TOLERANCE, ticker)
    return { weight: x, rank }
  }
  const gram = shared.gram ??= await product(engine, xs, xs, { transposeB: true })
  const { x, rank } = await psdSolve(engine, addDiagonal(gram, lambda), ys, GRAM_TOLERANCE, ticker)
  return { weight: await product(engine, xs, x, { transposeA: true }), rank }
}

/** Numerical rank of the rows of m (pivoted Cholesky of its smaller Gram). */
export async function numericalRank (engine: PolarEngine, m: Matrix64, ticker = new Ticker()): Promise<number> {
  const gram = m.rows < m.cols ? await product(engine, m, m, { transposeB: true }) : await product(engine, m, m, { transposeA: true })
  return (await pivotedCholesky(gram, GRAM_TOLERANCE, ticker)).rank
}

function centreRows (m: Matrix64): { centred: Matrix64, mean: Float64Array } {
  const mean = new Float64Array(m.cols)
  for (let i = 0; i < m.rows; i++) for (let j = 0; j < m.cols; j++) mean[j] += m.data[i * m.cols + j]
  for (let j = 0; j < m.cols; j++) mean[j] /= Math.max(1, m.rows)
  const out = zeros64(m.rows, m.cols)
  for (let i = 0; i < m.rows; i++) for (let j = 0; j < m.cols; j++) out.data[i * m.cols + j] = m.data[i * m.cols + j] - mean[j]
  return { centred: out, mean }
}

export interface SolveOptions {
  /** Relative ridge strength (ridge and inverse-relative; 0 = none). */
  ridge: number
  /** Compute the rank also where the solve does not reveal it (ridge); skipped inside searches. */
  needRank: boolean
}

/** `shared`: products of these same xs and ys kept from earlier solves (linear and ridge only). */
export async function solve (engine: PolarEngine, method: FitMethod, xs: Matrix64, ys: Matrix64, opts: SolveOptions, ticker = new Ticker(), shared: SharedProducts = {}): Promise<Solution> {
  const dy = ys.cols
  switch (method) {
    case 'procrustes': {
      const cross = await product(engine, xs, ys, { transposeA: true })
      ticker.check()
      const { w, rank } = await polarFactor(engine, cross, ticker.signal)
      return { weight: w, bias: new Float64Array(dy), rank }
    }
    case 'linear': {
      const { weight, rank } = await leastSquares(engine, xs, ys, 0, ticker, shared)
      return { weight, bias: new Float64Array(dy), rank }
    }
    case 'affine': {
      const x = centreRows(xs)
      const y = centreRows(ys)
      const { weight, rank } = await leastSquares(engine, x.centred, y.centred, 0, ticker)
      const bias = y.mean.slice()
      for (let i = 0; i < weight.rows; i++) {
        const xi = x.mean[i]
        if (xi === 0) continue
        for (let j = 0; j < dy; j++) bias[j] -= xi * weight.data[i * dy + j]
      }
      return { weight, bias, rank }
    }
    case 'ridge': {
      const lambda = opts.ridge * (shared.squaredNorm ??= frobenius(xs) ** 2) / Math.max(1, xs.cols)
      const { weight, rank } = await leastSquares(engine, xs, ys, lambda, ticker, shared)
      return { weight, bias: new Float64Array(dy), rank: opts.needRank && lambda > 0 ? await numericalRank(engine, xs, ticker) : rank }
    }
    case 'inverse-relative': {
      // W = Âxᵀ·Ây·(ÂyᵀÂy + λI)⁻¹ = Âxᵀ·(ÂyÂyᵀ + λI)⁻¹·Ây.
      const lambda = opts.ridge * (shared.targetSquaredNorm ??= frobenius(ys) ** 2) / Math.max(1, dy)
      let weight: Matrix64
      let rank: number
      if (ys.rows < dy) {
        const gram = shared.targetGram ??= await product(engine, ys, ys, { transposeB: true })
        const solved = await psdSolve(engine, addDiagonal(gram, lambda), ys, GRAM_TOLERANCE, ticker)
        weight = await product(engine, xs, solved.x, { transposeA: true })
        rank = solved.rank
      } else {
        const gram = shared.targetGram ??= await product(engine, ys, ys, { transposeA: true })
        const cross = shared.targetCross ??= await product(engine, ys, xs, { transposeA: true })
        const solved = await psdSolve(engine, addDiagonal(gram, lambda), cross, GRAM_TOLERANCE, ticker)
        weight = transpose64(solved.x)
        rank = solved.rank
      }
      if (opts.needRank && lambda > 0) rank = await numericalRank(engine, ys, ticker)
      return { weight, bias: new Float64Array(dy), rank }
    }
  }
}
