/** Deterministic test data shared by route, scale and bulk tests. */

/** Deterministic pseudo-random values in [-1, 1) (a 32-bit LCG: the same on every machine). */
export function values (n: number, seed: number): Float32Array {
  const out = new Float32Array(n)
  let s = seed >>> 0
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0
    out[i] = s / 2 ** 31 - 1
  }
  return out
}

/** A row-major matrix as JSON rows. */
export function rowsOf (data: Float32Array, cols: number): number[][] {
  const out: number[][] = []
  for (let i = 0; i < data.length; i += cols) out.push(Array.from(data.subarray(i, i + cols)))
  return out
}
