/** Mean and sample standard deviation (n − 1; 0 for a single value). */
export function meanStd (values: number[]): { mean: number, std: number } {
  const n = values.length
  const mean = values.reduce((s, v) => s + v, 0) / n
  const variance = n > 1 ? values.reduce((s, v) => s + (v - mean) ** 2, 0) / (n - 1) : 0
  return { mean, std: Math.sqrt(variance) }
}

export function formatMeanStd (values: number[], digits = 4): string {
  const { mean, std } = meanStd(values)
  return `${mean.toFixed(digits)} ± ${std.toFixed(digits)}`
}

/** The middle value (the upper one of an even count). */
export function median (values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[Math.floor(sorted.length / 2)]
}
