import t from 'tap'
import { directionFigures } from '../../src/analysis/report.js'
import { reportCost, toEstimate } from '../../src/budget/cost.js'
import { reportPlan } from '../../src/budget/work.js'
import { testEngine } from '../helpers/app.js'
import { values } from '../helpers/data.js'

/*
 * The report's estimate: how it scales with the rows and the directions (arithmetic), and that
 * its memory bounds a real run's peak RSS growth. Time is reported, not asserted.
 */

const ratio = (a: number, b: number): number => a / b

t.test('the estimate grows as the searches do: rows squared, one more direction', async t => {
  const one = (rows: number): ReturnType<typeof toEstimate> => toEstimate(reportCost(rows, [{ from: 384, to: 768, support: 1024 }]))
  const r = ratio(one(20_000).work, one(10_000).work)
  t.ok(r > 3.5 && r < 4.1, `work ×${r.toFixed(2)} for 2x rows`)
  const both = toEstimate(reportCost(10_000, [{ from: 384, to: 768, support: 1024 }, { from: 768, to: 384, support: 1024 }]))
  t.ok(both.work > one(10_000).work * 1.4, 'the reverse direction adds its searches')
  t.ok(toEstimate(reportCost(10_000, [{ from: 384, to: 768, support: 0 }])).work < one(10_000).work, 'no confidence model, no confidence search')
  const plan = reportPlan(10_000, [{ from: 384, to: 768, support: 1024 }, { from: 768, to: 384, support: 1024 }])
  t.equal(plan.what, 'this report (10000 rows, 384 → 768 and 768 → 384 dims)')
  t.match(plan.instead.join('; '), /fewer rows.*"reverse": false/)
})

t.test('the memory estimate bounds a real direction (peak RSS growth)', async t => {
  const engine = await testEngine(t)
  const rows = 3000
  const dim = 128
  const translated = { rows, cols: dim, data: values(rows * dim, 5) }
  const native = { rows, cols: dim, data: values(rows * dim, 6) }
  // Warm: sessions and ORT's arenas exist before the measured run.
  await directionFigures(translated, native, engine)
  const before = process.memoryUsage().rss
  let peak = before
  const sampler = setInterval(() => { peak = Math.max(peak, process.memoryUsage().rss) }, 1)
  const started = performance.now()
  try {
    await directionFigures(translated, native, engine)
  } finally {
    clearInterval(sampler)
  }
  const ms = performance.now() - started
  peak = Math.max(peak, process.memoryUsage().rss)
  const estimate = toEstimate(reportCost(rows, [{ from: dim, to: dim, support: 0 }]))
  t.ok(peak - before <= estimate.bytes, `peak RSS growth ${((peak - before) / 2 ** 20).toFixed(1)} MiB ≤ estimate ${(estimate.bytes / 2 ** 20).toFixed(1)} MiB`)
  t.comment(`time ${ms.toFixed(0)} ms measured, ${estimate.ms.toFixed(0)} ms estimated`)
})
