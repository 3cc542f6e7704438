/**
 * How a zero-anchor alignment's cost grows with the pools (issue 19 asks for 8,000 × 8,000 within
 * a few minutes). Per size n: two random pools of n rows (100-d and 300-d, the shapes of GloVe and
 * word2vec; the values do not change the cost of an iteration), the null and one restart cut at
 * ITERATIONS self-learning iterations each, `patience` above that so the restart stays at the first
 * keep probability (0.1) while the null runs greedy (keep 1); with the default inductionRows and,
 * for pools larger than that, with every row in the self-learning. Prints the median time of an
 * iteration at each keep, the rest of the fit (whitening, the start's sorted profiles, each run's
 * whitened map and held-out halves), and each case's ratio to the first, all measured in this run.
 *
 *   npx tsx bench/unsupervised-scale.ts
 *   SIZES=3000,5000,8000 ITERATIONS=10 npx tsx bench/unsupervised-scale.ts
 */
import { createEngine, defaultEngineConfig } from '../src/engine/index.js'
import { alignUnsupervised, UNSUPERVISED_DEFAULTS } from '../src/fit/unsupervised.js'
import type { Matrix } from '../src/math/matrix.js'
import { randomArray } from './lib/maps.js'
import { median } from './lib/stats.js'

const SIZES = (process.env.SIZES ?? '3000,8000').split(',').map(Number)
const ITERATIONS = Number(process.env.ITERATIONS ?? 10)

/** Uniform values in [-1, 1), seeded. */
function uniform (rows: number, cols: number, seed: number): Matrix {
  return { rows, cols, data: randomArray(rows * cols, seed) }
}

/** The median iteration time; NaN when a run had fewer than two iterations to time. */
function medianOf (values: number[]): number {
  return values.length === 0 ? NaN : median(values)
}

async function main (): Promise<void> {
  const engine = await createEngine(defaultEngineConfig())
  const rows: Array<{ n: number, induction: number, greedy: number, explore: number, rest: number }> = []
  try {
    // A small fit first, so that no size pays the engine's warm-up.
    await alignUnsupervised(uniform(100, 100, 1), uniform(100, 300, 2), { ...UNSUPERVISED_DEFAULTS, restarts: 1, maxIterations: 2, seed: 0 }, engine)
    const cases = SIZES.flatMap(n => n > UNSUPERVISED_DEFAULTS.inductionRows ? [[n, UNSUPERVISED_DEFAULTS.inductionRows], [n, n]] : [[n, n]])
    for (const [n, induction] of cases) {
      const x = uniform(n, 100, n)
      const z = uniform(n, 300, n + 1)
      const ends: Array<{ restart: number, at: number }> = []
      const started = performance.now()
      await alignUnsupervised(x, z, { ...UNSUPERVISED_DEFAULTS, restarts: 1, inductionRows: induction, maxIterations: ITERATIONS, patience: ITERATIONS + 1, seed: 0, trace: step => ends.push({ restart: step.restart, at: performance.now() }) }, engine)
      const total = performance.now() - started
      const steps = (restart: number): number[] => {
        const at = ends.filter(e => e.restart === restart).map(e => e.at)
        return at.slice(1).map((t, i) => t - at[i])
      }
      const timed = [...steps(-1), ...steps(0)]
      const rest = total - timed.reduce((s, v) => s + v, 0)
      rows.push({ n, induction, greedy: medianOf(steps(-1)), explore: medianOf(steps(0)), rest })
      console.error(`  n ${n}, inductionRows ${induction}: ${steps(-1).length} + ${steps(0).length} iterations timed, ${(total / 1000).toFixed(1)} s`)
    }
  } finally {
    await engine.close()
  }
  const first = rows[0]
  console.log(`\nrandom pools, 100-d × 300-d; the null (greedy) and one restart (keep 0.1), ${ITERATIONS} iterations each; "rest": everything but the timed iterations (whitening, the start, each run's whitened map and held-out halves, the first iteration of each run)\n`)
  console.log('| rows per side | self-learning rows | iteration, keep 1 | iteration, keep 0.1 | rest | ratio to the first (keep 1 / keep 0.1 / rest) |')
  console.log('| --- | --- | --- | --- | --- | --- |')
  for (const r of rows) {
    console.log(`| ${r.n} | ${r.induction} | ${r.greedy.toFixed(0)} ms | ${r.explore.toFixed(0)} ms | ${(r.rest / 1000).toFixed(1)} s | ${(r.greedy / first.greedy).toFixed(1)} / ${(r.explore / first.explore).toFixed(1)} / ${(r.rest / first.rest).toFixed(1)} |`)
  }
}

await main()
