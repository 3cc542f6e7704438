import type { Matrix } from './matrix.js'

/** Rows with zero L2 norm, and the mean L2 norm of all rows (accumulated in float64). */
export function rowNormStats (m: Matrix): { zeroRows: number, meanNorm: number } {
  let zeroRows = 0
  let total = 0
  const { rows, cols, data } = m
  for (let i = 0; i < rows; i++) {
    let s = 0
    const base = i * cols
    for (let j = 0; j < cols; j++) s += data[base + j] * data[base + j]
    if (s === 0) zeroRows++
    total += Math.sqrt(s)
  }
  return { zeroRows, meanNorm: rows === 0 ? 0 : total / rows }
}
