/**
 * The translator graph and the engine's translate / forget / matmul64 / polarStep: the graph
 * against a float64 JS evaluation of the LinearMap, the exported model bytes in a fresh ORT
 * session against engine.translate, chunking, and the per-worker session cache.
 */
import t from 'tap'
import ort from 'onnxruntime-node'
import { createEngine, type EngineConfig } from '../../src/engine/index.js'
import { translatorGraph, translatorModel, TRANSLATOR_IO } from '../../src/engine/ops/translate.js'
import { decodeModel } from '../../src/engine/onnx.js'
import type { LinearMap } from '../../src/translators/map.js'
import { applyMap64 } from '../../src/translators/map.js'
import { multiply64, transpose64 } from '../../src/math/linalg.js'
import type { Matrix } from '../../src/math/matrix.js'
import { createRng, type Rng } from '../../src/math/random.js'

function config (overrides: Partial<EngineConfig>): EngineConfig {
  return { executionProviders: ['cpu'], strict: true, intraOpThreads: 1, workers: 0, rowBudget: 4096, sessionCacheSize: 8, ...overrides }
}

const gaussian = (rng: Rng): number => Math.sqrt(-2 * Math.log(1 - rng.float())) * Math.cos(2 * Math.PI * rng.float())
function randomMatrix (rows: number, cols: number, rng: Rng, scale = 1, offset = 0): Matrix {
  return { rows, cols, data: Float32Array.from({ length: rows * cols }, () => offset + scale * gaussian(rng)) }
}

function randomMap (dx: number, dy: number, rng: Rng, normalizeInput: boolean, normalizeOutput: boolean): LinearMap {
  const vector = (n: number, scale: number, offset: number): Float32Array => Float32Array.from({ length: n }, () => offset + scale * gaussian(rng))
  return {
    sourceDim: dx,
    targetDim: dy,
    sourceMean: vector(dx, 1, 0.5),
    sourceScale: Float32Array.from({ length: dx }, () => 0.5 + rng.float()),
    normalizeInput,
    weight: randomMatrix(dx, dy, rng, 1 / Math.sqrt(dx)),
    bias: vector(dy, 0.1, 0),
    normalizeOutput,
    outputNorm: normalizeOutput ? 3.5 : 1,
    targetScale: Float32Array.from({ length: dy }, () => 0.5 + rng.float()),
    targetMean: vector(dy, 1, -0.5)
  }
}

/** max |a − e| / max(1, |e|) elementwise. */
function maxScaledError (actual: ArrayLike<number>, expected: ArrayLike<number>): number {
  let worst = 0
  for (let i = 0; i < expected.length; i++) worst = Math.max(worst, Math.abs(actual[i] - expected[i]) / Math.max(1, Math.abs(expected[i])))
  return worst
}

const inline = await createEngine(config({}))
const pooled = await createEngine(config({ workers: 2, rowBudget: 64 }))
t.teardown(async () => { await inline.close(); await pooled.close() })

t.test('the graph computes the LinearMap (float64 JS reference), every flag combination', async t => {
  const rng = createRng(11)
  for (const [dx, dy] of [[12, 7], [7, 12], [64, 64]]) {
    for (const normalizeInput of [false, true]) {
      for (const normalizeOutput of [false, true]) {
        const map = randomMap(dx, dy, rng, normalizeInput, normalizeOutput)
        const x = randomMatrix(33, dx, rng, 2)
        const y = await inline.translate(x, map, `ref:${dx}:${dy}:${String(normalizeInput)}:${String(normalizeOutput)}`)
        t.same([y.rows, y.cols], [33, dy])
        const error = maxScaledError(y.data, applyMap64(x, map))
        t.ok(error < 1e-5, `${dx} → ${dy}, normalizeInput ${String(normalizeInput)}, normalizeOutput ${String(normalizeOutput)}: ${error.toExponential(2)}`)
      }
    }
  }
})

t.test('zero-norm rows stay finite (ε = 1e-12), as in the formula', async t => {
  const rng = createRng(5)
  const map = randomMap(4, 3, rng, true, true)
  // Rows equal to the source mean centre to exactly zero.
  const x: Matrix = { rows: 2, cols: 4, data: new Float32Array(8) }
  x.data.set(map.sourceMean, 0)
  x.data.set(map.sourceMean, 4)
  x.data[7] += 1
  const y = await inline.translate(x, map, 'zero-rows')
  t.notOk(y.data.some(v => !Number.isFinite(v)), 'no NaN or Inf')
  const expected = applyMap64(x, map)
  t.ok(maxScaledError(y.data, expected) < 1e-5, 'matches the formula (the zero row maps to outputNorm·b/‖b‖, scaled and shifted)')
})

t.test('the exported bytes in a fresh ORT session give exactly what engine.translate gives', async t => {
  const rng = createRng(7)
  const map = randomMap(48, 40, rng, true, true)
  const x = randomMatrix(50, 48, rng)
  const bytes = translatorModel(map)
  const session = await ort.InferenceSession.create(bytes)
  t.teardown(async () => { await session.release() })
  const fresh = (await session.run({ [TRANSLATOR_IO.x]: new ort.Tensor('float32', x.data, [50, 48]) }))[TRANSLATOR_IO.output]
  t.same(fresh.dims, [50, 40], 'output y [N, targetDim]')
  for (const engine of [inline, pooled]) {
    const y = await engine.translate(x, map, 'export')
    t.ok(Buffer.from(y.data.buffer).equals(Buffer.from((fresh.data as Float32Array).buffer)), 'bit-identical')
  }
  const model = decodeModel(bytes) as { graph: { input: Array<{ name: string }>, output: Array<{ name: string }> } }
  t.same(model.graph.input.map(v => v.name), ['x'])
  t.same(model.graph.output.map(v => v.name), ['y'])
  t.same(translatorModel(map), bytes, 'the bytes are deterministic')
  t.equal(translatorGraph(map).initializers?.find(i => i.name.startsWith('weight'))?.dims.join('x'), '48x40', 'weight baked in')
})

t.test('chunks by the row budget; results equal the unchunked run', async t => {
  const rng = createRng(9)
  const map = randomMap(16, 9, rng, false, true)
  const x = randomMatrix(1000, 16, rng)
  const whole = await inline.translate(x, map, 'chunks')
  const chunked = await pooled.translate(x, map, 'chunks')
  t.ok(Buffer.from(whole.data.buffer).equals(Buffer.from(chunked.data.buffer)), '1,000 rows in chunks of 64 over 2 workers: identical')
  const empty = await pooled.translate({ rows: 0, cols: 16, data: new Float32Array(0) }, map, 'chunks')
  t.same([empty.rows, empty.cols], [0, 9])
  await t.rejects(pooled.translate(randomMatrix(2, 15, rng), map, 'chunks'), RangeError, 'wrong input width')
  await t.rejects(pooled.translate(x, { ...map, bias: new Float32Array(3) }, 'bad'), RangeError, 'inconsistent map')
})

t.test('sessions are built once per key and worker, reused, evicted (LRU) and forgotten', async t => {
  const rng = createRng(13)
  const engine = await createEngine(config({ workers: 1, sessionCacheSize: 2 }))
  t.teardown(async () => { await engine.close() })
  const maps = [0, 1, 2].map(() => randomMap(6, 5, rng, false, false))
  const x = randomMatrix(4, 6, rng)
  const expected = maps.map(m => applyMap64(x, m))
  const check = async (i: number, label: string): Promise<void> => {
    const y = await engine.translate(x, maps[i], `k${i}`)
    t.ok(maxScaledError(y.data, expected[i]) < 1e-5, label)
  }
  await check(0, 'first use builds the session')
  await check(0, 'second use reuses it')
  t.same((await engine.sessionStats()).translators, ['k0'])
  await check(1, 'a second key')
  await check(2, 'a third key evicts the least recently used')
  t.same((await engine.sessionStats()).translators, ['k1', 'k2'])
  // The engine still believes the worker holds k0: the worker says it does not, the chunk is
  // sent again with the map.
  await check(0, 'an evicted key is rebuilt from the map sent again')
  t.same((await engine.sessionStats()).translators, ['k2', 'k0'])
  await engine.forget('k2')
  t.same((await engine.sessionStats()).translators, ['k0'], 'forget drops it')
  await check(2, 'a forgotten key can be used again (its map is sent)')
  await engine.forget('never-used')
  await inline.forget('k0')
})

t.test('forget reaches every worker', async t => {
  const rng = createRng(17)
  const map = randomMap(8, 8, rng, false, false)
  const x = randomMatrix(600, 8, rng)
  await pooled.translate(x, map, 'everywhere')
  await pooled.forget('everywhere')
  const stats = await Promise.all([pooled.sessionStats(), pooled.sessionStats()])
  for (const s of stats) t.notOk(s.translators.includes('everywhere'))
  const y = await pooled.translate(x, map, 'everywhere')
  t.ok(maxScaledError(y.data, applyMap64(x, map)) < 1e-5, 'usable again')
})

t.test('matmul64 is float64 exact, with transposes', async t => {
  const rng = createRng(19)
  const m64 = (rows: number, cols: number): { rows: number, cols: number, data: Float64Array } => ({ rows, cols, data: Float64Array.from({ length: rows * cols }, () => gaussian(rng)) })
  const a = m64(30, 20)
  const b = m64(20, 25)
  const at = transpose64(a)
  const bt = transpose64(b)
  const expected = multiply64(a, b)
  for (const engine of [inline, pooled]) {
    for (const [left, right, opts] of [[a, b, {}], [at, b, { transposeA: true }], [a, bt, { transposeB: true }], [at, bt, { transposeA: true, transposeB: true }]] as const) {
      const y = await engine.matmul64(left, right, opts)
      t.same([y.rows, y.cols], [30, 25])
      t.ok(maxScaledError(y.data, expected.data) < 1e-13, `transposeA ${String(opts.transposeA === true)}, transposeB ${String(opts.transposeB === true)}`)
    }
  }
  t.same(a.data.length, 600, 'operands are not detached')
  await t.rejects(inline.matmul64(a, a), RangeError)
  const empty = await inline.matmul64({ rows: 2, cols: 0, data: new Float64Array(0) }, { rows: 0, cols: 3, data: new Float64Array(0) })
  t.same(Array.from(empty.data), [0, 0, 0, 0, 0, 0])
})

t.test('polarStep runs one float64 polynomial step', async t => {
  const x = { rows: 3, cols: 2, data: Float64Array.from([2, 0, 0, 1, 0, 0]) }
  // Normalised by α = ‖XᵀX‖_F^{1/2} = (16 + 1)^{1/4}; coefficients (1, 0, 0) leave X/α.
  const r = await pooled.polarStep(x, [1, 0, 0], true)
  t.ok(Math.abs(r.scale - 17 ** 0.25) < 1e-12, 'scale')
  t.ok(Math.abs(r.x.data[0] - 2 / 17 ** 0.25) < 1e-12)
  t.equal(r.change, 0)
  // X ← 1.5X − 0.5·X·XᵀX on a diagonal: σ → 1.5σ − 0.5σ³.
  const s = await inline.polarStep({ rows: 2, cols: 3, data: Float64Array.from([0.5, 0, 0, 0, 1, 0]) }, [1.5, -0.5, 0], false)
  t.ok(Math.abs(s.x.data[0] - (0.75 - 0.0625)) < 1e-15 && Math.abs(s.x.data[4] - 1) < 1e-15, 'wide orientation')
})
