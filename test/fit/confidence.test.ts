import t from 'tap'
import { buildConfidence, confidenceOf } from '../../src/fit/confidence.js'
import { confidenceToStored, storedToConfidence } from '../../src/translators/record.js'
import type { TranslatorRecord } from '../../src/store/types.js'
import { fitTranslator } from '../../src/fit/index.js'
import { applyMap64 } from '../../src/translators/map.js'
import type { Matrix } from '../../src/math/matrix.js'
import { createRng } from '../../src/math/random.js'
import { testEngine } from '../helpers/app.js'
import { gaussian, orthogonal } from '../analysis/fixtures/data.js'

const D = 16

/**
 * Items of two regions and their images Y = X·Q + noise: region A spreads its items far apart
 * (unit scale), region B packs them tighter than the noise, so B's translations cannot tell
 * their items apart. The known answer: held-out A items are retrieved, B items mostly are not.
 */
function items (count: number, seed: number, q: Float64Array): { x: Matrix, y: Matrix, region: Uint8Array } {
  const rng = createRng(seed)
  const x = new Float32Array(count * D)
  const y = new Float32Array(count * D)
  const region = new Uint8Array(count)
  for (let i = 0; i < count; i++) {
    const b = i % 2
    region[i] = b
    for (let j = 0; j < D; j++) x[i * D + j] = (b === 0 ? 3 : -3) * (j === 0 ? 1 : 0) + (b === 0 ? 1 : 0.05) * gaussian(rng)
    for (let j = 0; j < D; j++) {
      let v = 0.1 * gaussian(rng)
      for (let k = 0; k < D; k++) v += x[i * D + k] * q[k * D + j]
      y[i * D + j] = v
    }
  }
  return { x: { rows: count, cols: D, data: x }, y: { rows: count, cols: D, data: y }, region }
}

/** Per row: is its own target the nearest (cosine after centring on the targets' mean)? */
function hits (translated: Float64Array, y: Matrix): Uint8Array {
  const n = y.rows
  const mean = new Float64Array(D)
  for (let i = 0; i < n; i++) for (let j = 0; j < D; j++) mean[j] += y.data[i * D + j] / n
  const unit = (row: ArrayLike<number>, offset: number): number[] => {
    const v = Array.from({ length: D }, (_, j) => row[offset + j] - mean[j])
    const norm = Math.hypot(...v)
    return v.map(c => c / norm)
  }
  const targets = Array.from({ length: n }, (_, i) => unit(y.data, i * D))
  const out = new Uint8Array(n)
  for (let i = 0; i < n; i++) {
    const q = unit(translated, i * D)
    let best = -1
    let bestScore = -Infinity
    for (let j = 0; j < n; j++) {
      const s = q.reduce((sum, v, c) => sum + v * targets[j][c], 0)
      if (s > bestScore) { bestScore = s; best = j }
    }
    out[i] = best === i ? 1 : 0
  }
  return out
}

/** P(score of a hit > score of a miss), ties half. */
function auc (score: Float64Array, hit: Uint8Array): number {
  let wins = 0
  let pairs = 0
  for (let i = 0; i < score.length; i++) {
    if (hit[i] !== 1) continue
    for (let j = 0; j < score.length; j++) {
      if (hit[j] !== 0) continue
      pairs++
      wins += score[i] > score[j] ? 1 : score[i] === score[j] ? 0.5 : 0
    }
  }
  return wins / pairs
}

t.test('confidence separates translations that retrieve their target from those that do not, on held-out items', async t => {
  const engine = await testEngine(t)
  const q = orthogonal(D, 4)
  const support = items(400, 1, q)
  const held = items(300, 2, q)
  const fitted = await fitTranslator(support.x, support.y, { method: 'procrustes', scaling: 'center', holdout: 0, folds: 5, seed: 0 }, engine)
  const model = await buildConfidence(support.x, support.y, fitted.map, engine, { seed: 0 })
  t.equal(model.k, 10)
  t.equal(model.support.rows, 400)
  const score = await confidenceOf(held.x, model, engine)
  t.ok(score.every(v => v >= 0 && v <= 1), 'every score is in [0, 1]')
  const hit = hits(applyMap64(held.x, fitted.map), held.y)
  const rate = (region: number): number => {
    let n = 0
    let h = 0
    for (let i = 0; i < hit.length; i++) if (held.region[i] === region) { n++; h += hit[i] }
    return h / n
  }
  t.ok(rate(0) > 0.9 && rate(1) < 0.5, `the known answer holds: region A top-1 ${rate(0).toFixed(2)}, region B ${rate(1).toFixed(2)}`)
  const a = auc(score, hit)
  t.ok(a > 0.85, `confidence predicts retrieval on held-out items: AUC ${a.toFixed(3)}`)
  let meanA = 0
  let meanB = 0
  for (let i = 0; i < score.length; i++) (held.region[i] === 0 ? (meanA += score[i]) : (meanB += score[i]))
  t.ok(meanA / 150 > meanB / 150 + 0.4, `region A scores high (${(meanA / 150).toFixed(2)}), region B low (${(meanB / 150).toFixed(2)})`)

  // The support's own rows spread over the range: the score is a percentile among them.
  const own = await confidenceOf(support.x, model, engine)
  const mean = own.reduce((s, v) => s + v, 0) / own.length
  t.ok(mean > 0.35 && mean < 0.75, `support rows average ${mean.toFixed(3)}`)
})

t.test('a stored model round-trips; old records have none; damaged ones fail loudly', async t => {
  const engine = await testEngine(t)
  const q = orthogonal(D, 5)
  const data = items(60, 3, q)
  const fitted = await fitTranslator(data.x, data.y, { method: 'procrustes', scaling: 'center', holdout: 0, folds: 5, seed: 0 }, engine)
  const model = await buildConfidence(data.x, data.y, fitted.map, engine, { maxSupport: 40, k: 5 })
  t.equal(model.support.rows, 40, 'a seeded sample when there are more rows than maxSupport')
  t.equal(model.k, 5)
  const stored = confidenceToStored(model)
  const record = (id: string, params: Record<string, Float32Array>, settings: Record<string, unknown>): TranslatorRecord =>
    ({ meta: { id, sourceDim: D, settings } as unknown as TranslatorRecord['meta'], params })
  const back = storedToConfidence(record('x', stored.params, { ...stored.settings }))
  t.ok(back !== null)
  t.same(Array.from(await confidenceOf(data.x, back!, engine)), Array.from(await confidenceOf(data.x, model, engine)))
  t.equal(storedToConfidence(record('old', {}, {})), null, 'a record from before confidence existed')
  t.throws(() => storedToConfidence(record('bad', { ...stored.params, confidenceMargins: new Float32Array(3) }, { ...stored.settings })), /damaged: parameter confidenceMargins/)
  await t.rejects(buildConfidence({ rows: 1, cols: D, data: new Float32Array(D) }, data.y, fitted.map, engine), /at least 2/)
  await t.rejects(confidenceOf({ rows: 1, cols: 3, data: new Float32Array(3) }, model, engine), /columns/)
})
