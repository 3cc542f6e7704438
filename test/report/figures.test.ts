import { readFileSync } from 'node:fs'
import t, { type Test } from 'tap'
import { directionFigures, coverageThresholds } from '../../src/analysis/report.js'
import type { Matrix } from '../../src/math/matrix.js'
import { testEngine } from '../helpers/app.js'

/**
 * The report's figures against numpy float64 (fixtures/make-golden.py) on the same float32
 * inputs, through the real engine. The inputs keep every similarity gap among each query's 11
 * nearest rows above 1e-5, 100 times float32's rounding, so the neighbour lists are the same and
 * the figures (means of counts) agree to float64 rounding: tolerance 1e-12. meanCosine sums
 * float32 products in float64 from the raw values: 1e-9.
 */
const COUNT_TOLERANCE = 1e-12
const COSINE_TOLERANCE = 1e-9

interface Golden {
  translated: number[][]
  native: number[][]
  confidence: number[]
  expected: {
    count: number
    recall: Record<string, number>
    retrieval: Record<string, number>
    mrr: number
    meanCosine: number
    coverage: Array<{ threshold: number, kept: number, coverage: number, top1: number | null, recallAt10: number | null }>
  }
}

const golden = JSON.parse(readFileSync(new URL('./fixtures/report-golden.json', import.meta.url), 'utf8')) as Golden

function fromRows (rows: number[][]): Matrix {
  return { rows: rows.length, cols: rows[0].length, data: Float32Array.from(rows.flat()) }
}

function close (t: Test, got: number | null, want: number | null, tolerance: number, label: string): void {
  if (want === null || got === null) {
    t.equal(got, want, label)
    return
  }
  t.ok(Math.abs(got - want) <= tolerance, `${label}: ${got} vs numpy ${want}`)
}

t.test('the figures match the float64 reference', async t => {
  const engine = await testEngine(t)
  const progress: string[] = []
  // Small blocks: the searches run in several row blocks, as large reports do.
  const got = await directionFigures(fromRows(golden.translated), fromRows(golden.native), engine, {
    confidence: golden.confidence, blockRows: 7, progress: p => progress.push(`${p.phase} ${p.done}/${p.total}`)
  })
  const want = golden.expected
  t.equal(got.count, want.count)
  for (const k of ['at1', 'at5', 'at10'] as const) {
    close(t, got.recall[k], want.recall[k], COUNT_TOLERANCE, `recall ${k}`)
    close(t, got.retrieval[k], want.retrieval[k], COUNT_TOLERANCE, `retrieval ${k}`)
  }
  close(t, got.mrr, want.mrr, COUNT_TOLERANCE, 'mrr')
  close(t, got.meanCosine, want.meanCosine, COSINE_TOLERANCE, 'meanCosine')
  t.ok(got.coverage !== null)
  t.equal(got.coverage!.length, want.coverage.length, 'one point per threshold')
  want.coverage.forEach((w, i) => {
    const g = got.coverage![i]
    t.equal(g.threshold, w.threshold, `threshold ${i}`)
    t.equal(g.kept, w.kept, `kept at ${w.threshold}`)
    close(t, g.coverage, w.coverage, COUNT_TOLERANCE, `coverage at ${w.threshold}`)
    close(t, g.top1, w.top1, COUNT_TOLERANCE, `top1 at ${w.threshold}`)
    close(t, g.recallAt10, w.recallAt10, COUNT_TOLERANCE, `recallAt10 at ${w.threshold}`)
  })
  // The reference is not degenerate: the figures lie strictly between 0 and 1, and they differ.
  t.ok(want.recall.at5 > 0.2 && want.recall.at5 < 0.95 && want.retrieval.at1 < want.retrieval.at10, 'a discriminating reference')
  t.same(progress, ['neighbours 0/2', 'neighbours 1/2', 'neighbours 2/2'])
})

t.test('perfect translations score 1 everywhere; no confidence, no curve', async t => {
  const engine = await testEngine(t)
  const native = fromRows(golden.native)
  const got = await directionFigures(native, native, engine)
  t.same(got.recall, { at1: 1, at5: 1, at10: 1 })
  t.same(got.retrieval, { at1: 1, at5: 1, at10: 1 })
  t.equal(got.mrr, 1)
  t.ok(Math.abs(got.meanCosine - 1) < 1e-6)
  t.equal(got.coverage, null)
})

t.test('shapes are checked', async t => {
  const engine = await testEngine(t)
  const native = fromRows(golden.native)
  await t.rejects(directionFigures({ ...native, rows: 9, data: native.data.subarray(0, 72) }, native, engine), RangeError)
  const few = { rows: 9, cols: 8, data: native.data.slice(0, 72) }
  await t.rejects(directionFigures(few, few, engine), /at least 10 rows/)
  await t.rejects(directionFigures(native, native, engine, { confidence: [0.5] }), /confidence has 1 values/)
  t.same(coverageThresholds().slice(0, 3), [0, 0.05, 0.1])
  t.equal(coverageThresholds().at(-1), 1)
})
