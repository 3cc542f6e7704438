import t from 'tap'
import { createEngine } from '../../src/engine/index.js'
import type { Matrix64 } from '../../src/engine/types.js'
import { multiply64 } from '../../src/math/linalg.js'
import { values } from '../helpers/data.js'

/*
 * Float64 products over the engine's per-run memory (float64BlockBytes) run in row blocks of the
 * result: the same values as one run, for every transpose combination, in worker and inline mode.
 */

const matrix = (rows: number, cols: number, seed: number): Matrix64 => ({ rows, cols, data: Float64Array.from(values(rows * cols, seed)) })

for (const workers of [1, 0]) {
  t.test(`matmul64 in row blocks equals the single run (${workers === 0 ? 'inline' : 'worker'})`, async t => {
    const opts = { executionProviders: ['cpu'], strict: false, intraOpThreads: 1, workers, rowBudget: 4096, sessionCacheSize: 16 }
    const whole = await createEngine(opts)
    // 512 KiB: a 301 x 200 by 200 x 150 product runs in blocks of 101, 101 and 99 rows.
    const blocked = await createEngine({ ...opts, float64BlockBytes: 512 * 1024 })
    t.teardown(async () => { await whole.close(); await blocked.close() })
    const m = 301
    const inner = 200
    const n = 150
    for (const [transposeA, transposeB] of [[false, false], [true, false], [false, true], [true, true]]) {
      const a = transposeA ? matrix(inner, m, 1) : matrix(m, inner, 1)
      const b = transposeB ? matrix(n, inner, 2) : matrix(inner, n, 2)
      const one = await whole.matmul64(a, b, { transposeA, transposeB })
      const blocks = await blocked.matmul64(a, b, { transposeA, transposeB })
      const reference = multiply64(a, b, { transposeA, transposeB })
      t.same([blocks.rows, blocks.cols], [m, n])
      let worst = 0
      for (let i = 0; i < one.data.length; i++) worst = Math.max(worst, Math.abs(blocks.data[i] - one.data[i]))
      let error = 0
      for (let i = 0; i < one.data.length; i++) error = Math.max(error, Math.abs(blocks.data[i] - reference.data[i]))
      t.ok(worst <= 1e-12, `transposeA ${transposeA}, transposeB ${transposeB}: max |blocked − single| = ${worst}`)
      t.ok(error <= 1e-10, `and max |blocked − JS reference| = ${error}`)
    }
  })
}
