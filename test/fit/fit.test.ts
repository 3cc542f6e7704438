/**
 * fitTranslator's behaviour: recovery of exact maps, auto's choice, holdout and the ridge search,
 * FitError cases, and the event loop staying responsive during a fit.
 */
import t from 'tap'
import { createEngine } from '../../src/engine/index.js'
import { fitTranslator, FitError, RIDGE_GRID, FIT_METHODS, SCALINGS } from '../../src/fit/index.js'
import { applyMap64 } from '../../src/translators/map.js'
import type { FitOptions } from '../../src/fit/types.js'
import type { Matrix } from '../../src/math/matrix.js'
import { takeRows } from '../../src/math/matrix.js'
import { mapRows, randomMatrix64, randomOrthogonal, rowRelativeError, toMatrix } from './fixtures/data.js'

const engine = await createEngine({ executionProviders: ['cpu'], strict: true, intraOpThreads: 1, workers: 1, rowBudget: 4096, sessionCacheSize: 8 })
t.teardown(async () => { await engine.close() })

const options = (overrides: Partial<FitOptions>): FitOptions => ({ method: 'procrustes', scaling: 'standard', holdout: 0, folds: 5, seed: 0, ...overrides })
const range = (from: number, to: number): number[] => Array.from({ length: to - from }, (_, i) => from + i)

t.test('procrustes with centring recovers an exact orthogonal map plus translation to ~1e-5', async t => {
  for (const [dx, dy] of [[64, 64], [40, 60], [60, 40]]) {
    const q = randomOrthogonal(Math.max(dx, dy), dx + dy)
    // dx < dy: an isometric embedding (first dx rows of Q); dx > dy: the map drops directions,
    // so the source varies only in a dy-dim subspace (rows of X in span of Q's first dy columns).
    const qx = { rows: dx, cols: dy, data: new Float64Array(dx * dy) }
    for (let i = 0; i < dx; i++) for (let j = 0; j < dy; j++) qx.data[i * dy + j] = q.data[i * q.cols + j]
    let x64 = randomMatrix64(260, dx, dx * 7)
    if (dx > dy) {
      // Rows in span of the dy columns of qx, plus a common offset (removed by centring).
      const z = randomMatrix64(260, dy, 5)
      x64 = { rows: 260, cols: dx, data: Float64Array.from(mapRows(z, { rows: dy, cols: dx, data: Float64Array.from({ length: dy * dx }, (_, k) => qx.data[(k % dx) * dy + Math.floor(k / dx)]) }).data) }
      for (let i = 0; i < 260; i++) for (let j = 0; j < dx; j++) x64.data[i * dx + j] += 0.3
    }
    const offset = range(0, dy).map(j => 2 + Math.sin(j))
    const x = toMatrix(x64)
    const y = mapRows(x64, qx, { offset })
    const anchors = range(0, 200)
    const held = range(200, 260)
    const result = await fitTranslator(takeRows(x, anchors), takeRows(y, anchors), options({ scaling: 'center' }), engine)
    const error = rowRelativeError(applyMap64(takeRows(x, held), result.map), takeRows(y, held).data, dy)
    t.ok(error < 1e-5, `${dx} → ${dy}: held-out relative error ${error.toExponential(2)}`)
    t.ok(result.diagnostics.fitResidual < 1e-5, `fit residual ${result.diagnostics.fitResidual.toExponential(2)}`)
    t.equal(result.diagnostics.rank, Math.min(dx, dy))
  }
})

t.test('linear recovers an exact linear map', async t => {
  const a = randomMatrix64(20, 15, 3)
  const x64 = randomMatrix64(120, 20, 4)
  const x = toMatrix(x64)
  const y = mapRows(x64, a)
  const result = await fitTranslator(x, y, options({ method: 'linear', scaling: 'none' }), engine)
  let worst = 0
  for (let i = 0; i < a.data.length; i++) worst = Math.max(worst, Math.abs(result.map.weight.data[i] - a.data[i]))
  t.ok(worst < 1e-5, `weights within ${worst.toExponential(2)}`)
  t.equal(result.diagnostics.rank, 20)
  const affine = await fitTranslator(x, mapRows(x64, a, { offset: range(0, 15).map(j => j - 7) }), options({ method: 'affine', scaling: 'none' }), engine)
  t.ok(Math.max(...Array.from(affine.map.bias, (b, j) => Math.abs(b - (j - 7)))) < 1e-4, 'affine recovers the bias')
})

t.test('auto picks the method the data were made for', async t => {
  // Orthogonal map, noisy, few anchors for the dimension: least squares overfits, Procrustes does not.
  const d = 48
  const q = randomOrthogonal(d, 21)
  const x64 = randomMatrix64(70, d, 22)
  const y = mapRows(x64, q, { noise: 0.5, seed: 23 })
  const orthogonal = await fitTranslator(toMatrix(x64), y, options({ method: 'auto', folds: 5, seed: 1 }), engine)
  t.equal(orthogonal.method, 'procrustes', `orthogonal + noise: ${orthogonal.method}/${orthogonal.scaling}`)
  const candidates = orthogonal.diagnostics.candidates ?? []
  t.equal(candidates.length, FIT_METHODS.length * SCALINGS.length, 'every method with every scaling is listed')
  t.ok(candidates.every(c => c.top1 >= 0 && c.top1 <= 1 && c.mrr >= c.top1 - 1e-12 && c.fitMs >= 0), 'each with scores and fit time')
  const best = candidates.reduce((a, b) => (b.top1 > a.top1 || (b.top1 === a.top1 && b.meanCosine > a.meanCosine)) ? b : a)
  t.same([orthogonal.method, orthogonal.scaling], [best.method, best.scaling], 'the best top-1 (ties: mean cosine) is kept')

  // A strongly anisotropic (non-orthogonal) linear map and plenty of anchors: Procrustes cannot
  // express it, least squares can.
  const stretch = randomMatrix64(12, 12, 31)
  for (let i = 0; i < 12; i++) for (let j = 0; j < 12; j++) stretch.data[i * 12 + j] *= 1 + 4 * (j % 3)
  const x2 = randomMatrix64(300, 12, 32)
  const y2 = mapRows(x2, stretch, { noise: 0.05, seed: 33 })
  const general = await fitTranslator(toMatrix(x2), y2, options({ method: 'auto', folds: 4, seed: 2 }), engine)
  t.ok(['linear', 'affine', 'ridge'].includes(general.method), `anisotropic linear: ${general.method}/${general.scaling}`)
  const procrustesBest = Math.max(...(general.diagnostics.candidates ?? []).filter(c => c.method === 'procrustes').map(c => c.top1))
  t.ok(procrustesBest < Math.max(...(general.diagnostics.candidates ?? []).map(c => c.top1)), 'procrustes scores lower')
})

t.test('holdout scores the map fitted without the held-out rows; the stored map uses all', async t => {
  const d = 16
  const q = randomOrthogonal(d, 41)
  const x64 = randomMatrix64(100, d, 42)
  const x = toMatrix(x64)
  const y = mapRows(x64, q, { noise: 0.01, seed: 43 })
  const held = await fitTranslator(x, y, options({ scaling: 'center', holdout: 0.2, seed: 3 }), engine)
  const plain = await fitTranslator(x, y, options({ scaling: 'center' }), engine)
  t.equal(held.diagnostics.heldOut?.count, 20)
  t.ok((held.diagnostics.heldOut?.top1 ?? 0) > 0.95, `held-out top-1 ${held.diagnostics.heldOut?.top1}`)
  t.ok((held.diagnostics.heldOut?.meanCosine ?? 0) > 0.99)
  t.same(held.map, plain.map, 'the returned map is the refit on every anchor')
  t.equal(plain.diagnostics.heldOut, null)
  const again = await fitTranslator(x, y, options({ scaling: 'center', holdout: 0.2, seed: 3 }), engine)
  t.same(again.diagnostics.heldOut, held.diagnostics.heldOut, 'seeded: the same rows are held out')
})

t.test('ridge: searched over the grid when absent, reported; used as given otherwise', async t => {
  const x64 = randomMatrix64(80, 10, 51)
  const y = mapRows(x64, randomMatrix64(10, 8, 52), { noise: 0.2, seed: 53 })
  const searched = await fitTranslator(toMatrix(x64), y, options({ method: 'ridge', scaling: 'center' }), engine)
  t.same(searched.diagnostics.ridgeSearch?.map(r => r.ridge), RIDGE_GRID)
  t.ok(RIDGE_GRID.includes(searched.ridge ?? -1), `chosen ${searched.ridge}`)
  const given = await fitTranslator(toMatrix(x64), y, options({ method: 'ridge', scaling: 'center', ridge: 0.5 }), engine)
  t.equal(given.ridge, 0.5)
  t.equal(given.diagnostics.ridgeSearch, undefined)
  const irp = await fitTranslator(toMatrix(x64), y, options({ method: 'inverse-relative', scaling: 'center' }), engine)
  t.equal(irp.diagnostics.ridgeSearch?.length, RIDGE_GRID.length, 'inverse-relative searches too')
  t.equal(irp.map.normalizeInput && irp.map.normalizeOutput, true)
})

t.test('too few anchors: FitError with the count needed', async t => {
  const x: Matrix = { rows: 1, cols: 3, data: Float32Array.from([1, 2, 3]) }
  const two: Matrix = { rows: 2, cols: 3, data: Float32Array.from([1, 2, 3, 0, 1, 0]) }
  const cases: Array<[string, Matrix, Partial<FitOptions>, number]> = [
    ['one anchor', x, {}, 2],
    ['holdout', two, { holdout: 0.1 }, 3],
    ['auto', two, { method: 'auto' }, 3],
    ['ridge search', two, { method: 'ridge' }, 3],
    ['auto with a holdout and 2 folds', { rows: 4, cols: 3, data: new Float32Array(12) }, { method: 'auto', folds: 2, holdout: 0.5 }, 8]
  ]
  for (const [name, m, overrides, needed] of cases) {
    try {
      await fitTranslator(m, m, options(overrides), engine)
      t.fail(`${name}: should throw`)
    } catch (error) {
      t.ok(error instanceof FitError, `${name}: FitError`)
      t.equal((error as FitError).needed, needed, `${name}: needs ${needed}`)
      t.match((error as Error).message, new RegExp(`at least ${needed} parallel anchors, got ${m.rows}`), `${name}: ${(error as Error).message}`)
    }
  }
  const ok = await fitTranslator(two, two, options({ method: 'ridge', ridge: 0.1 }), engine)
  t.equal(ok.map.sourceDim, 3, 'two anchors suffice when nothing is searched')
  await t.rejects(fitTranslator(two, x, options({}), engine), RangeError, 'rows must be parallel')
  await t.rejects(fitTranslator(two, two, options({ folds: 1 }), engine), RangeError)
  await t.rejects(fitTranslator(two, two, options({ method: 'nope' as 'linear' }), engine), RangeError)
})

t.test("cross-validation retrieves each fold among its own targets, not the training folds'", async t => {
  // Targets unrelated to the sources: every map is a guess. With 20 folds of 2 on 40 anchors, a
  // guess among the fold's 2 targets is right half the time; among all 40 targets, 1 in 40.
  const x = toMatrix(randomMatrix64(40, 6, 71))
  const y = toMatrix(randomMatrix64(40, 5, 72))
  const result = await fitTranslator(x, y, options({ method: 'auto', folds: 20, ridge: 0.1 }), engine)
  const candidates = result.diagnostics.candidates ?? []
  t.equal(candidates.length, FIT_METHODS.length * SCALINGS.length)
  const mean = candidates.reduce((sum, c) => sum + c.top1, 0) / candidates.length
  t.ok(mean > 0.3 && mean < 0.7, `mean cross-validated top-1 of unrelated data ${mean.toFixed(3)} is chance among 2, not among 40`)
})

t.test('the event loop keeps turning during a fit', async t => {
  // Counted, not timed: a fit that blocked the loop for its whole run would let the 5 ms interval
  // fire at most once or twice, whatever the machine's load; one that yields lets it fire again
  // and again. (The longest gap depends on the machine's load, so it is only reported.)
  const x64 = randomMatrix64(900, 400, 61)
  const y = mapRows(x64, randomMatrix64(400, 300, 62, 0.05), { noise: 0.1, seed: 63 })
  let ticks = 0
  let worst = 0
  let last = performance.now()
  const timer = setInterval(() => { const now = performance.now(); worst = Math.max(worst, now - last); last = now; ticks++ }, 5)
  const started = performance.now()
  try {
    await fitTranslator(toMatrix(x64), y, options({ method: 'linear', scaling: 'standard' }), engine)
  } finally {
    clearInterval(timer)
  }
  const ms = performance.now() - started
  t.ok(ticks >= 5, `the timer fired ${ticks} times during a ${ms.toFixed(0)} ms fit (longest gap ${worst.toFixed(0)} ms)`)
})
