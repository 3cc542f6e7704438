/**
 * The JS factorisations behind the least-squares fits: pivoted Cholesky (rank and reconstruction)
 * and the triangular inverse, in JS alone and split in halves through the engine, on Grams wider
 * than the inverse's JS block so that the split runs.
 */
import t from 'tap'
import { createEngine } from '../../src/engine/index.js'
import { cholesky, lowerInverse, multiply64, pivotedCholesky, psdSolve, type Matrix64 } from '../../src/math/linalg.js'
import { values } from '../helpers/data.js'

const engine = await createEngine({ executionProviders: ['cpu'], strict: true, intraOpThreads: 1, workers: 1, rowBudget: 4096, sessionCacheSize: 8 })
t.teardown(async () => { await engine.close() })

/** XᵀX of a seeded rows x n matrix: positive definite when rows ≥ n, rank `rows` otherwise. */
function gram (rows: number, n: number, seed: number): Matrix64 {
  const x: Matrix64 = { rows, cols: n, data: Float64Array.from(values(rows * n, seed)) }
  return multiply64(x, x, { transposeA: true })
}

const maxAbs = (a: ArrayLike<number>): number => { let m = 0; for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i])); return m }

t.test('pivoted Cholesky: P·A·Pᵀ = L·Lᵀ, and the rank of a rank-deficient Gram', async t => {
  for (const [rows, n] of [[400, 300], [150, 300]]) {
    const a = gram(rows, n, 1)
    const { factor, perm, rank } = await pivotedCholesky(a, 1e-12)
    t.equal(rank, Math.min(rows, n), `${rows} rows of ${n}: rank ${rank}`)
    let error = 0
    for (let i = 0; i < n; i++) {
      for (let j = 0; j <= i; j++) {
        let s = 0
        for (let k = 0; k < rank; k++) s += factor.data[i * rank + k] * factor.data[j * rank + k]
        error = Math.max(error, Math.abs(s - a.data[perm[i] * n + perm[j]]))
      }
    }
    t.ok(error < 1e-9 * maxAbs(a.data), `reconstruction error ${error.toExponential(2)}`)
  }
  await t.rejects(cholesky(gram(10, 20, 2)), RangeError, 'plain Cholesky refuses a singular Gram')
})

t.test('the triangular inverse: L⁻¹·L = I, and the halves through the engine equal the JS form', async t => {
  for (const n of [100, 300, 517]) {
    const l = await cholesky(gram(n + 200, n, 3))
    const inJs = await lowerInverse(l)
    const split = await lowerInverse(l, undefined, engine)
    const identity = multiply64(split, l)
    let offIdentity = 0
    for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) offIdentity = Math.max(offIdentity, Math.abs(identity.data[i * n + j] - (i === j ? 1 : 0)))
    t.ok(offIdentity < 1e-9, `n ${n}: ‖L⁻¹·L − I‖max ${offIdentity.toExponential(2)}`)
    let upper = 0
    for (let i = 0; i < n; i++) for (let j = i + 1; j < n; j++) upper = Math.max(upper, Math.abs(split.data[i * n + j]))
    t.equal(upper, 0, 'lower triangular')
    const scale = maxAbs(inJs.data)
    let diff = 0
    for (let i = 0; i < inJs.data.length; i++) diff = Math.max(diff, Math.abs(inJs.data[i] - split.data[i]))
    t.ok(diff < 1e-10 * scale, `n ${n}: split vs JS ${(diff / scale).toExponential(2)} of the largest entry`)
  }
})

t.test('psdSolve: A·X = B on a full-rank Gram wider than the JS block', async t => {
  const a = gram(500, 300, 4)
  const b: Matrix64 = { rows: 300, cols: 7, data: Float64Array.from(values(300 * 7, 5)) }
  const { x, rank } = await psdSolve(engine, a, b, 1e-12)
  t.equal(rank, 300)
  const ax = multiply64(a, x)
  let error = 0
  for (let i = 0; i < b.data.length; i++) error = Math.max(error, Math.abs(ax.data[i] - b.data[i]))
  t.ok(error < 1e-8 * maxAbs(b.data), `residual ${error.toExponential(2)}`)
})
