import t from 'tap'
import { fitTranslator } from '../../src/fit/index.js'
import { applyMap64 } from '../../src/translators/map.js'
import { choose, refineTranslator, type RefineRound } from '../../src/fit/refine.js'
import type { LinearMap } from '../../src/translators/map.js'
import { takeRows, type Matrix } from '../../src/math/matrix.js'
import { createRng, shuffle } from '../../src/math/random.js'
import { testEngine } from '../helpers/app.js'
import { gaussianMatrix, orthogonal } from '../analysis/fixtures/data.js'

const D = 16
const ITEMS = 610
const ANCHORS = 10
const NOISE = 0.05

/** Items X, their images Y = X·Q + noise, Q a random orthogonal map: the known answer. */
function world (seed: number): { x: Matrix, y: Matrix, q: Float64Array } {
  const x = gaussianMatrix(ITEMS, D, seed)
  const q = orthogonal(D, seed + 1)
  const noise = gaussianMatrix(ITEMS, D, seed + 2)
  const y = new Float32Array(ITEMS * D)
  for (let i = 0; i < ITEMS; i++) {
    for (let j = 0; j < D; j++) {
      let v = NOISE * noise.data[i * D + j]
      for (let k = 0; k < D; k++) v += x.data[i * D + k] * q[k * D + j]
      y[i * D + j] = v
    }
  }
  return { x, y: { rows: ITEMS, cols: D, data: y }, q }
}

/** ‖map(e_k) − map(0) − Q_k‖ over the basis, relative to ‖Q‖: how far the map's linear part is from Q. */
function distanceToQ (map: LinearMap, q: Float64Array): number {
  const basis = new Float32Array((D + 1) * D)
  for (let k = 0; k < D; k++) basis[(k + 1) * D + k] = 1
  const out = applyMap64({ rows: D + 1, cols: D, data: basis }, map)
  let err = 0
  for (let k = 0; k < D; k++) for (let j = 0; j < D; j++) err += (out[(k + 1) * D + j] - out[j] - q[k * D + j]) ** 2
  return Math.sqrt(err / D)
}

/** Share of rows whose translation's nearest target (cosine) is its own. */
function top1 (map: LinearMap, x: Matrix, y: Matrix): number {
  const out = applyMap64(x, map)
  let hits = 0
  for (let i = 0; i < x.rows; i++) {
    let best = -1
    let bestScore = -Infinity
    for (let j = 0; j < y.rows; j++) {
      let dot = 0
      let norm = 0
      for (let c = 0; c < D; c++) {
        dot += out[i * D + c] * y.data[j * D + c]
        norm += y.data[j * D + c] ** 2
      }
      const score = dot / Math.sqrt(norm)
      if (score > bestScore) { bestScore = score; best = j }
    }
    if (best === i) hits++
  }
  return hits / x.rows
}

t.test('refinement from 10 anchors recovers a random orthogonal map from unpaired pools', async t => {
  const engine = await testEngine(t)
  for (const seed of [1, 2]) {
    const { x, y, q } = world(seed)
    const anchorRows = Array.from({ length: ANCHORS }, (_, i) => i)
    const rest = Array.from({ length: ITEMS - ANCHORS }, (_, i) => i + ANCHORS)
    const ax = takeRows(x, anchorRows)
    const ay = takeRows(y, anchorRows)
    const unpairedX = takeRows(x, rest)
    // The target pool in another order: nothing but geometry links the two pools.
    const unpairedY = takeRows(y, shuffle(createRng(seed + 9), Int32Array.from(rest)))
    const opts = { method: 'procrustes' as const, scaling: 'center' as const, holdout: 0.2, folds: 5, seed }
    const base = await fitTranslator(ax, ay, opts, engine)
    const refined = await refineTranslator(ax, ay, unpairedX, unpairedY, { method: 'procrustes', scaling: 'center', ridge: 0 },
      { map: base.map, rank: base.diagnostics.rank }, { iterations: 5, k: 10, holdout: 0.2, seed }, engine)
    const report = refined.report
    const before = distanceToQ(base.map, q)
    const after = distanceToQ(refined.map, q)
    t.ok(before > 0.3, `seed ${seed}: 10 anchors in ${D} dims leave the map undetermined (distance to Q ${before.toFixed(3)})`)
    t.ok(after < 0.02, `seed ${seed}: refinement recovers Q (distance ${after.toFixed(4)}, noise ${NOISE})`)
    t.equal(report.kept, 'refined')
    t.ok(report.keptRound >= 1)
    t.same(report.unpaired, { source: ITEMS - ANCHORS, target: ITEMS - ANCHORS })
    t.equal(report.heldOutCount, 2)
    t.equal(report.gallery, ITEMS, 'held-out rows are retrieved among every target row')
    t.equal(report.rounds[0].pairs, 0)
    t.ok(report.rounds[1].pairs > 0 && report.rounds[1].pairs === report.rounds[0].mutualPairs, 'round 1 fits on round 0\'s mutual pairs')
    const last = report.rounds[report.rounds.length - 1]
    t.ok(last.mutualPairs > 0.95 * (ITEMS - ANCHORS), `nearly every unpaired row ends in a mutual pair (${last.mutualPairs})`)
    t.ok(report.rounds[report.keptRound].meanCsls > report.rounds[0].meanCsls, 'the kept round has a higher mean CSLS than the unrefined map')
    t.equal(report.pairsUsed, refined.pairedSource.length)
    const plainTop1 = top1(base.map, unpairedX, takeRows(y, rest))
    const refinedTop1 = top1(refined.map, unpairedX, takeRows(y, rest))
    t.ok(refinedTop1 > 0.99 && plainTop1 < 0.7, `top-1 on the unpaired items: ${plainTop1.toFixed(3)} → ${refinedTop1.toFixed(3)}`)
  }
})

t.test('refinement keeps the unrefined map when the pools share nothing', async t => {
  const engine = await testEngine(t)
  const { x, y } = world(5)
  // 40 anchors in 16 dims: the plain map is already right; the pools are unrelated noise.
  const rows = Array.from({ length: 40 }, (_, i) => i)
  const ax = takeRows(x, rows)
  const ay = takeRows(y, rows)
  const unpairedX = gaussianMatrix(300, D, 50)
  const unpairedY = gaussianMatrix(300, D, 51)
  const opts = { method: 'procrustes' as const, scaling: 'center' as const, holdout: 0.25, folds: 5, seed: 0 }
  const base = await fitTranslator(ax, ay, opts, engine)
  const refined = await refineTranslator(ax, ay, unpairedX, unpairedY, { method: 'procrustes', scaling: 'center', ridge: 0 },
    { map: base.map, rank: base.diagnostics.rank }, { iterations: 3, k: 10, holdout: 0.25, seed: 0 }, engine)
  t.equal(refined.report.kept, 'unrefined', refined.report.reason)
  t.equal(refined.map, base.map, 'the unrefined map itself is returned')
  t.equal(refined.report.pairsUsed, 0)
  t.equal(refined.pairedSource.length, 0)
})

t.test('choose: highest mean CSLS, vetoed only by clearly worse held-out scores', async t => {
  const held = (top1: number, meanCosine: number): RefineRound['heldOut'] => ({ count: 10, top1, top5: top1, mrr: top1, meanCosine })
  const round = (r: number, meanCsls: number, heldOut: RefineRound['heldOut'], pairs = 100): RefineRound => ({ round: r, pairs: r === 0 ? 0 : pairs, heldOut, mutualPairs: pairs, meanCsls })
  t.equal(choose([round(0, 0.1, held(0.5, 0.5)), round(1, 0.2, held(0.6, 0.6)), round(2, 0.3, held(0.6, 0.6))]).round, 2)
  t.equal(choose([round(0, 0.3, held(0.5, 0.5)), round(1, 0.2, held(0.9, 0.9))]).round, 0, 'no CSLS gain: unrefined')
  t.equal(choose([round(0, 0.1, held(0.5, 0.5)), round(1, 0.2, held(0.3, 0.4))]).round, 0, 'two held-out anchors fewer and a lower mean cosine: vetoed')
  t.equal(choose([round(0, 0.1, held(0.5, 0.5)), round(1, 0.2, held(0.6, 0.7)), round(2, 0.15, held(0.9, 0.9))]).round, 1, 'the highest CSLS is the candidate, not the best held-out')
  t.equal(choose([round(0, 0.1, held(0.5, 0.5)), round(1, 0.2, held(0.4, 0.5))]).round, 1, 'one anchor fewer out of 10 is noise')
  t.equal(choose([round(0, 0.1, held(0.5, 0.5)), round(1, 0.2, held(0.3, 0.6))]).round, 0, 'two anchors fewer: vetoed even when closer on average')
  t.equal(choose([round(0, 0.1, held(0.5, 0.5)), round(1, 0.2, held(0.5, 0.49))]).round, 0, 'same hits but a lower mean cosine: vetoed')
  t.equal(choose([round(0, 0.1, held(0.5, 0.5)), round(1, 0.2, held(0.5, 0.497))]).round, 1, 'a mean cosine within the slack is no worse')
  t.equal(choose([round(0, 0.1, null), round(1, 0.2, null)]).round, 1, 'without holdout, CSLS alone decides')
  t.equal(choose([round(0, 0.1, null), round(1, 0.2, null, 0)]).round, 0, 'no pairs: nothing to keep')
  t.match(choose([round(0, 0.1, held(0.5, 0.5)), round(1, 0.2, held(0.3, 0.4))]).reason, /unrefined map is kept/)
})

t.test('refinement rejects empty pools and bad options', async t => {
  const engine = await testEngine(t)
  const { x, y } = world(3)
  const base = await fitTranslator(takeRows(x, [0, 1, 2, 3, 4]), takeRows(y, [0, 1, 2, 3, 4]), { method: 'procrustes', scaling: 'center', holdout: 0, folds: 5, seed: 0 }, engine)
  const run = async (ux: Matrix, uy: Matrix, iterations = 2, k = 5): Promise<unknown> => await refineTranslator(takeRows(x, [0, 1, 2, 3, 4]), takeRows(y, [0, 1, 2, 3, 4]), ux, uy,
    { method: 'procrustes', scaling: 'center', ridge: 0 }, { map: base.map, rank: 1 }, { iterations, k, holdout: 0, seed: 0 }, engine)
  const empty = { rows: 0, cols: D, data: new Float32Array(0) }
  await t.rejects(run(empty, takeRows(y, [9])), /unpaired rows on both sides/)
  await t.rejects(run(takeRows(x, [9]), takeRows(y, [9]), 0), /iterations/)
  await t.rejects(run(takeRows(x, [9]), takeRows(y, [9]), 1, 0), /k must be/)
})
