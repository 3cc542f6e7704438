/**
 * Anchor statistics and the scaled anchor matrices the solvers work on (docs/methods.md §3 "Scalings"):
 *   standard  x̃ = (x − μ)/σ, σ the unbiased (ddof = 1) std per dimension, σ < 10·eps → 1
 *   center    x̃ = x − μ
 *   l2        x̃ = (x − μ)/‖x − μ‖ per row; the target's mean centred norm is restored at the end
 *   none      x̃ = x
 * Statistics are taken over the rows being fitted (the training rows of a fold), in float64.
 */
import { NORM_EPS, type Matrix } from '../math/matrix.js'
import type { Matrix64 } from '../math/linalg.js'
import type { Scaling } from './types.js'

/** sklearn's _handle_zeros_in_scale: a std this small (in float64) is a constant column. */
export const STD_FLOOR = 10 * Number.EPSILON

export interface SideScaling {
  /** Subtracted first (zeros for 'none'). */
  mean: Float64Array
  /** σ per dimension for 'standard', ones otherwise. */
  std: Float64Array
  /** Rows normalised to unit length after centring and scaling. */
  normalize: boolean
  /** Mean norm of the centred (and std-scaled) rows: the l2 scaling's output norm. */
  meanNorm: number
}

export interface ScaledSide {
  scaling: SideScaling
  /** The scaled rows, float64. */
  rows: Matrix64
}

/** Statistics of the given rows of m (all rows when `rows` is undefined) and the scaled rows. */
export function scaleSide (m: Matrix, rows: ArrayLike<number> | undefined, scaling: Scaling, normalize: boolean): ScaledSide {
  const d = m.cols
  const count = rows === undefined ? m.rows : rows.length
  const index = (i: number): number => rows === undefined ? i : rows[i]
  const mean = new Float64Array(d)
  const std = new Float64Array(d).fill(1)
  if (scaling !== 'none') {
    for (let i = 0; i < count; i++) {
      const base = index(i) * d
      for (let j = 0; j < d; j++) mean[j] += m.data[base + j]
    }
    for (let j = 0; j < d; j++) mean[j] /= count
  }
  if (scaling === 'standard') {
    const sums = new Float64Array(d)
    for (let i = 0; i < count; i++) {
      const base = index(i) * d
      for (let j = 0; j < d; j++) {
        const v = m.data[base + j] - mean[j]
        sums[j] += v * v
      }
    }
    for (let j = 0; j < d; j++) {
      const s = count > 1 ? Math.sqrt(sums[j] / (count - 1)) : 0
      std[j] = s < STD_FLOOR ? 1 : s
    }
  }
  const out = new Float64Array(count * d)
  let normSum = 0
  for (let i = 0; i < count; i++) {
    const base = index(i) * d
    const row = i * d
    let squares = 0
    for (let j = 0; j < d; j++) {
      const v = (m.data[base + j] - mean[j]) / std[j]
      out[row + j] = v
      squares += v * v
    }
    const norm = Math.sqrt(squares)
    normSum += norm
    if (normalize) {
      const inverse = 1 / Math.max(norm, NORM_EPS)
      for (let j = 0; j < d; j++) out[row + j] *= inverse
    }
  }
  return {
    scaling: { mean, std, normalize, meanNorm: count === 0 ? 0 : normSum / count },
    rows: { rows: count, cols: d, data: out }
  }
}
