/** Assembling a LinearMap (src/translators/map.ts) from scaling statistics and a solution. */
import type { LinearMap } from '../translators/map.js'
import type { SideScaling } from './scaling.js'
import type { Solution } from './solvers.js'

export function buildMap (source: SideScaling, target: SideScaling, solution: Solution, normalize: boolean): LinearMap {
  const dx = source.mean.length
  const dy = target.mean.length
  return {
    sourceDim: dx,
    targetDim: dy,
    sourceMean: Float32Array.from(source.mean),
    sourceScale: Float32Array.from(source.std, s => 1 / s),
    normalizeInput: normalize,
    weight: { rows: dx, cols: dy, data: Float32Array.from(solution.weight.data) },
    bias: Float32Array.from(solution.bias),
    normalizeOutput: normalize,
    outputNorm: normalize ? target.meanNorm : 1,
    targetScale: Float32Array.from(target.std),
    targetMean: Float32Array.from(target.mean)
  }
}
