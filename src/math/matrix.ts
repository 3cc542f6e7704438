/** A dense row-major float32 matrix: the one in-memory shape every module exchanges. */
export interface Matrix {
  rows: number
  cols: number
  data: Float32Array
}

/** A dense row-major float64 matrix, for fitting (normal equations, polar factors). */
export interface Matrix64 {
  rows: number
  cols: number
  data: Float64Array
}

/**
 * Rows whose norm is at most this count as zero: x / max(‖x‖, NORM_EPS) keeps them zero, never
 * NaN (torch's F.normalize default). One value for the graphs, the scaling and the references.
 */
export const NORM_EPS = 1e-12

export function matrix (rows: number, cols: number, data?: Float32Array): Matrix {
  const buf = data ?? new Float32Array(rows * cols)
  if (buf.length !== rows * cols) {
    throw new RangeError(`matrix data has ${buf.length} values, expected ${rows} x ${cols} = ${rows * cols}`)
  }
  return { rows, cols, data: buf }
}

/** Row i as a view (no copy). */
export function row (m: Matrix, i: number): Float32Array {
  return m.data.subarray(i * m.cols, (i + 1) * m.cols)
}

/** The rows at the given indices, copied into a new matrix. */
export function takeRows (m: Matrix, indices: ArrayLike<number>): Matrix {
  const out = new Float32Array(indices.length * m.cols)
  for (let k = 0; k < indices.length; k++) {
    const i = indices[k]
    out.set(m.data.subarray(i * m.cols, (i + 1) * m.cols), k * m.cols)
  }
  return { rows: indices.length, cols: m.cols, data: out }
}
