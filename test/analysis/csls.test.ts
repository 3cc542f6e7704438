import t, { type Test } from 'tap'
import { readFileSync } from 'node:fs'
import { cslsRadii, cslsScore, cslsTopNeighbours, meanTopSimilarity, mutualNearestCsls } from '../../src/analysis/csls.js'
import { retrievalScores } from '../../src/analysis/similarity.js'
import { normalizeRows } from '../../src/analysis/neighbours.js'
import type { MatMul } from '../../src/engine/types.js'
import type { Matrix } from '../../src/math/matrix.js'
import { testEngine } from '../helpers/app.js'
import { float64MatMul, fromRows, recording } from './fixtures/matmul.js'
import { gaussianMatrix } from './fixtures/data.js'

interface GoldenCase {
  k: number
  source: number[][]
  target: number[][]
  rTarget: number[]
  rSource: number[]
  csls: number[][]
  top3: number[][]
  mutual: Array<[number, number]>
  mutualMean: number
  cosineTop1: number[]
}

// numpy float64 on the same float32 unit rows (scripts/golden/csls.py); every decision the tests
// compare exactly has a gap above 1e-5, far above float32 rounding of a cosine (~1e-7).
const golden = JSON.parse(readFileSync(new URL('../golden/csls/cases.json', import.meta.url), 'utf8')) as Record<string, GoldenCase>
const TOLERANCE = 2e-6

function maxDiff (a: ArrayLike<number>, b: ArrayLike<number>): number {
  let worst = 0
  for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i] - b[i]))
  return worst
}

async function checkCase (t: Tap, name: string, c: GoldenCase, mm: MatMul, label: string): Promise<void> {
  const s = fromRows(c.source)
  const tg = fromRows(c.target)
  const { rTarget, rSource } = await cslsRadii(s, tg, c.k, mm)
  t.ok(maxDiff(rTarget, c.rTarget) < TOLERANCE, `${name}/${label}: r_T of every source row (max diff ${maxDiff(rTarget, c.rTarget)})`)
  t.ok(maxDiff(rSource, c.rSource) < TOLERANCE, `${name}/${label}: r_S of every target row`)
  const scores = c.csls.flatMap((row, i) => row.map((_, j) => cslsScore(s, i, tg, j, rTarget, rSource)))
  t.ok(maxDiff(scores, c.csls.flat()) < 2 * TOLERANCE, `${name}/${label}: the CSLS matrix`)
  // Small blocks: the ranking must not depend on how the products are chunked.
  const top3 = await cslsTopNeighbours(s, tg, rSource, 3, mm, { blockRows: 4 })
  t.same(Array.from(top3), c.top3.flat(), `${name}/${label}: CSLS top-3 of every source row`)
  const mutual = await mutualNearestCsls(s, tg, c.k, mm, { blockRows: 3 })
  t.same(Array.from(mutual.source, (i, m) => [i, mutual.target[m]]), c.mutual, `${name}/${label}: mutual nearest pairs`)
  t.ok(Math.abs(mutual.meanScore - c.mutualMean) < 2 * TOLERANCE, `${name}/${label}: mean CSLS of the mutual pairs`)
}

type Tap = Test

t.test('CSLS radii, scores, rankings and mutual pairs match numpy float64', async t => {
  const engine = await testEngine(t)
  for (const [name, c] of Object.entries(golden)) {
    const differs = c.top3.filter((row, i) => row[0] !== c.cosineTop1[i]).length
    t.ok(differs > 0, `${name}: CSLS changes some top-1 against plain cosine (${differs} rows), so the hub correction is exercised`)
    await checkCase(t, name, c, float64MatMul, 'float64 products')
    await checkCase(t, name, c, engine, 'engine')
  }
})

t.test('meanTopSimilarity clamps k and leaves a row out of its own neighbours', async t => {
  const m = normalizeRows(gaussianMatrix(6, 4, 3))
  const loo = await meanTopSimilarity(m, m, 100, float64MatMul, { excludeSelf: true })
  for (let i = 0; i < 6; i++) {
    let sum = 0
    for (let j = 0; j < 6; j++) {
      if (j === i) continue
      let dot = 0
      for (let c = 0; c < 4; c++) dot += m.data[i * 4 + c] * m.data[j * 4 + c]
      sum += dot
    }
    t.ok(Math.abs(loo[i] - sum / 5) < 1e-6, `row ${i}: k clamped to the 5 others, itself excluded`)
  }
  t.same(Array.from(await meanTopSimilarity({ rows: 0, cols: 4, data: new Float32Array(0) }, m, 3, float64MatMul)), [])
})

t.test('mutual pairs are found blockwise: no product is pool × pool when blocks are small', async t => {
  const a = normalizeRows(gaussianMatrix(50, 8, 5))
  const b = normalizeRows(gaussianMatrix(60, 8, 6))
  const rec = recording()
  const whole = await mutualNearestCsls(a, b, 5, float64MatMul)
  const blocked = await mutualNearestCsls(a, b, 5, rec, { blockRows: 7 })
  t.same(Array.from(blocked.source), Array.from(whole.source))
  t.same(Array.from(blocked.target), Array.from(whole.target))
  t.ok(rec.calls.every(([rows]) => rows <= 7), 'the argmax passes run 7 query rows at a time')
  await t.rejects(mutualNearestCsls(a, normalizeRows(gaussianMatrix(5, 3, 1)), 5, float64MatMul), RangeError)
  await t.rejects(mutualNearestCsls(a, b, 0, float64MatMul), RangeError)
})

/** CSLS retrieval computed directly in float64 from the definition. */
function referenceCsls (translated: Matrix, target: Matrix, k: number, cslsK: number): { top1: number, topK: number, mrr: number } {
  const n = translated.rows
  const d = translated.cols
  const unit = (m: Matrix): number[][] => Array.from({ length: m.rows }, (_, i) => {
    const row = Array.from(m.data.subarray(i * d, (i + 1) * d), Number)
    const norm = Math.hypot(...row)
    return row.map(v => v / norm)
  })
  const s = unit(translated)
  const y = unit(target)
  const cos = s.map(a => y.map(b => a.reduce((sum, v, c) => sum + v * b[c], 0)))
  const meanTop = (values: number[]): number => [...values].sort((p, q) => q - p).slice(0, cslsK).reduce((a, b) => a + b, 0) / cslsK
  const rS = y.map((_, j) => meanTop(cos.map(row => row[j])))
  let top1 = 0
  let topK = 0
  let mrr = 0
  for (let i = 0; i < n; i++) {
    const ranked = cos[i].map((c, j) => ({ j, v: 2 * c - rS[j] })).sort((p, q) => q.v - p.v || p.j - q.j)
    const rank = ranked.findIndex(r => r.j === i)
    if (rank === 0) top1++
    if (rank < k) { topK++; mrr += 1 / (rank + 1) }
  }
  return { top1: top1 / n, topK: topK / n, mrr: mrr / n }
}

t.test('retrieval scores under CSLS match a float64 reference and beat cosine where noise makes hubs', async t => {
  const engine = await testEngine(t)
  // Targets = sources + noise that is 4x larger along 4 shared directions: target rows far out
  // along those directions become close to many translated rows (hubs) and steal their top-1.
  const n = 100
  const d = 32
  const src = gaussianMatrix(n, d, 21)
  const noise = gaussianMatrix(n, d, 22)
  const tgt = new Float32Array(n * d)
  for (let i = 0; i < n; i++) for (let c = 0; c < d; c++) tgt[i * d + c] = src.data[i * d + c] + 1.5 * noise.data[i * d + c] * (c < 4 ? 4 : 1)
  const target = { rows: n, cols: d, data: tgt }
  const csls = await retrievalScores(src, target, 5, engine, { cslsK: 10 })
  const expected = referenceCsls(src, target, 5, 10)
  t.ok(Math.abs(csls.top1 - expected.top1) < 1e-12, `top1 ${csls.top1} vs ${expected.top1}`)
  t.ok(Math.abs(csls.topK - expected.topK) < 1e-12, 'topK')
  t.ok(Math.abs(csls.mrr - expected.mrr) < 1e-9, 'mrr')
  const cosine = await retrievalScores(src, target, 5, engine)
  t.ok(csls.top1 > cosine.top1, `CSLS top-1 ${csls.top1} > cosine top-1 ${cosine.top1}`)
  t.equal(csls.meanCosine, cosine.meanCosine, 'mean cosine does not depend on the ranking')
})
