/**
 * Shared memory between the main thread and the workers: inputs that arrive in a
 * SharedArrayBuffer (pooled request bodies, stacked batches) give bit for bit the answers of the
 * same rows in ordinary memory, in worker and inline mode; keyed anchors stay resident in a
 * worker and are not resent, and a worker that evicted them is sent them again.
 */
import t from 'tap'
import { createEngine, type EngineConfig } from '../../src/engine/index.js'
import type { Matrix } from '../../src/math/matrix.js'
import type { RelativeOptions, TranslatorMapSpec } from '../../src/engine/types.js'
import { randomMatrix, rng } from './fixtures/reference.js'

function config (overrides: Partial<EngineConfig>): EngineConfig {
  return { executionProviders: ['cpu'], strict: true, intraOpThreads: 1, workers: 0, rowBudget: 4096, sessionCacheSize: 8, ...overrides }
}

/** The same matrix, its data in a SharedArrayBuffer (at an offset, as a pooled body's view is). */
function inShared (m: Matrix): Matrix {
  const data = new Float32Array(new SharedArrayBuffer((m.data.length + 8) * 4), 16, m.data.length)
  data.set(m.data)
  return { rows: m.rows, cols: m.cols, data }
}

const COSINE: RelativeOptions = { projections: ['cosine', 'l1'], center: true, normalize: 'l2' }

function linearMap (dim: number, random: () => number): TranslatorMapSpec {
  const w = randomMatrix(dim, dim, random)
  return {
    sourceDim: dim,
    targetDim: dim,
    sourceMean: randomMatrix(1, dim, random).data,
    sourceScale: new Float32Array(dim).fill(1.5),
    normalizeInput: false,
    weight: w,
    bias: randomMatrix(1, dim, random).data,
    normalizeOutput: false,
    outputNorm: 1,
    targetScale: new Float32Array(dim).fill(0.5),
    targetMean: new Float32Array(dim)
  }
}

for (const workers of [0, 2]) {
  t.test(`inputs in shared memory give the same bits as in ordinary memory (${workers} workers)`, async t => {
    const engine = await createEngine(config({ workers, rowBudget: 100 }))
    t.teardown(async () => { await engine.close() })
    const random = rng(5 + workers)
    const a = randomMatrix(40, 32, random)
    const map = linearMap(32, random)
    // 1 row (padded to two), 7 rows (one chunk), 250 rows (three chunks).
    for (const rows of [1, 7, 250]) {
      const x = randomMatrix(rows, 32, random)
      const shared = inShared(x)
      t.same((await engine.relative(shared, a, COSINE)).matrix.data, (await engine.relative(x, a, COSINE)).matrix.data, `relative, ${rows} rows`)
      t.same((await engine.translate(shared, map, 'm')).data, (await engine.translate(x, map, 'm')).data, `translate, ${rows} rows`)
      t.same((await engine.matmul(shared, a, { transposeB: true })).data, (await engine.matmul(x, a, { transposeB: true })).data, `matmul, ${rows} rows`)
      t.same(shared.data, x.data, 'the shared input is left as it was')
    }
  })
}

t.test('keyed anchors stay resident in the worker; an evicted one is sent again', async t => {
  const random = rng(11)
  const a1 = randomMatrix(200, 64, random)
  const a2 = randomMatrix(200, 64, random)
  const x = randomMatrix(30, 64, random)
  // Room for one 200 x 64 anchor matrix (51,200 bytes) and not two, but the engine still keys
  // operands up to half the bound.
  const engine = await createEngine(config({ workers: 1, residentBytes: 2 * 51_200 + 100 }))
  t.teardown(async () => { await engine.close() })
  const inline = await createEngine(config({ workers: 0 }))
  t.teardown(async () => { await inline.close() })
  const expected1 = (await inline.relative(x, a1, COSINE)).matrix.data
  const expected2 = (await inline.relative(x, a2, COSINE)).matrix.data

  t.same((await engine.relative(x, a1, COSINE, 'one')).matrix.data, expected1, 'first call, anchors sent')
  t.same((await engine.sessionStats()).resident, ['anchors:one'])
  t.same((await engine.relative(x, a1, COSINE, 'one')).matrix.data, expected1, 'second call, anchors resident')
  t.same((await engine.relative(x, a2, COSINE, 'two')).matrix.data, expected2, 'another key')
  t.same((await engine.sessionStats()).resident, ['anchors:one', 'anchors:two'])

  const a3 = randomMatrix(200, 64, random)
  const expected3 = (await inline.relative(x, a3, COSINE)).matrix.data
  t.same((await engine.relative(x, a3, COSINE, 'three')).matrix.data, expected3, 'a third key evicts the oldest')
  t.same((await engine.sessionStats()).resident, ['anchors:two', 'anchors:three'])
  // The engine still believes the worker holds 'one': the worker answers that it does not, and
  // the chunk is sent again with the anchors.
  t.same((await engine.relative(x, a1, COSINE, 'one')).matrix.data, expected1, 'an evicted key is sent again')
  t.same((await engine.sessionStats()).resident, ['anchors:three', 'anchors:one'])
  t.same((await engine.relative(x, a1, COSINE)).matrix.data, expected1, 'no key: sent each call, not kept')
  t.same((await engine.sessionStats()).resident, ['anchors:three', 'anchors:one'])
})

t.test('anchors larger than half the resident bound are sent each call, never kept', async t => {
  const random = rng(12)
  const a = randomMatrix(200, 64, random)
  const x = randomMatrix(10, 64, random)
  const engine = await createEngine(config({ workers: 1, residentBytes: 51_200 }))
  t.teardown(async () => { await engine.close() })
  const first = (await engine.relative(x, a, COSINE, 'big')).matrix.data
  t.same((await engine.relative(x, a, COSINE, 'big')).matrix.data, first)
  t.same((await engine.sessionStats()).resident, [])
})
