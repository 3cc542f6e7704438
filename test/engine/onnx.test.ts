/**
 * Model serialisation and graph builders, below the engine: encode/decode round trip, the
 * encodings ORT is picky about (int64 varints, raw_data, symbolic dims), and the LRU cache.
 */
import t from 'tap'
import ort from 'onnxruntime-node'
import { decodeModel, encodeModel, IR_VERSION, DEFAULT_OPSET } from '../../src/engine/onnx.js'
import type { GraphSpec } from '../../src/engine/onnx.js'
import { GraphBuilder } from '../../src/engine/graph-builder.js'
import { matmulGraph } from '../../src/engine/ops/matmul.js'
import { relativeGraph } from '../../src/engine/ops/relative.js'
import { LruCache } from '../../src/util/lru.js'
import { SessionStore, sessionOptions, tensor } from '../../src/engine/runtime.js'
import { maxScaledError, randomMatrix, relativeReference, rng } from './fixtures/reference.js'

t.test('a model decodes back to what was encoded', async t => {
  const bytes = encodeModel({
    graph: {
      name: 'g',
      nodes: [{ op: 'Transpose', inputs: ['X'], outputs: ['Y'], attributes: { perm: { ints: [1, 0] }, note: { string: 'ü' }, alpha: { float: 0.5 }, axis: { int: -1 } } }],
      inputs: [{ name: 'X', type: 'float32', shape: ['N', 3] }],
      outputs: [{ name: 'Y', type: 'float32', shape: [3, 'N'] }],
      initializers: [{ name: 'w', dims: [2], data: BigInt64Array.from([-1n, 2n ** 40n]) }]
    }
  })
  const model = decodeModel(bytes) as any
  t.equal(model.ir_version, IR_VERSION)
  t.same(model.opset_import, [{ domain: '', version: DEFAULT_OPSET }])
  t.ok(DEFAULT_OPSET >= 18, 'opset 18 or later')
  const attrs = Object.fromEntries(model.graph.node[0].attribute.map((a: any) => [a.name, a]))
  t.same(attrs.perm.ints, [1, 0])
  t.equal(attrs.axis.i, -1, 'negative int64 survives (10-byte varint)')
  t.equal(attrs.alpha.f, 0.5)
  t.equal(Buffer.from(attrs.note.s).toString('utf8'), 'ü')
  t.same(model.graph.input[0].type.tensor_type.shape.dim, [{ dim_param: 'N' }, { dim_value: 3 }])
  const raw = Buffer.from(model.graph.initializer[0].raw_data)
  t.same([raw.readBigInt64LE(0), raw.readBigInt64LE(8)], [-1n, 2n ** 40n], 'raw_data is little-endian int64')
  t.throws(() => encodeModel({ graph: { name: 'g', nodes: [], inputs: [], outputs: [], initializers: [{ name: 'w', dims: [3], data: new Float32Array(2) }] } }), RangeError)
})

/** Y = X·W + b with W [D, M] and b [M] baked in: a graph composed in the test, for the builder. */
function affineGraph (w: { rows: number, cols: number, data: Float32Array }, b: Float32Array): GraphSpec {
  if (b.length !== w.cols) throw new RangeError(`bias has ${b.length} values, W has ${w.cols} columns`)
  const g = new GraphBuilder()
  const wName = g.initializer('W', [w.rows, w.cols], w.data)
  const bName = g.initializer('b', [w.cols], b)
  g.named('Identity', [g.op('Gemm', ['X', wName, bName])], 'Y')
  return g.build('affine', [{ name: 'X', type: 'float32', shape: ['N', w.rows] }],
    [{ name: 'Y', type: 'float32', shape: ['N', w.cols] }])
}

t.test('builders compose into graphs ORT runs', async t => {
  const random = rng(2)
  const w = randomMatrix(6, 4, random)
  const b = Float32Array.from([1, -1, 0.5, 0])
  const x = randomMatrix(5, 6, random)
  const session = await ort.InferenceSession.create(encodeModel({ graph: affineGraph(w, b) }), sessionOptions('cpu', 1))
  t.teardown(async () => { await session.release() })
  const y = (await session.run({ X: tensor(x.data, [5, 6]) })).Y.data as Float32Array
  const expected = Array.from({ length: 20 }, (_, idx) => {
    const i = Math.floor(idx / 4)
    const j = idx % 4
    let s = b[j]
    for (let p = 0; p < 6; p++) s += x.data[i * 6 + p] * w.data[p * 4 + j]
    return s
  })
  t.ok(maxScaledError(y, expected) < 1e-5, 'x·W + b')
  t.throws(() => affineGraph(w, new Float32Array(3)), RangeError)
  t.same(matmulGraph(true).inputs.map(i => i.shape), [['M', 'K'], ['N', 'K']], 'symbolic dims for runtime operands')

  const g = new GraphBuilder()
  t.equal(g.constant('int64', [1]), g.constant('int64', [1]), 'equal constants are shared')
  t.not(g.constant('int64', [1]), g.constant('float32', [1]))
})

t.test('anchors baked in as an initializer give the same result as a runtime input', async t => {
  const random = rng(4)
  const x = randomMatrix(9, 12, random)
  const a = randomMatrix(7, 12, random)
  const params = { projections: ['cosine', 'angular', 'euclidean', 'l1', 'linf', 'dot'] as const, center: true, power: 1, normalize: 'none' as const }
  const store = new SessionStore('cpu', 1, 4)
  t.teardown(() => { store.close() })
  const baked = await store.run('baked', () => relativeGraph({ ...params, projections: [...params.projections], anchors: a }), { X: tensor(x.data, [9, 12]) })
  const input = await store.run('input', () => relativeGraph({ ...params, projections: [...params.projections] }), { X: tensor(x.data, [9, 12]), A: tensor(a.data, [7, 12]) })
  t.ok(maxScaledError(baked.Y.data, input.Y.data) < 1e-6)
  const expected = relativeReference(x, a, { ...params, projections: [...params.projections] })
  t.ok(maxScaledError(input.Y.data, expected.matrix.data) < 1e-5)
})

t.test('a graph that fails to build is not cached', async t => {
  const store = new SessionStore('cpu', 1, 4)
  t.teardown(() => { store.close() })
  const broken = () => ({ name: 'g', nodes: [{ op: 'NoSuchOp', inputs: ['X'], outputs: ['Y'] }], inputs: [{ name: 'X', type: 'float32' as const, shape: [1] }], outputs: [{ name: 'Y', type: 'float32' as const, shape: [1] }] })
  await t.rejects(store.run('bad', broken, { X: tensor(new Float32Array(1), [1]) }))
  await new Promise(resolve => setImmediate(resolve))
  t.equal(store.size, 0)
})

t.test('LRU cache: bound, recency, eviction callback', async t => {
  const evicted: string[] = []
  const cache = new LruCache<string, number>(2, (_v, k) => { evicted.push(k) })
  cache.set('a', 1)
  cache.set('b', 2)
  cache.get('a') // a is now the most recent
  cache.set('c', 3)
  t.same(evicted, ['b'])
  t.same(cache.keys(), ['a', 'c'])
  cache.set('a', 10) // replacing hands the old value to onEvict
  t.same(evicted, ['b', 'a'])
  t.equal(cache.peek('a'), 10)
  t.equal(cache.delete('c'), true)
  t.same(evicted, ['b', 'a'], 'delete does not call onEvict')
  cache.clear()
  t.same(evicted, ['b', 'a', 'a'])
  t.equal(cache.size, 0)
  t.throws(() => new LruCache(0))
})

t.test('LRU cache bounded by weight: oldest out past the bound, a value heavier than it not kept', async t => {
  const evicted: string[] = []
  const cache = new LruCache<string, number[]>(Infinity, (_v, k) => { evicted.push(k) }, { of: v => v.length, max: 5 })
  t.equal(cache.set('a', [1, 1]), true)
  t.equal(cache.set('b', [2, 2]), true)
  cache.get('a')
  t.equal(cache.set('c', [3, 3]), true, 'weight 6 > 5: the oldest (b) goes')
  t.same([evicted, cache.keys(), cache.totalWeight], [['b'], ['a', 'c'], 4])
  t.equal(cache.set('d', [4, 4, 4, 4, 4, 4]), false, 'heavier than the whole bound')
  t.same([evicted, cache.keys(), cache.totalWeight], [['b'], ['a', 'c'], 4], 'nothing kept, nothing evicted')
  t.equal(cache.delete('a'), true)
  t.equal(cache.totalWeight, 2)
  cache.set('c', [5])
  t.same([evicted, cache.totalWeight], [['b', 'c'], 1], 'a replaced value is evicted and its weight given back')
  cache.clear()
  t.equal(cache.totalWeight, 0)
})

t.teardown(async () => {
  // This file runs ORT without an engine: remove the empty log ORT leaves (docs/engine-notes.md §8).
  const { rm } = await import('node:fs/promises')
  const { tmpdir } = await import('node:os')
  await rm(`${tmpdir()}/mat-debug-${process.pid}.log`, { force: true })
})
