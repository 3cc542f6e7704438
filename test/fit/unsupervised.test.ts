import t from 'tap'
import { alignUnsupervised, judge, pairAgreement, type AlignmentRun, type UnsupervisedEvidence, type UnsupervisedOptions } from '../../src/fit/unsupervised.js'
import { testEngine } from '../helpers/app.js'
import { orthogonal } from '../analysis/fixtures/data.js'
import { POOL, world } from './fixtures/unsupervised-world.js'

/** Small and fast, as the service would never be asked, but the same method. */
const OPTS: UnsupervisedOptions = { restarts: 2, initRows: POOL, inductionRows: POOL, k: 10, patience: 4, maxIterations: 80, seed: 0 }

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
  await t.rejects(alignUnsupervised(w.x, w.z, { ...OPTS, inductionRows: 0 }, engine), RangeError)
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

t.test('self-learning on fewer rows than the pools hold: each run draws its own, the final map pairs every row', async t => {
  const engine = await testEngine(t)
  const w = world(11, true)
  const opts = { ...OPTS, inductionRows: 200, restarts: 3 }
  const result = await alignUnsupervised(w.x, w.z, opts, engine)
  const verdict = judge(result.evidence)
  for (const run of [...verdict.runs, verdict.null]) t.same(run.selfLearningRows, { source: 200, target: 200 }, `run ${run.restart} learnt on 200 rows per side`)
  // Of the 180 shared items, 200 random rows of each pool hold both sides of 125 on average (180 ×
  // (200 / 240)²): pairing 80 % (144) right means pairing rows the self-learning never saw.
  t.ok(recovered(result.pairs, w.truth) >= 0.8, `shared items paired right: ${recovered(result.pairs, w.truth).toFixed(3)}`)
  t.equal(verdict.reliable, true, verdict.reasons.join('; '))
  const again = await alignUnsupervised(w.x, w.z, opts, engine)
  t.same(Array.from(again.pairs.target), Array.from(result.pairs.target), 'the same seed draws the same rows')
  const all = await alignUnsupervised(w.x, w.z, OPTS, engine)
  t.same(all.evidence.null.selfLearningRows, { source: POOL, target: POOL }, 'pools within inductionRows: every row')
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

t.test('restarts stop at the first run confirmed; pools that share nothing use them all', async t => {
  const engine = await testEngine(t)
  const w = world(11, true)
  const found = await alignUnsupervised(w.x, w.z, { ...OPTS, restarts: 4 }, engine)
  const first = found.evidence.runs[0]
  t.ok(first.heldOut >= 0.5, `the first run's held-out half reproduced: ${first.heldOut.toFixed(3)}`)
  t.equal(found.evidence.runs.length, 1, 'a confirmed run ends the search')
  t.equal(found.evidence.restartsAllowed, 4)
  t.equal(found.evidence.agreement, null, 'no other run to agree with')
  t.ok(1 - first.heldOut <= 0.5 * (1 - found.evidence.null.heldOut), `it misses less than half of the null's share (null ${found.evidence.null.heldOut.toFixed(3)})`)
  const none = world(11, false)
  const refused = await alignUnsupervised(none.x, none.z, { ...OPTS, restarts: 3 }, engine)
  t.equal(refused.evidence.runs.length, 3, 'no restart is confirmed: every allowed restart runs')
  const verdict = judge(refused.evidence)
  t.equal(verdict.reliable, false)
  t.match(verdict.reasons.join('; '), /3 of up to 3 restarts run/)
})

t.test('the verdict: each rule refuses on its own', async t => {
  const run = (over: Partial<AlignmentRun>): AlignmentRun => ({ restart: 0, seed: 1, start: 'sorted-similarity', iterations: 300, selfLearningRows: { source: 3000, target: 3000 }, converged: true, objective: 0.5, mutualRate: 0.6, meanCsls: 0.53, heldOut: 0.86, ms: 1, ...over })
  const nullRun = run({ restart: -1, start: 'random', meanCsls: 0.255, heldOut: 0.13, mutualRate: 0.55 })
  const evidence = (runs: AlignmentRun[], agreement: number | null): UnsupervisedEvidence => ({ runs, null: nullRun, best: 0, agreement, restartsAllowed: 6 })
  const good = judge(evidence([run({})], null))
  t.equal(good.reliable, true, good.reasons.join('; '))
  t.match(good.reasons.join('; '), /86% of the other half \(13% for the null\)/)
  t.match(good.reasons.join('; '), /no other restart cleared the null \(1 of up to 6 restarts run\)/)
  t.equal(judge(evidence([run({}), run({ restart: 1 })], 0.96)).reliable, true, 'a second run that agrees')
  const contradicted = judge(evidence([run({}), run({ restart: 1 })], 0.1))
  t.equal(contradicted.reliable, false)
  t.match(contradicted.reasons.join('; '), /contradict/)
  const overfit = judge(evidence([run({ heldOut: 0.3 })], null))
  t.equal(overfit.reliable, false, 'high CSLS but its pairs do not predict each other')
  t.match(overfit.reasons.join('; '), /needs 50%/)
  const nullAlike = judge({ ...evidence([run({ heldOut: 0.8 })], null), null: { ...nullRun, heldOut: 0.7 } })
  t.equal(nullAlike.reliable, false, 'misses 20% where the null misses 30%: not half')
  t.equal(judge(evidence([run({ meanCsls: 0.31 })], null)).reliable, false, 'too close to the null\'s mean CSLS')
  t.equal(judge(evidence([run({ converged: false })], null)).reliable, false, 'not converged')
  t.equal(judge({ ...evidence([run({})], null), anchorCheck: { count: 10, top1: 0.2 } }).reliable, false, 'known pairs disagree')
})
