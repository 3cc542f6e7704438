/**
 * The engine against float64 numpy references (scripts/golden/relative.py): the hand-checkable
 * inputs of docs/methods.md §17 and a seeded random 500 x 300 input against 64 anchors.
 *
 * Tolerance: |engine − reference| ≤ 1e-5 · max(1, |reference|), i.e. 1e-5 absolute for values up
 * to 1 (cosine, angular, normalised blocks) and 1e-5 relative above (dot, euclidean, l1 values
 * reach ~40 here, where one float32 ulp is already 4e-6).
 */
import t from 'tap'
import { readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { createEngine } from '../../src/engine/index.js'
import type { Matrix } from '../../src/math/matrix.js'
import type { RelativeOptions } from '../../src/engine/types.js'
import { maxScaledError } from './fixtures/reference.js'

const TOLERANCE = 1e-5
const dir = fileURLToPath(new URL('../golden/relative/', import.meta.url))

interface MatrixFile { file: string, rows: number, cols: number }
interface GoldenCase {
  name: string
  input: string
  anchors: string
  options: RelativeOptions
  output: MatrixFile
  zeroRows: number
  ambiguousRows: number[]
}
const index = JSON.parse(readFileSync(dir + 'index.json', 'utf8')) as { inputs: Record<string, MatrixFile>, cases: GoldenCase[] }

function load (m: MatrixFile): Matrix {
  const bytes = readFileSync(dir + m.file)
  // Copy into a fresh, aligned buffer: readFileSync may return a pooled Buffer at any offset.
  const data = new Float32Array(m.rows * m.cols)
  new Uint8Array(data.buffer).set(bytes)
  return { rows: m.rows, cols: m.cols, data }
}

const inputs = Object.fromEntries(Object.entries(index.inputs).map(([name, m]) => [name, load(m)]))

const engine = await createEngine({ executionProviders: ['cpu'], strict: true, intraOpThreads: 1, workers: 2, rowBudget: 128, sessionCacheSize: 8 })
t.teardown(async () => { await engine.close() })

t.test('docs/methods.md §17 numbers', async t => {
  const x = inputs.small_x
  const a = inputs.small_a
  const plain = await engine.relative(x, a, { projections: ['cosine'], center: false, normalize: 'none' })
  const row = (m: Matrix, i: number): number[] => Array.from(m.data.subarray(i * m.cols, (i + 1) * m.cols))
  t.ok(maxScaledError(row(plain.matrix, 3), [0.774597, 0.730297, 0.471405]) < 1e-6, 'cosine row 3')
  t.ok(maxScaledError(row(plain.matrix, 4), [-0.2, 0.848528, 0]) < 1e-6, 'cosine row 4')
  const centred = await engine.relative(x, a, { projections: ['cosine'], center: true, normalize: 'none' })
  t.ok(maxScaledError(row(centred.matrix, 4), [-0.426401, 0.662541, -0.254824]) < 1e-6, 'anchor-centred cosine row 4')
})

for (const c of index.cases) {
  t.test(c.name, async t => {
    const x = inputs[c.input]
    const expected = load(c.output)
    const result = await engine.relative(x, inputs[c.anchors], c.options)
    t.equal(result.matrix.rows, expected.rows, 'rows')
    t.equal(result.matrix.cols, expected.cols, 'cols')
    t.equal(result.zeroRows, c.zeroRows, 'zero rows counted')
    // Rows whose k-th and (k+1)-th values are closer than float32 resolves may keep either one.
    const skip = new Set(c.ambiguousRows)
    let worst = 0
    let worstRow = -1
    for (let i = 0; i < x.rows; i++) {
      if (skip.has(i)) continue
      const range = [i * expected.cols, (i + 1) * expected.cols]
      const e = maxScaledError(result.matrix.data.subarray(range[0], range[1]), expected.data.subarray(range[0], range[1]))
      if (e > worst) { worst = e; worstRow = i }
    }
    t.ok(worst <= TOLERANCE, `max scaled error ${worst.toExponential(2)} ≤ ${TOLERANCE} (worst row ${worstRow}, ${skip.size} near-tie rows left out)`)
  })
}
