import t from 'tap'
import { alignUnsupervised, judge, pairAgreement, type UnsupervisedOptions } from '../../src/fit/unsupervised.js'
import type { Matrix } from '../../src/math/matrix.js'
import { createRng, shuffle } from '../../src/math/random.js'
import { testEngine } from '../helpers/app.js'
import { gaussianMatrix, orthogonal } from '../analysis/fixtures/data.js'

const D = 12
const ITEMS = 300
const POOL = 240
const NOISE = 0.02

/** Small and fast, as the service would never be asked, but the same method. */
const OPTS: UnsupervisedOptions = { restarts: 2, initRows: POOL, k: 10, patience: 4, maxIterations: 80, seed: 0 }

/**
 * Items with an anisotropic spectrum (dimension j scaled by (j+1)^-0.6), so each item's sorted
 * similarity profile says something about it. Source pool: items 0..POOL−1; target pool: items
 * ITEMS−POOL..ITEMS−1 (so they share 2·POOL−ITEMS items) under a hidden orthogonal map plus noise,
 * in a shuffled order. `related: false` gives the target pool fresh items instead: nothing shared.
 */
export function world (seed: number, related: boolean): { x: Matrix, z: Matrix, truth: Map<number, number> } {
  const items = gaussianMatrix(ITEMS, D, seed)
  for (let i = 0; i < ITEMS; i++) for (let j = 0; j < D; j++) items.data[i * D + j] *= (j + 1) ** -0.6
  const other = gaussianMatrix(ITEMS, D, seed + 7)
  for (let i = 0; i < ITEMS; i++) for (let j = 0; j < D; j++) other.data[i * D + j] *= (j + 1) ** -0.6
  const q = orthogonal(D, seed + 1)
  const noise = gaussianMatrix(ITEMS, D, seed + 2)
  const order = shuffle(createRng(seed + 3), Int32Array.from({ length: POOL }, (_, i) => ITEMS - POOL + i))
  const x = new Float32Array(POOL * D)
  x.set(items.data.subarray(0, POOL * D))
  const z = new Float32Array(POOL * D)
  const truth = new Map<number, number>()
  const from = related ? items : other
  order.forEach((item, row) => {
    for (let j = 0; j < D; j++) {
      let v = NOISE * noise.data[item * D + j]
      for (let k = 0; k < D; k++) v += from.data[item * D + k] * q[k * D + j]
      z[row * D + j] = v
    }
    if (related && item < POOL) truth.set(item, row)
  })
  return { x: { rows: POOL, cols: D, data: x }, z: { rows: POOL, cols: D, data: z }, truth }
}

function recovered (pairs: { source: Int32Array, target: Int32Array }, truth: Map<number, number>): number {
  let right = 0
  for (let i = 0; i < pairs.source.length; i++) if (truth.get(pairs.source[i]) === pairs.target[i]) right++
  return right / truth.size
}

t.test('a hidden correspondence is recovered and found reliable, reproducibly', async t => {
  const engine = await testEngine(t)
  const w = world(11, true)
  const result = await alignUnsupervised(w.x, w.z, OPTS, engine)
  const verdict = judge(result.evidence)
  t.ok(recovered(result.pairs, w.truth) >= 0.8, `shared items paired right: ${recovered(result.pairs, w.truth).toFixed(3)}`)
  t.equal(verdict.reliable, true, verdict.reasons.join('; '))
  t.ok(verdict.runs[verdict.best].meanCsls > verdict.null.meanCsls, 'the kept run beats the null')
  const again = await alignUnsupervised(w.x, w.z, OPTS, engine)
  t.same(Array.from(again.pairs.target), Array.from(result.pairs.target), 'the same seed gives the same pairs')
  t.equal(pairAgreement(again.pairs, result.pairs), 1)
})

t.test('pools that share nothing are found unreliable', async t => {
  const engine = await testEngine(t)
  const w = world(11, false)
  const verdict = judge((await alignUnsupervised(w.x, w.z, OPTS, engine)).evidence)
  t.equal(verdict.reliable, false, verdict.reasons.join('; '))
})
