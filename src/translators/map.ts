/**
 * The translator's map: one form for every method and scaling, its application outside the graph
 * (`applyMap`: float64 elementwise steps, float32 product through the engine, for scoring during a
 * fit) and its float64 reference (`applyMap64`, in JS), which the engine's graph and the /onnx
 * export are tested against. Both share the elementwise steps below, written once.
 */
import type { MatMul } from '../engine/types.js'
import { NORM_EPS, type Matrix } from '../math/matrix.js'

/**
 * Every translator, whatever its method and scaling, is this one map, so one ONNX graph computes
 * all of them (src/engine/ops/translate.ts `translatorGraph`), the same graph that /onnx exports:
 *
 *   x̃ = (x − sourceMean) ⊙ sourceScale           scaling (standard: scale = 1/σ; center: 1; none: mean 0, scale 1)
 *   x̃ ← x̃ / max(‖x̃‖, ε)                         when normalizeInput (l2 scaling, inverse-relative)
 *   ỹ = x̃ · weight + bias                         weight: sourceDim × targetDim (padding and crop folded in)
 *   ỹ ← outputNorm · ỹ / max(‖ỹ‖, ε)             when normalizeOutput
 *   y = ỹ ⊙ targetScale + targetMean             back into the target space
 */
export interface LinearMap {
  sourceDim: number
  targetDim: number
  sourceMean: Float32Array
  sourceScale: Float32Array
  normalizeInput: boolean
  weight: Matrix
  bias: Float32Array
  normalizeOutput: boolean
  outputNorm: number
  targetScale: Float32Array
  targetMean: Float32Array
}

/** x̃ rows: centred, scaled and (when the map says so) normalised, in float64. */
function inputRows (x: Matrix, map: LinearMap): Float64Array {
  const { rows } = x
  const dx = map.sourceDim
  const out = new Float64Array(rows * dx)
  for (let i = 0; i < rows; i++) {
    let squares = 0
    for (let j = 0; j < dx; j++) {
      const v = (x.data[i * dx + j] - map.sourceMean[j]) * map.sourceScale[j]
      out[i * dx + j] = v
      squares += v * v
    }
    if (map.normalizeInput) {
      const inverse = 1 / Math.max(Math.sqrt(squares), NORM_EPS)
      for (let j = 0; j < dx; j++) out[i * dx + j] *= inverse
    }
  }
  return out
}

/** ỹ rows (x̃·W, in place) → bias, output normalisation, target scale and mean. */
function finishRows (product: ArrayLike<number>, rows: number, map: LinearMap): Float64Array {
  const dy = map.targetDim
  const out = new Float64Array(rows * dy)
  for (let i = 0; i < rows; i++) {
    let squares = 0
    for (let j = 0; j < dy; j++) {
      const v = product[i * dy + j] + map.bias[j]
      out[i * dy + j] = v
      squares += v * v
    }
    const factor = map.normalizeOutput ? map.outputNorm / Math.max(Math.sqrt(squares), NORM_EPS) : 1
    for (let j = 0; j < dy; j++) out[i * dy + j] = out[i * dy + j] * factor * map.targetScale[j] + map.targetMean[j]
  }
  return out
}

/** The map on the rows of x; the product x̃·W runs through mm in float32. */
export async function applyMap (x: Matrix, map: LinearMap, mm: MatMul): Promise<Matrix> {
  if (x.cols !== map.sourceDim) throw new RangeError(`inputs have ${x.cols} columns, the map expects ${map.sourceDim}`)
  const scaled = { rows: x.rows, cols: map.sourceDim, data: Float32Array.from(inputRows(x, map)) }
  const product = await mm.matmul(scaled, map.weight)
  return { rows: x.rows, cols: map.targetDim, data: Float32Array.from(finishRows(product.data, x.rows, map)) }
}

/** The map on the rows of x in float64 throughout (the map's float32 parameters taken exactly). */
export function applyMap64 (x: Matrix, map: LinearMap): Float64Array {
  const dx = map.sourceDim
  const dy = map.targetDim
  const scaled = inputRows(x, map)
  const product = new Float64Array(x.rows * dy)
  for (let i = 0; i < x.rows; i++) {
    for (let k = 0; k < dx; k++) {
      const v = scaled[i * dx + k]
      if (v === 0) continue
      for (let j = 0; j < dy; j++) product[i * dy + j] += v * map.weight.data[k * dy + j]
    }
  }
  return finishRows(product, x.rows, map)
}
