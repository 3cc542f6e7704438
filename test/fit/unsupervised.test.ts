import t from 'tap'
import { alignUnsupervised, judge, pairAgreement, type UnsupervisedOptions } from '../../src/fit/unsupervised.js'
import { testEngine } from '../helpers/app.js'
import { orthogonal } from '../analysis/fixtures/data.js'
import { POOL, world } from './fixtures/unsupervised-world.js'

/** Small and fast, as the service would never be asked, but the same method. */
const OPTS: UnsupervisedOptions = { restarts: 2, initRows: POOL, k: 10, patience: 4, maxIterations: 80, seed: 0 }

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

t.test('progress is reported per step, and the signal stops the work between steps', async t => {
  const engine = await testEngine(t)
  const w = world(11, true)
  const controller = new AbortController()
  const phases: string[] = []
  await t.rejects(alignUnsupervised(w.x, w.z, OPTS, engine, controller.signal, progress => {
    phases.push(progress.phase)
    t.ok(progress.done <= progress.total, 'done never passes total')
    if (progress.phase.startsWith('self-learning') && progress.done === 3) controller.abort(new Error('stopped by the test'))
  }), { message: 'stopped by the test' })
  t.equal(phases[0], 'null (random start)', 'the null runs first')
  t.ok(phases.includes('start 1/2'), 'then the first restart\'s start')
  t.equal(phases.filter(p => p.startsWith('self-learning')).length, 3, 'no step after the abort')
})

t.test('options out of range are refused', async t => {
  const engine = await testEngine(t)
  const w = world(11, true)
  await t.rejects(alignUnsupervised(w.x, w.z, { ...OPTS, restarts: 0 }, engine), RangeError)
  await t.rejects(alignUnsupervised(w.x, w.z, { ...OPTS, initRows: 5000 }, engine), RangeError)
  const few = { rows: 10, cols: w.x.cols, data: w.x.data.subarray(0, 10 * w.x.cols) }
  await t.rejects(alignUnsupervised(few, w.z, OPTS, engine), RangeError)
})

/** z's rows carried isometrically into `dims` dimensions (a random orthonormal 12 × dims embedding). */
function widened (z: { rows: number, cols: number, data: Float32Array }, dims: number): { rows: number, cols: number, data: Float32Array } {
  const q = orthogonal(dims, 5)
  const out = new Float32Array(z.rows * dims)
  for (let i = 0; i < z.rows; i++) {
    for (let j = 0; j < dims; j++) {
      let v = 0
      for (let k = 0; k < z.cols; k++) v += z.data[i * z.cols + k] * q[k * dims + j]
      out[i * dims + j] = v
    }
  }
  return { rows: z.rows, cols: dims, data: out }
}

t.test('spaces of different dimension: the orthogonal self-learning recovers the correspondence whichever side is wider', async t => {
  const engine = await testEngine(t)
  const w = world(11, true)
  const wide = widened(w.z, 20)
  const forward = await alignUnsupervised(w.x, wide, OPTS, engine)
  t.ok(recovered(forward.pairs, w.truth) >= 0.8, `12 → 20 dims: ${recovered(forward.pairs, w.truth).toFixed(3)}`)
  t.equal(judge(forward.evidence).reliable, true, judge(forward.evidence).reasons.join('; '))
  const swapped = new Map<number, number>()
  w.truth.forEach((row, item) => swapped.set(row, item))
  const backward = await alignUnsupervised(wide, w.x, OPTS, engine)
  t.ok(recovered(backward.pairs, swapped) >= 0.8, `20 → 12 dims: ${recovered(backward.pairs, swapped).toFixed(3)}`)
  t.equal(judge(backward.evidence).reliable, true, judge(backward.evidence).reasons.join('; '))
})

t.test('restarts explore from keep 0.1; the null self-learns greedily (keep 1 throughout)', async t => {
  const engine = await testEngine(t)
  const w = world(11, true)
  const steps: Array<{ restart: number, iteration: number, keep: number, objective: number }> = []
  const result = await alignUnsupervised(w.x, w.z, { ...OPTS, trace: step => steps.push(step) }, engine)
  const nullSteps = steps.filter(s => s.restart === -1)
  const first = steps.filter(s => s.restart === 0)
  t.equal(first[0].keep, 0.1, 'a restart starts stochastic')
  t.ok(first.some(s => s.keep === 1), 'and ends deterministic')
  t.ok(nullSteps.length > 0 && nullSteps.every(s => s.keep === 1), 'the null never drops a candidate')
  t.equal(result.evidence.null.converged, true, 'and settles within the cap')
})

t.test('restarts stop once two clear the null and agree; pools that share nothing use them all', async t => {
  const engine = await testEngine(t)
  const found = await alignUnsupervised(world(11, true).x, world(11, true).z, { ...OPTS, restarts: 4 }, engine)
  t.equal(found.evidence.runs.length, 2, 'two agreeing restarts end the search')
  t.equal(found.evidence.restartsAllowed, 4)
  t.ok(found.evidence.agreement >= 0.5, `agreement ${found.evidence.agreement.toFixed(3)}`)
  const none = world(11, false)
  const refused = await alignUnsupervised(none.x, none.z, { ...OPTS, restarts: 3 }, engine)
  t.equal(refused.evidence.runs.length, 3, 'no two restarts clear the null: every allowed restart runs')
  const verdict = judge(refused.evidence)
  t.equal(verdict.reliable, false)
  t.match(verdict.reasons.join('; '), /3 of up to 3 restarts run/)
})
