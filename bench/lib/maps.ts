/** Seeded data for the throughput benches: the same on every run and in every process. */
import type { LinearMap } from '../../src/translators/map.js'
import { createRng } from '../../src/math/random.js'

export function randomArray (n: number, seed: number, scale = 1, offset = 0): Float32Array {
  const rng = createRng(seed)
  const out = new Float32Array(n)
  for (let i = 0; i < n; i++) out[i] = offset + scale * (rng.float() * 2 - 1)
  return out
}

/** A plain linear map (no scaling): what numpy's X @ R computes. */
export function benchMap (seed: number, dim = 768): LinearMap {
  return {
    sourceDim: dim,
    targetDim: dim,
    sourceMean: new Float32Array(dim),
    sourceScale: new Float32Array(dim).fill(1),
    normalizeInput: false,
    weight: { rows: dim, cols: dim, data: randomArray(dim * dim, seed, 1 / Math.sqrt(dim)) },
    bias: new Float32Array(dim),
    normalizeOutput: false,
    outputNorm: 1,
    targetScale: new Float32Array(dim).fill(1),
    targetMean: new Float32Array(dim)
  }
}

