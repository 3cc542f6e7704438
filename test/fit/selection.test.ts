/**
 * How the fit chooses what its options leave open: the selection space and metric, the default
 * (a scaling chosen by cross-validation), held-out scores in both spaces, and pruning.
 */
import t from 'tap'
import { createEngine } from '../../src/engine/index.js'
import { fitTranslator, FALLBACK_SCALING, SCALINGS, type Scaling } from '../../src/fit/index.js'
import { pairedTie } from '../../src/fit/fit.js'
import { applyMap64 } from '../../src/translators/map.js'
import { takeRows, type Matrix } from '../../src/math/matrix.js'
import { createRng } from '../../src/math/random.js'
import { gaussian, mapRows, randomMatrix64, randomOrthogonal, toMatrix } from './fixtures/data.js'

const engine = await createEngine({ executionProviders: ['cpu'], strict: true, intraOpThreads: 1, workers: 1, rowBudget: 4096, sessionCacheSize: 8 })
t.teardown(async () => { await engine.close() })

/** Share of rows whose translation's most cosine-similar raw target row (among `y`) is their own. */
function rawTop1 (translated: Float64Array, y: Matrix): number {
  const { rows: n, cols: d } = y
  const norm = (a: ArrayLike<number>, at: number): number => { let s = 0; for (let j = 0; j < d; j++) s += a[at + j] ** 2; return Math.sqrt(s) }
  let hits = 0
  for (let i = 0; i < n; i++) {
    let best = -Infinity
    let arg = -1
    const qn = norm(translated, i * d)
    for (let k = 0; k < n; k++) {
      let dot = 0
      for (let j = 0; j < d; j++) dot += translated[i * d + j] * y.data[k * d + j]
      const cosine = dot / (qn * norm(y.data, k * d))
      if (cosine > best) { best = cosine; arg = k }
    }
    if (arg === i) hits++
  }
  return hits / n
}

/**
 * Targets y = x·Q + a·c + noise: a shared offset c whose size a varies from item to item and is
 * not predictable from x. Centred retrieval removes most of c; raw retrieval (what a vector index
 * of the target model does) keeps it, and the scalings differ in how their output sits against it.
 */
function offsetData (seed: number): { x: Matrix, y: Matrix } {
  const n = 600
  const d = 16
  const rng = createRng(seed * 100)
  const z = randomMatrix64(n, d, seed)
  const q = randomOrthogonal(d, seed + 50)
  const c = Array.from({ length: d }, () => gaussian(rng))
  const y = new Float32Array(n * d)
  for (let i = 0; i < n; i++) {
    const a = 4 + 2 * gaussian(rng)
    for (let j = 0; j < d; j++) {
      let v = 0
      for (let k = 0; k < d; k++) v += z.data[i * d + k] * q.data[k * d + j]
      y[i * d + j] = v + a * c[j] + 0.6 * gaussian(rng)
    }
  }
  return { x: toMatrix(z), y: { rows: n, cols: d, data: y } }
}

const range = (from: number, to: number): number[] => Array.from({ length: to - from }, (_, i) => from + i)

t.test('raw and centred retrieval disagree on a shared offset; raw selection picks the map raw retrieval serves best', async t => {
  // Seeds on which centred selection, paired rule included, chooses another scaling than raw.
  for (const seed of [2, 3]) {
    const { x, y } = offsetData(seed)
    const anchors = range(0, 200)
    const unseen = range(200, 600)
    const [xa, ya] = [takeRows(x, anchors), takeRows(y, anchors)]
    const unseenTop1 = async (scaling: Scaling): Promise<number> => {
      const fitted = await fitTranslator(xa, ya, { method: 'procrustes', scaling, holdout: 0, folds: 5, seed: 0 }, engine)
      return rawTop1(applyMap64(takeRows(x, unseen), fitted.map), takeRows(y, unseen))
    }
    const truth = new Map<Scaling, number>()
    for (const scaling of SCALINGS) truth.set(scaling, await unseenTop1(scaling))
    const best = [...truth].reduce((a, b) => b[1] > a[1] ? b : a)

    const byDefault = await fitTranslator(xa, ya, { method: 'procrustes', holdout: 0, folds: 5, seed: 0 }, engine)
    const centred = await fitTranslator(xa, ya, { method: 'procrustes', holdout: 0, folds: 5, seed: 0, selection: { space: 'centered' } }, engine)
    t.equal(byDefault.method, 'procrustes', 'the named method')
    t.equal(byDefault.scaling, best[0], `seed ${seed}: the default chose ${byDefault.scaling}, the best on unseen rows by raw retrieval (${[...truth].map(([s, v]) => `${s} ${v.toFixed(3)}`).join(', ')})`)
    t.not(centred.scaling, byDefault.scaling, `seed ${seed}: centred selection chose otherwise (${centred.scaling})`)
    t.ok(truth.get(byDefault.scaling)! > truth.get(centred.scaling)! + 0.05, `seed ${seed}: by more than 0.05 on unseen rows`)
    t.match(byDefault.diagnostics.selection, { space: 'raw', metric: 'top1', chose: ['scaling'], folds: 5 }, 'the choice is reported')
    t.equal(byDefault.diagnostics.candidates?.length, SCALINGS.length, 'with every scaling scored')
    const top = byDefault.diagnostics.candidates!.reduce((a, b) => b.score > a.score ? b : a)
    t.equal(byDefault.diagnostics.selection?.score, top.score, 'the reported score is the best candidate\'s')
  }
})

t.test('a fit naming its method and scaling cross-validates nothing', async t => {
  const { x, y } = offsetData(2)
  const named = await fitTranslator(x, y, { method: 'procrustes', scaling: 'l2', holdout: 0, folds: 5, seed: 0 }, engine)
  t.equal(named.diagnostics.selection, undefined)
  t.equal(named.diagnostics.candidates, undefined)
  const auto = await fitTranslator(x, y, { method: 'linear', holdout: 0, folds: 5, seed: 0 }, engine)
  t.match(auto.diagnostics.selection, { chose: ['scaling'] }, 'a named method with no scaling chooses the scaling')
  t.ok(auto.diagnostics.candidates?.every(c => c.method === 'linear'), 'among that method\'s candidates')
})

t.test('too few anchors to cross-validate: the default falls back to a fixed scaling', async t => {
  const two: Matrix = { rows: 2, cols: 3, data: Float32Array.from([1, 2, 3, 0, 1, 0]) }
  const fitted = await fitTranslator(two, two, { holdout: 0, folds: 5, seed: 0 }, engine)
  t.equal(fitted.scaling, FALLBACK_SCALING)
  t.equal(fitted.diagnostics.selection, undefined)
})

t.test('held-out scores in both spaces; heldOut is the selection space\'s', async t => {
  const { x, y } = offsetData(1)
  const raw = await fitTranslator(x, y, { scaling: 'center', holdout: 0.2, folds: 5, seed: 0 }, engine)
  const both = raw.diagnostics.heldOutBySpace
  t.ok(both !== null && both !== undefined)
  t.same(raw.diagnostics.heldOut, both?.raw)
  t.equal(both?.centered.count, 120)
  t.not(both?.raw.top1, both?.centered.top1, 'the spaces differ on offset data')
  const centred = await fitTranslator(x, y, { scaling: 'center', holdout: 0.2, folds: 5, seed: 0, selection: { space: 'centered' } }, engine)
  t.same(centred.diagnostics.heldOut, both?.centered)
  t.same(centred.diagnostics.heldOutBySpace, both, 'the same map scores the same in each space')
  const none = await fitTranslator(x, y, { scaling: 'center', holdout: 0, folds: 5, seed: 0 }, engine)
  t.equal(none.diagnostics.heldOutBySpace, null)
})

t.test('selection metrics: top1, mrr, recall@k rank the candidates; bad values are refused', async t => {
  const x64 = randomMatrix64(120, 12, 81)
  const x = toMatrix(x64)
  const y = mapRows(x64, randomMatrix64(12, 10, 82), { noise: 1.5, seed: 83 })
  for (const metric of ['top1', 'mrr', 'recall@10'] as const) {
    const fitted = await fitTranslator(x, y, { method: 'auto', holdout: 0, folds: 4, seed: 0, selection: { metric } }, engine)
    const candidates = fitted.diagnostics.candidates ?? []
    t.equal(fitted.diagnostics.selection?.metric, metric)
    for (const c of candidates) {
      if (metric === 'top1') t.equal(c.score, c.top1)
      if (metric === 'mrr') t.equal(c.score, c.mrr)
      if (metric === 'recall@10') t.ok(c.score >= c.top1 && c.score <= 1, `recall@10 ${c.score} ≥ top-1 ${c.top1}`)
    }
    const complete = candidates.filter(c => c.pruned === undefined)
    const best = complete.reduce((a, b) => (b.score > a.score || (b.score === a.score && b.meanCosine > a.meanCosine)) ? b : a)
    t.same([fitted.method, fitted.scaling], [best.method, best.scaling], `${metric}: the best candidate is kept`)
    // A pruned candidate's best possible score stays below the winner's.
    for (const c of candidates.filter(c => c.pruned === true)) t.ok(c.score <= 1 && best.score > 0, `${c.method}/${c.scaling} pruned`)
  }
  for (const selection of [{ metric: 'recall@0' }, { metric: 'recall@101' }, { metric: 'top2' }, { space: 'whitened' }]) {
    await t.rejects(fitTranslator(x, y, { method: 'auto', holdout: 0, folds: 4, seed: 0, selection: selection as any }, engine), RangeError, JSON.stringify(selection))
  }
})

t.test('pruning does not change the choice', async t => {
  // Easy data: strong candidates lead early, weak ones ('none' on offset targets) are pruned.
  const { x, y } = offsetData(4)
  const fitted = await fitTranslator(x, y, { method: 'auto', holdout: 0, folds: 5, seed: 0, ridge: 0.01 }, engine)
  const candidates = fitted.diagnostics.candidates ?? []
  const pruned = candidates.filter(c => c.pruned === true)
  t.ok(pruned.length > 0, `${pruned.length} of ${candidates.length} candidates pruned`)
  const complete = candidates.filter(c => c.pruned === undefined)
  const best = complete.reduce((a, b) => (b.score > a.score || (b.score === a.score && b.meanCosine > a.meanCosine)) ? b : a)
  t.same([fitted.method, fitted.scaling], [best.method, best.scaling])
  // Each pruned candidate, credited with every row it did not score, still falls short of the winner.
  const rows = 600
  for (const c of pruned) {
    // Its folds ran on at most 4/5 of the rows; the winner's hits are final.
    t.ok(c.score * rows * 0.8 + rows * 0.2 < best.score * rows + 1e-9 || c.score < best.score, `${c.method}/${c.scaling}: ${c.score.toFixed(3)} < ${best.score.toFixed(3)}`)
  }
})

t.test('inverse-relative with center and with l2 scaling are one map, cross-validated once', async t => {
  // Both centre and then normalise every row: the same scaled sides, so the same map and scores.
  const { x, y } = offsetData(5)
  const byCenter = await fitTranslator(x, y, { method: 'inverse-relative', scaling: 'center', ridge: 0.01, holdout: 0, folds: 5, seed: 0 }, engine)
  const byL2 = await fitTranslator(x, y, { method: 'inverse-relative', scaling: 'l2', ridge: 0.01, holdout: 0, folds: 5, seed: 0 }, engine)
  t.same(Array.from(byL2.map.weight.data), Array.from(byCenter.map.weight.data), 'weights equal')
  t.same([byL2.map.outputNorm, Array.from(byL2.map.targetMean)], [byCenter.map.outputNorm, Array.from(byCenter.map.targetMean)], 'output norm and mean equal')
  // Cross-validated once: the two candidates carry the one tally, so every score is identical.
  const fitted = await fitTranslator(x, y, { method: 'auto', holdout: 0, folds: 5, seed: 0 }, engine)
  const of = (scaling: Scaling): Record<string, unknown> | undefined => {
    const c = fitted.diagnostics.candidates?.find(c => c.method === 'inverse-relative' && c.scaling === scaling)
    return c === undefined ? undefined : { ridge: c.ridge, score: c.score, top1: c.top1, meanCosine: c.meanCosine, mrr: c.mrr, fitMs: c.fitMs }
  }
  t.ok(of('center') !== undefined)
  t.same(of('l2'), of('center'))
})

t.test('the default (no method, no scaling) chooses among Procrustes\' scalings and the affine map on unit rows', async t => {
  // A stretch no rotation can follow: y = x·diag(1..8)·Q + c. The affine map fits it; Procrustes cannot.
  const n = 400
  const d = 8
  const z = randomMatrix64(n, d, 7)
  const q = randomOrthogonal(d, 8)
  const y = new Float32Array(n * d)
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < d; j++) {
      let v = 3
      for (let k = 0; k < d; k++) v += z.data[i * d + k] * (k + 1) * q.data[k * d + j]
      y[i * d + j] = v
    }
  }
  const fitted = await fitTranslator(toMatrix(z), { rows: n, cols: d, data: y }, { holdout: 0, folds: 5, seed: 0 }, engine)
  t.same(fitted.diagnostics.candidates?.map(c => `${c.method} ${c.scaling}`), [...SCALINGS.map(s => `procrustes ${s}`), 'affine l2'])
  t.match(fitted.diagnostics.selection, { chose: ['method', 'scaling'] })
  t.same([fitted.method, fitted.scaling], ['affine', 'l2'], 'the stretch is fitted by the affine map')
  // With a rotation and an offset only, Procrustes keeps its place.
  const { x, y: rotated } = offsetData(1)
  const onRotation = await fitTranslator(x, rotated, { holdout: 0, folds: 5, seed: 0 }, engine)
  t.equal(onRotation.method, 'procrustes')
})

t.test('paired ties: the leader and every candidate within two standard errors of it are tied; the tied with the best poolScore wins', async t => {
  t.ok(pairedTie(Float64Array.from([1, 1, 0, 1]), Float64Array.from([1, 1, 0, 1])), 'equal rows tie')
  // 100 rows, the leader ahead on 30 and behind on 10: Σd = 20, √(Σd² − (Σd)²/n) = √(40 − 4) = 6, z·6 = 12 < 20.
  const lead = new Float64Array(100)
  const other = new Float64Array(100)
  for (let i = 0; i < 30; i++) lead[i] = 1
  for (let i = 30; i < 40; i++) other[i] = 1
  t.notOk(pairedTie(lead, other), 'a lead of 20 rows against a standard error of 6 is real')
  for (let i = 0; i < 18; i++) lead[i] = 0
  // Σd = 2, Σd² = 22: √(22 − 0.04) ≈ 4.7, z·4.7 ≈ 9.4 ≥ 2.
  t.ok(pairedTie(lead, other), 'a lead of 2 rows in 22 disagreements is not')
  // On the fit: every candidate marked tied has the best poolScore among tied ones or lost to one.
  const { x, y } = offsetData(3)
  const fitted = await fitTranslator(x, y, { method: 'auto', holdout: 0, folds: 5, seed: 0 }, engine)
  const candidates = fitted.diagnostics.candidates ?? []
  const tied = candidates.filter(c => c.tied === true)
  t.ok(tied.length >= 1, `${tied.length} tied`)
  const leader = candidates.filter(c => c.pruned === undefined).reduce((a, b) => (b.score > a.score || (b.score === a.score && b.meanCosine > a.meanCosine)) ? b : a)
  t.equal(leader.tied, true, 'the leader is among the tied')
  const chosen = tied.reduce((a, b) => ((b.poolScore ?? 0) > (a.poolScore ?? 0) || (b.poolScore === a.poolScore && b.meanCosine > a.meanCosine)) ? b : a)
  t.same([fitted.method, fitted.scaling], [chosen.method, chosen.scaling], 'the tied candidate with the best poolScore')
  t.ok(candidates.filter(c => c.tied === undefined && c.pruned === undefined).every(c => c.score < leader.score), 'untied candidates trail the leader')
  const byFold = await fitTranslator(x, y, { method: 'auto', holdout: 0, folds: 5, seed: 0, galleryRule: 'fold' }, engine)
  t.same([byFold.method, byFold.scaling], [leader.method, leader.scaling], 'without the paired rule the leader is chosen')
  t.not(`${byFold.method} ${byFold.scaling}`, `${fitted.method} ${fitted.scaling}`, 'and on this data the two rules choose differently')
})
