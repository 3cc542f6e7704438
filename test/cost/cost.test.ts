import t from 'tap'
import {
  crossValidations, evaluateCost, fitConfigCost, fitCost, refineCost, selectCost, similarityCost, toEstimate, translatorBytes,
  unsupervisedCost, type FitChoice, type FitShape
} from '../../src/budget/cost.js'
import { fitPlan } from '../../src/budget/work.js'
import { fitTranslator, type Scaling } from '../../src/fit/index.js'
import { testEngine } from '../helpers/app.js'
import { values } from '../helpers/data.js'

/*
 * The cost model: how each estimate scales with each dimension (pure arithmetic), and that the
 * memory estimate is an upper bound of what real fits on the real engine take (peak RSS growth of
 * this process, engine worker included). Time is reported, not asserted: a loaded machine would
 * make any time bound flaky.
 */

const shape = (anchors: number, dx: number, dy: number, rows = anchors): FitShape => ({ anchors, dx, dy, sourceRows: rows, targetRows: rows })
const named: FitChoice = { method: 'procrustes', scaling: 'l2', holdout: 0, folds: 5 }
const ratio = (a: number, b: number): number => a / b

t.test('the fit estimate scales with the dimensions as the products do', async t => {
  // Few anchors, many dims: the dx x dy map and the polar iterations on it dominate. (Bytes of
  // the cost itself: the estimate adds a fixed BASE_BYTES.)
  const small = { ...toEstimate(fitCost(shape(4, 1024, 1024), named)), bytes: fitCost(shape(4, 1024, 1024), named).bytes }
  const large = { ...toEstimate(fitCost(shape(4, 2048, 2048), named)), bytes: fitCost(shape(4, 2048, 2048), named).bytes }
  t.ok(ratio(large.bytes, small.bytes) > 3.5 && ratio(large.bytes, small.bytes) < 4.5, `memory ×${ratio(large.bytes, small.bytes).toFixed(2)} for 2x dims (dx·dy)`)
  t.ok(ratio(large.work, small.work) > 7 && ratio(large.work, small.work) < 8.5, `work ×${ratio(large.work, small.work).toFixed(2)} for 2x dims (polar steps: d³)`)
  // Only dx doubles: the dx x dy terms double, the min(dx, dy)² Grams of the polar step do not.
  const wide = fitCost(shape(4, 2048, 1024), named)
  t.ok(ratio(wide.bytes, small.bytes) > 1.4 && ratio(wide.bytes, small.bytes) < 2, `memory ×${ratio(wide.bytes, small.bytes).toFixed(2)} for 2x dx`)
  // Many anchors, few dims: linear in the anchors (up to the confidence gallery's 16,384 rows).
  const rows = toEstimate(fitCost(shape(4000, 64, 64), named))
  const rows2 = toEstimate(fitCost(shape(8000, 64, 64), named))
  t.ok(ratio(rows2.work, rows.work) > 1.6 && ratio(rows2.work, rows.work) < 2.2, `work ×${ratio(rows2.work, rows.work).toFixed(2)} for 2x anchors`)
  t.ok(rows2.bytes > rows.bytes, 'more anchors, more memory')
})

t.test('the fit estimate counts the selection: auto, folds, the ridge search', async t => {
  t.equal(crossValidations({ method: 'auto', holdout: 0, folds: 5 }), 52, '5 methods × 4 scalings, the two ridge methods × 5 strengths')
  t.equal(crossValidations({ method: 'auto', ridge: 0.1, holdout: 0, folds: 5 }), 20)
  t.equal(crossValidations({ method: 'ridge', scaling: 'center', holdout: 0, folds: 5 }), 5)
  t.equal(crossValidations({ method: 'ridge', scaling: 'center', ridge: 0.1, holdout: 0, folds: 5 }), 0)
  t.equal(crossValidations({ holdout: 0, folds: 5 }), 5, 'the default: procrustes with its four scalings, and affine l2')
  t.equal(crossValidations({ method: 'procrustes', holdout: 0, folds: 5 }), 4, 'a named method: its four scalings')
  t.equal(crossValidations({ scaling: 'l2', holdout: 0, folds: 5 }), 0, 'a named scaling: procrustes with it')
  t.equal(crossValidations({ method: 'ridge', holdout: 0, folds: 5 }), 20, 'a ridge method naming no scaling: 4 scalings × 5 strengths')
  t.equal(crossValidations(named), 0)
  const s = shape(1000, 256, 256)
  const ms = (choice: FitChoice): number => toEstimate(fitCost(s, choice)).ms
  t.ok(ms({ method: 'auto', holdout: 0, folds: 5 }) > 50 * ms(named), 'auto costs at least 50 fits')
  t.ok(ms({ method: 'auto', holdout: 0, folds: 10 }) > 1.8 * ms({ method: 'auto', holdout: 0, folds: 5 }), 'twice the folds, about twice the work')
  t.ok(ms({ method: 'ridge', scaling: 'center', holdout: 0, folds: 5 }) > 4 * ms({ method: 'ridge', scaling: 'center', ridge: 0.1, holdout: 0, folds: 5 }), 'the ridge search costs 5 strengths × 5 folds of fits')
  const foldFit = toEstimate(fitConfigCost(800, 256, 256, 'procrustes', false)).ms
  t.ok(ms({ holdout: 0, folds: 5 }) > ms(named) + 20 * foldFit, 'the default adds 4 scalings × 5 folds of Procrustes fits')
  t.ok(ms({ ...named, holdout: 0.1 }) > ms(named), 'a holdout adds a fit')
  // Memory does not add up across sequential fits.
  const auto = toEstimate(fitCost(s, { method: 'auto', holdout: 0, folds: 5 }))
  t.ok(auto.bytes < 3 * toEstimate(fitCost(s, { method: 'linear', scaling: 'center', holdout: 0, folds: 5 })).bytes, 'auto peaks at its largest step, not the sum')
})

t.test('every method has a cost, and the polar iteration is the dear one with few anchors', async t => {
  for (const method of ['procrustes', 'linear', 'affine', 'ridge', 'inverse-relative'] as const) {
    const e = toEstimate(fitConfigCost(100, 300, 200, method, true))
    t.ok(e.bytes > 4 * 300 * 200 && e.ms > 0, `${method}: ${(e.bytes / 2 ** 20).toFixed(1)} MiB, ${e.ms.toFixed(0)} ms`)
  }
  t.ok(toEstimate(fitConfigCost(4, 1024, 1024, 'procrustes', true)).work > 10 * toEstimate(fitConfigCost(4, 1024, 1024, 'linear', true)).work)
})

t.test('the 16,384-d case of the issue is estimated in gigabytes and far beyond two minutes', async t => {
  const e = toEstimate(fitPlan(shape(4, 16384, 16384), { method: 'auto', holdout: 0.1, folds: 5 }).cost)
  t.ok(e.bytes > 8 * 2 ** 30, `${(e.bytes / 2 ** 30).toFixed(1)} GiB`)
  t.ok(e.ms > 120_000, `${(e.ms / 1000).toFixed(0)} s`)
  t.equal(translatorBytes(16384, 16384, 4), 4 * (16384 * 16384 + 6 * 16384 + 4 * 16384 + 16384 + 8))
})

t.test('refine, evaluate, similarity and select scale with their rows', async t => {
  const r1 = toEstimate(refineCost(shape(100, 64, 64, 2100), 'procrustes', { iterations: 3, k: 10 }, 0.1))
  const r2 = toEstimate(refineCost(shape(100, 64, 64, 4100), 'procrustes', { iterations: 3, k: 10 }, 0.1))
  t.ok(ratio(r2.work, r1.work) > 3 && ratio(r2.work, r1.work) < 4.5, `refine: work ×${ratio(r2.work, r1.work).toFixed(2)} for 2x unpaired rows (CSLS: rows²)`)
  const i1 = toEstimate(refineCost(shape(100, 64, 64, 2100), 'procrustes', { iterations: 6, k: 10 }, 0.1))
  t.ok(ratio(i1.work, r1.work) > 1.6, 'refine: more rounds, more work')
  const e1 = toEstimate(evaluateCost(5000, 64, 64, 5, false))
  const e2 = toEstimate(evaluateCost(10_000, 64, 64, 5, false))
  t.ok(ratio(e2.work, e1.work) > 3.5 && ratio(e2.work, e1.work) < 4.2, `evaluate: work ×${ratio(e2.work, e1.work).toFixed(2)} for 2x rows`)
  t.ok(toEstimate(evaluateCost(5000, 64, 64, 5, true)).work > e1.work, 'csls adds a search')
  const s1 = toEstimate(similarityCost(5000, 64, 64, 10))
  const s2 = toEstimate(similarityCost(10_000, 64, 64, 10))
  t.ok(ratio(s2.work, s1.work) > 3.5 && ratio(s2.work, s1.work) < 4.2, `similarity: work ×${ratio(s2.work, s1.work).toFixed(2)} for 2x rows`)
  const k1 = toEstimate(selectCost(10_000, 64, 100, 'kmeans'))
  const k2 = toEstimate(selectCost(10_000, 64, 200, 'kmeans'))
  t.ok(ratio(k2.work, k1.work) > 1.8 && ratio(k2.work, k1.work) < 2.2, `select: work ×${ratio(k2.work, k1.work).toFixed(2)} for 2x k`)
  t.ok(toEstimate(selectCost(10_000, 64, 100, 'random')).work < 1000, 'random costs nothing')
})

t.test('a zero-anchor fit: its iterations grow with inductionRows, not with the pools', async t => {
  const pools = (rows: number) => ({ sourceRows: rows, targetRows: rows, dx: 100, dy: 300 })
  const choice = (inductionRows: number) => ({ restarts: 6, initRows: 4000, inductionRows, maxIterations: 1500 })
  const bounded = toEstimate(unsupervisedCost(pools(8000), choice(4000)))
  const within = toEstimate(unsupervisedCost(pools(4000), choice(4000)))
  const whole = toEstimate(unsupervisedCost(pools(8000), choice(8000)))
  // 1,500 iterations of 4,000 × 4,000 similarities per run dominate; the 8,000-row pools add only
  // each run's final pairing (a few 8,000 × 8,000 passes).
  t.ok(ratio(bounded.work, within.work) > 1 && ratio(bounded.work, within.work) < 1.2, `8,000-row pools at 4,000 induction rows: work ×${ratio(bounded.work, within.work).toFixed(2)} of 4,000-row pools`)
  t.ok(ratio(whole.work, bounded.work) > 3, `every row of 8,000 in the self-learning: work ×${ratio(whole.work, bounded.work).toFixed(2)}`)
})

/** Peak RSS growth of this process while `work` runs, sampled between its steps. */
async function peakRssGrowth (work: () => Promise<unknown>): Promise<{ peak: number, ms: number }> {
  const before = process.memoryUsage().rss
  let peak = before
  const sampler = setInterval(() => { peak = Math.max(peak, process.memoryUsage().rss) }, 1)
  const started = performance.now()
  try {
    await work()
  } finally {
    clearInterval(sampler)
  }
  const ms = performance.now() - started
  peak = Math.max(peak, process.memoryUsage().rss)
  return { peak: peak - before, ms }
}

t.test('the memory estimate is an upper bound of real fits (peak RSS growth)', async t => {
  const engine = await testEngine(t)
  const cases: Array<{ anchors: number, dx: number, dy: number, choice: FitChoice }> = [
    { anchors: 8, dx: 768, dy: 768, choice: { method: 'procrustes', scaling: 'standard', holdout: 0, folds: 5 } },
    { anchors: 1500, dx: 384, dy: 256, choice: { method: 'linear', scaling: 'standard', holdout: 0.1, folds: 5 } },
    { anchors: 200, dx: 128, dy: 96, choice: { method: 'auto', holdout: 0.1, folds: 3 } },
    { anchors: 400, dx: 128, dy: 96, choice: { holdout: 0.1, folds: 5 } }
  ]
  for (const c of cases) {
    const x = { rows: c.anchors, cols: c.dx, data: values(c.anchors * c.dx, 3) }
    const y = { rows: c.anchors, cols: c.dy, data: values(c.anchors * c.dy, 4) }
    const opts = { method: c.choice.method, scaling: c.choice.scaling as Scaling | undefined, holdout: c.choice.holdout, folds: c.choice.folds, seed: 0 }
    // Warm: the engine's sessions and ORT's arenas exist before the measured run.
    await fitTranslator(x, y, opts, engine)
    const estimate = toEstimate(fitCost(shape(c.anchors, c.dx, c.dy), c.choice))
    const measured = await peakRssGrowth(async () => await fitTranslator(x, y, opts, engine))
    const label = `${c.choice.method ?? 'default'} ${c.anchors} x ${c.dx} → ${c.dy}`
    t.ok(measured.peak <= estimate.bytes, `${label}: peak RSS growth ${(measured.peak / 2 ** 20).toFixed(1)} MiB ≤ estimate ${(estimate.bytes / 2 ** 20).toFixed(1)} MiB`)
    t.comment(`${label}: time ${measured.ms.toFixed(0)} ms measured, ${estimate.ms.toFixed(0)} ms estimated (×${(estimate.ms / measured.ms).toFixed(1)})`)
  }
})
