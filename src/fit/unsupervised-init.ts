/**
 * The start of an alignment with no known pair: each space's own geometry, made comparable across
 * spaces (VecMap's unsupervised initialisation, Artetxe, Labaka and Agirre 2018, "A robust
 * self-learning method for fully unsupervised cross-lingual mappings of word embeddings").
 *
 * For m rows X of one space (normalised: unit, centred, unit), the similarity matrix's square root
 * (XXᵀ)^½ = X (XᵀX)^-½ Xᵀ gives each row its profile of similarities to the m others; sorting each
 * profile throws away *which* rows it is similar to and keeps *how* similar, a description that does
 * not depend on the space's basis or row order. If the two spaces are near-isometric, the same item
 * has near-equal sorted profiles in both, so the nearest sorted profile (under CSLS) is a first,
 * noisy guess of its counterpart. The guess need only be better than chance: self-learning does the
 * rest.
 *
 * Memory: two m × m float32 profile matrices and their product, m ≤ MAX_INIT_ROWS.
 */
import type { Matrix } from '../math/matrix.js'
import { Ticker } from '../math/linalg.js'
import type { FitEngine } from './fit.js'

/** Largest number of rows per side whose sorted profiles are compared (memory 3 · m² float32). */
export const MAX_INIT_ROWS = 4000

/** Rows scaled to unit length, centred (column means over the rows), and scaled to unit length again. */
export function unitCentreUnit (m: Matrix): Matrix {
  const out = new Float32Array(m.data)
  const { rows, cols } = m
  const unit = (): void => {
    for (let i = 0; i < rows; i++) {
      let s = 0
      for (let j = 0; j < cols; j++) s += out[i * cols + j] ** 2
      const norm = Math.sqrt(s)
      if (norm < 1e-12) continue
      for (let j = 0; j < cols; j++) out[i * cols + j] /= norm
    }
  }
  unit()
  const mean = new Float64Array(cols)
  for (let i = 0; i < rows; i++) for (let j = 0; j < cols; j++) mean[j] += out[i * cols + j]
  for (let j = 0; j < cols; j++) mean[j] /= Math.max(1, rows)
  for (let i = 0; i < rows; i++) for (let j = 0; j < cols; j++) out[i * cols + j] -= mean[j]
  unit()
  return { rows, cols, data: out }
}

/**
 * Eigenvalues and eigenvectors of a symmetric d × d matrix (row-major float64) by cyclic Jacobi
 * rotations: a = V diag(values) Vᵀ, the eigenvectors in V's columns.
 */
export async function symmetricEigen (a: Float64Array, d: number, ticker: Ticker): Promise<{ values: Float64Array, vectors: Float64Array }> {
  const m = Float64Array.from(a)
  const v = new Float64Array(d * d)
  for (let i = 0; i < d; i++) v[i * d + i] = 1
  for (let sweep = 0; sweep < 60; sweep++) {
    let off = 0
    let diag = 0
    for (let p = 0; p < d; p++) {
      diag += m[p * d + p] ** 2
      for (let q = p + 1; q < d; q++) off += m[p * d + q] ** 2
    }
    if (off <= 1e-24 * diag) break
    for (let p = 0; p < d - 1; p++) {
      for (let q = p + 1; q < d; q++) {
        const apq = m[p * d + q]
        if (Math.abs(apq) < 1e-300) continue
        const app = m[p * d + p]
        const aqq = m[q * d + q]
        const theta = (aqq - app) / (2 * apq)
        const t = (theta >= 0 ? 1 : -1) / (Math.abs(theta) + Math.sqrt(theta * theta + 1))
        const c = 1 / Math.sqrt(t * t + 1)
        const s = t * c
        for (let k = 0; k < d; k++) {
          const mkp = m[k * d + p]
          const mkq = m[k * d + q]
          m[k * d + p] = c * mkp - s * mkq
          m[k * d + q] = s * mkp + c * mkq
        }
        for (let k = 0; k < d; k++) {
          const mpk = m[p * d + k]
          const mqk = m[q * d + k]
          m[p * d + k] = c * mpk - s * mqk
          m[q * d + k] = s * mpk + c * mqk
        }
        for (let k = 0; k < d; k++) {
          const vkp = v[k * d + p]
          const vkq = v[k * d + q]
          v[k * d + p] = c * vkp - s * vkq
          v[k * d + q] = s * vkp + c * vkq
        }
      }
      await ticker.tick()
    }
  }
  const values = new Float64Array(d)
  for (let i = 0; i < d; i++) values[i] = m[i * d + i]
  return { values, vectors: v }
}

/**
 * V diag(f(λ)) Vᵀ for a symmetric positive semi-definite matrix's eigen-decomposition, with
 * eigenvalues below 1e-10 of the largest taken as zero (f(0) = 0: those directions carry no row).
 */
export function psdFunction (eigen: { values: Float64Array, vectors: Float64Array }, power: number): Float64Array {
  const { values, vectors: v } = eigen
  const d = values.length
  let largest = 0
  for (let i = 0; i < d; i++) largest = Math.max(largest, values[i])
  const scale = new Float64Array(d)
  for (let i = 0; i < d; i++) scale[i] = values[i] > 1e-10 * largest ? values[i] ** power : 0
  const out = new Float64Array(d * d)
  for (let i = 0; i < d; i++) {
    for (let j = i; j < d; j++) {
      let sum = 0
      for (let k = 0; k < d; k++) sum += v[i * d + k] * scale[k] * v[j * d + k]
      out[i * d + j] = sum
      out[j * d + i] = sum
    }
  }
  return out
}

/** (A)^-½ of a symmetric positive semi-definite d × d matrix (see psdFunction). */
export async function inverseSqrtPsd (a: Float64Array, d: number, ticker: Ticker): Promise<Float64Array> {
  return psdFunction(await symmetricEigen(a, d, ticker), -0.5)
}

/**
 * The sorted similarity profiles of the rows of x (already unit-centre-unit): row i of the result
 * is row i of (XXᵀ)^½ sorted ascending, then the profiles themselves normalised unit-centre-unit.
 */
export async function sortedProfiles (x: Matrix, engine: FitEngine, ticker: Ticker): Promise<Matrix> {
  const { rows, cols } = x
  const x64 = Float64Array.from(x.data)
  const gram = await engine.matmul64({ rows, cols, data: x64 }, { rows, cols, data: x64 }, { transposeA: true })
  ticker.check()
  const root = await inverseSqrtPsd(gram.data, cols, ticker)
  const whitened = await engine.matmul(x, { rows: cols, cols, data: Float32Array.from(root) })
  ticker.check()
  const sims = await engine.matmul(whitened, x, { transposeB: true })
  ticker.check()
  for (let i = 0; i < rows; i++) {
    sims.data.subarray(i * rows, (i + 1) * rows).sort()
    if ((i & 63) === 63) await ticker.tick()
  }
  return unitCentreUnit(sims)
}
