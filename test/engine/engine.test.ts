/**
 * Engine behaviour: zero rows, chunking, matmul, option validation, the session cache bound.
 * Numeric comparisons use the scaled error of the golden tests (1e-5 · max(1, |expected|)).
 */
import t from 'tap'
import { createEngine, type EngineConfig } from '../../src/engine/index.js'
import type { Matrix } from '../../src/math/matrix.js'
import type { RelativeOptions } from '../../src/engine/types.js'
import { matmulReference, maxScaledError, randomMatrix, relativeReference, rng } from './fixtures/reference.js'

function config (overrides: Partial<EngineConfig>): EngineConfig {
  return { executionProviders: ['cpu'], strict: true, intraOpThreads: 1, workers: 0, rowBudget: 4096, sessionCacheSize: 8, ...overrides }
}

const m = (rows: number, cols: number, values: number[]): Matrix => ({ rows, cols, data: Float32Array.from(values) })
const row = (x: Matrix, i: number): number[] => Array.from(x.data.subarray(i * x.cols, (i + 1) * x.cols))
const ALL: RelativeOptions['projections'] = ['cosine', 'angular', 'euclidean', 'l1', 'linf', 'dot']

const inline = await createEngine(config({}))
const pooled = await createEngine(config({ workers: 2, rowBudget: 1000 }))
t.teardown(async () => { await inline.close(); await pooled.close() })

t.test('zero rows give zeros in cosine and angular blocks, never NaN, and are counted', async t => {
  const x = m(3, 2, [0, 0, 3, 4, 0, 0])
  const a = m(2, 2, [1, 0, 0, 2])
  for (const normalize of ['none', 'l2', 'layernorm'] as const) {
    for (const topK of [undefined, 1]) {
      const r = await inline.relative(x, a, { projections: ALL, center: false, normalize, topK, power: 2 })
      t.equal(r.zeroRows, 2, `zero rows counted (${normalize}, topK ${topK ?? '-'})`)
      t.notOk(r.matrix.data.some(v => Number.isNaN(v)), `no NaN (${normalize}, topK ${topK ?? '-'})`)
    }
  }
  const r = await inline.relative(x, a, { projections: ALL, center: false, normalize: 'none' })
  // Blocks: cosine, angular, euclidean, l1, linf, dot (2 anchors each).
  t.same(row(r.matrix, 0), [0, 0, 0, 0, 1, 2, 1, 2, 1, 2, 0, 0], 'distances stay defined: the anchors\' norms')
  t.ok(maxScaledError(row(r.matrix, 1).slice(0, 4), [0.6, 0.8, Math.acos(0.6) / Math.PI, Math.acos(0.8) / Math.PI]) < 1e-6, 'a non-zero row is unaffected')
})

t.test('zero rows after centring, and anchors that centre to zero', async t => {
  // The anchors' mean is (3, 1), exactly representable, so the second row centres to exactly 0.
  const a = m(4, 2, [2, 1, 4, 1, 3, 4, 3, -2])
  const r = await inline.relative(m(2, 2, [0, 0, 3, 1]), a, { projections: ['cosine', 'angular'], center: true, normalize: 'none' })
  t.equal(r.zeroRows, 1)
  t.same(row(r.matrix, 1), [0, 0, 0, 0, 0, 0, 0, 0])
  const single = await inline.relative(m(1, 2, [5, 7]), m(1, 2, [1, 1]), { projections: ALL, center: true, normalize: 'layernorm' })
  t.notOk(single.matrix.data.some(v => Number.isNaN(v)), 'one anchor centres to zero: no NaN')
})

t.test('angular stays accurate when an input duplicates an anchor', async t => {
  // arccos of a float32 cosine would be off by ~1e-4 here (docs/engine-notes.md §8).
  const random = rng(3)
  const a = randomMatrix(16, 768, random)
  const nudged = Float32Array.from(a.data.subarray(768, 1536), v => v + 1e-4)
  const x: Matrix = { rows: 3, cols: 768, data: new Float32Array(3 * 768) }
  x.data.set(a.data.subarray(0, 768), 0)
  x.data.set(nudged, 768)
  x.data.set(a.data.subarray(2 * 768, 3 * 768).map(v => -v), 2 * 768)
  const r = await inline.relative(x, a, { projections: ['angular'], center: false, normalize: 'none' })
  const expected = relativeReference(x, a, { projections: ['angular'], center: false, normalize: 'none' })
  t.ok(r.matrix.data[0] < 1e-6, `duplicate: ${r.matrix.data[0]}`)
  t.ok(Math.abs(r.matrix.data[16 + 1] - expected.matrix.data[16 + 1]) < 1e-6, 'near-duplicate within 1e-6')
  t.ok(Math.abs(r.matrix.data[32 + 2] - 1) < 1e-6, 'antipode: 1')
  t.ok(maxScaledError(r.matrix.data, expected.matrix.data) < 1e-6, 'all pairs within 1e-6 of float64')
})

t.test('a 10,000-row input in 1,000-row chunks equals the unchunked result', async t => {
  const random = rng(11)
  const x = randomMatrix(10_000, 32, random)
  const a = randomMatrix(40, 32, random)
  x.data.fill(0, 0, 32) // a zero row in the first chunk
  const opts: RelativeOptions = { projections: ['cosine', 'angular', 'euclidean', 'dot'], center: true, topK: 10, power: 2, normalize: 'layernorm' }
  const whole = await createEngine(config({ rowBudget: 10_000 }))
  t.teardown(async () => { await whole.close() })
  const unchunked = await whole.relative(x, a, opts)
  const chunked = await pooled.relative(x, a, opts)
  t.equal(chunked.matrix.rows, 10_000)
  t.equal(chunked.matrix.cols, 160)
  t.equal(chunked.zeroRows, unchunked.zeroRows, 'zero rows summed over chunks')
  let differing = 0
  for (let i = 0; i < x.data.length; i++) if (chunked.matrix.data[i] !== unchunked.matrix.data[i]) differing++
  t.ok(maxScaledError(chunked.matrix.data, unchunked.matrix.data) <= 1e-6, `max difference ≤ 1e-6 (${differing} values not bit-identical)`)
})

t.test('l1 / linf chunk rows to the pairwise memory budget', async t => {
  const random = rng(12)
  const x = randomMatrix(300, 64, random)
  const a = randomMatrix(50, 64, random)
  // l1 needs 2·50·64·8 = 51,200 bytes per row: a 1 MB budget gives 20-row chunks (15 of them).
  const small = await createEngine(config({ workers: 2, pairwiseBudgetBytes: 1 << 20 }))
  t.teardown(async () => { await small.close() })
  const opts: RelativeOptions = { projections: ['l1', 'linf', 'cosine'], center: false, normalize: 'none' }
  const r = await small.relative(x, a, opts)
  const expected = relativeReference(x, a, opts)
  t.ok(maxScaledError(r.matrix.data, expected.matrix.data) <= 1e-5, 'matches the float64 reference')
})

t.test('options: topK larger than the anchors keeps all; power without topK applies to all', async t => {
  const x = m(2, 2, [1, 0, 0, 1])
  const a = m(3, 2, [1, 0, 1, 1, -1, 0])
  const all = await inline.relative(x, a, { projections: ['dot'], center: false, normalize: 'none', topK: 99 })
  t.same(Array.from(all.matrix.data), [1, 1, -1, 0, 1, 0])
  const cubed = await inline.relative(x, a, { projections: ['dot'], center: false, normalize: 'none', power: 3 })
  t.same(Array.from(cubed.matrix.data), [1, 1, -1, 0, 1, 0])
  const squared = await inline.relative(x, a, { projections: ['dot'], center: false, normalize: 'none', power: 2 })
  t.same(Array.from(squared.matrix.data), [1, 1, -1, 0, 1, 0], 'even power keeps the sign (sign(v)·|v|^p)')
  const top1 = await inline.relative(x, a, { projections: ['dot', 'cosine'], center: false, normalize: 'none', topK: 1 })
  t.equal(top1.matrix.cols, 6, 'blocks concatenated')
  t.same(row(top1.matrix, 1), [0, 1, 0, 0, Math.fround(Math.SQRT1_2), 0], 'top-k per block')
})

t.test('invalid options and shapes are rejected', async t => {
  const x = m(1, 2, [1, 2])
  const a = m(1, 2, [1, 2])
  const base: RelativeOptions = { projections: ['cosine'], center: false, normalize: 'none' }
  await t.rejects(inline.relative(x, m(1, 3, [1, 2, 3]), base), RangeError, 'column mismatch')
  await t.rejects(inline.relative(x, m(0, 2, []), base), RangeError, 'no anchors')
  await t.rejects(inline.relative(x, a, { ...base, projections: [] }), RangeError, 'no projection')
  await t.rejects(inline.relative(x, a, { ...base, projections: ['cosh' as 'cosine'] }), RangeError, 'unknown projection')
  await t.rejects(inline.relative(x, a, { ...base, topK: 0 }), RangeError, 'topK 0')
  await t.rejects(inline.relative(x, a, { ...base, topK: 1.5 }), RangeError, 'fractional topK')
  await t.rejects(inline.relative(x, a, { ...base, power: 0 }), RangeError, 'power 0')
  await t.rejects(inline.relative(x, a, { ...base, power: Number.NaN }), RangeError, 'power NaN')
  await t.rejects(inline.relative({ rows: 2, cols: 2, data: new Float32Array(3) }, a, base), RangeError, 'data length')
  const empty = await inline.relative(m(0, 2, []), a, base)
  t.same([empty.matrix.rows, empty.matrix.cols, empty.zeroRows], [0, 1, 0], 'no rows in, no rows out')
  await t.rejects(createEngine(config({ workers: -1 })), RangeError)
  await t.rejects(createEngine(config({ rowBudget: 0 })), RangeError)
})

t.test('matmul through ORT, with and without transposeB, chunked', async t => {
  const random = rng(5)
  const a = randomMatrix(37, 19, random)
  const b = randomMatrix(19, 23, random)
  const bt = randomMatrix(23, 19, random)
  const chunky = await createEngine(config({ workers: 2, rowBudget: 8 }))
  t.teardown(async () => { await chunky.close() })
  for (const engine of [inline, chunky]) {
    const ab = await engine.matmul(a, b)
    t.same([ab.rows, ab.cols], [37, 23])
    t.ok(maxScaledError(ab.data, matmulReference(a, b).data) < 1e-5, 'a·b')
    const abt = await engine.matmul(a, bt, { transposeB: true })
    t.same([abt.rows, abt.cols], [37, 23])
    t.ok(maxScaledError(abt.data, matmulReference(a, bt, true).data) < 1e-5, 'a·bᵀ')
  }
  await t.rejects(inline.matmul(a, a), RangeError, 'inner dimensions must agree')
  const none = await inline.matmul(m(2, 0, []), m(0, 3, []))
  t.same([none.rows, none.cols, Array.from(none.data)], [2, 3, [0, 0, 0, 0, 0, 0]], 'empty inner dimension gives zeros')
})

t.test('the session cache stays within its bound and evicts least recently used', async t => {
  for (const workers of [0, 1]) {
    const engine = await createEngine(config({ workers, sessionCacheSize: 2 }))
    const x = m(1, 2, [1, 2])
    const a = m(2, 2, [1, 0, 0, 1])
    const shapes: RelativeOptions[] = (['cosine', 'dot', 'l1', 'linf'] as const).map(p => ({ projections: [p], center: false, normalize: 'none' }))
    for (const opts of shapes) await engine.relative(x, a, opts)
    let stats = await engine.sessionStats()
    t.equal(stats.sessions, 2, `at most 2 sessions kept (workers: ${workers})`)
    t.equal(stats.created, 4)
    t.match(stats.keys, [/:l1:/, /:linf:/], 'the two most recent remain, oldest first')
    await engine.relative(x, a, shapes[3])
    stats = await engine.sessionStats()
    t.equal(stats.created, 4, 'a cached graph is reused')
    await engine.relative(x, a, shapes[0])
    stats = await engine.sessionStats()
    t.equal(stats.created, 5, 'an evicted graph is rebuilt')
    t.equal(stats.sessions, 2)
    await engine.close()
    await t.rejects(engine.relative(x, a, shapes[0]), /closed/, 'a closed engine refuses work')
  }
})
