/**
 * The polar factor without a numpy reference: W is the polar factor of C exactly when WᵀW is the
 * projector onto C's row space and WᵀC is symmetric positive semi-definite. Checked on full-rank,
 * ill-conditioned, rectangular and rank-deficient C, through the engine's fused step and through
 * the matmul64-only fallback. The Remez schedule is checked against its own definition.
 */
import t from 'tap'
import { createEngine } from '../../src/engine/index.js'
import { polarFactor, polarSchedule, minimaxQuintic, RANK_TOLERANCE } from '../../src/fit/polar.js'
import { multiply64, type Matrix64 } from '../../src/math/linalg.js'
import { randomMatrix64, randomOrthogonal } from './fixtures/data.js'

const engine = await createEngine({ executionProviders: ['cpu'], strict: true, intraOpThreads: 1, workers: 1, rowBudget: 4096, sessionCacheSize: 8 })
t.teardown(async () => { await engine.close() })
const matmulOnly = { matmul64: engine.matmul64.bind(engine) }

/** C = U diag(s) Vᵀ with random orthonormal U (m x r) and V (n x r). */
function withSpectrum (m: number, n: number, s: number[], seed: number): Matrix64 {
  const u = randomOrthogonal(m, seed)
  const v = randomOrthogonal(n, seed + 1)
  const c = { rows: m, cols: n, data: new Float64Array(m * n) }
  for (let k = 0; k < s.length; k++) {
    for (let i = 0; i < m; i++) {
      const uik = u.data[i * m + k] * s[k]
      for (let j = 0; j < n; j++) c.data[i * n + j] += uik * v.data[j * n + k]
    }
  }
  return c
}

/** Distance of W from the polar factor of C: ‖WᵀW·WᵀW − WᵀW‖, ‖WᵀC − (WᵀC)ᵀ‖/‖C‖, min eigen-ish check via trace. */
function polarDefects (w: Matrix64, c: Matrix64): { projector: number, asymmetry: number, negative: boolean } {
  const p = multiply64(w, w, { transposeA: true })
  const p2 = multiply64(p, p)
  let projector = 0
  for (let i = 0; i < p.data.length; i++) projector = Math.max(projector, Math.abs(p2.data[i] - p.data[i]))
  const h = multiply64(w, c, { transposeA: true })
  let asymmetry = 0
  let scale = 0
  for (let i = 0; i < h.rows; i++) {
    for (let j = 0; j < h.cols; j++) {
      asymmetry = Math.max(asymmetry, Math.abs(h.data[i * h.cols + j] - h.data[j * h.cols + i]))
      scale = Math.max(scale, Math.abs(h.data[i * h.cols + j]))
    }
  }
  let negative = false
  for (let i = 0; i < h.rows; i++) if (h.data[i * h.cols + i] < -1e-12 * scale) negative = true
  return { projector, asymmetry: asymmetry / scale, negative }
}

t.test('the schedule: minimax steps, then cubic convergence to 1', async t => {
  for (const floor of [1e-3, 1e-8, 0.5]) {
    const steps = polarSchedule(floor)
    const grid = Array.from({ length: 400 }, (_, i) => floor ** (i / 399))
    const images = grid.map(x => steps.reduce((v, [a, b, c]) => v * (a + v * v * (b + v * v * c)), x))
    t.ok(images.every(v => Math.abs(v - 1) < 1e-14), `every σ in [${floor}, 1] ends at 1 (${steps.length} steps)`)
  }
  t.equal(polarSchedule(1e-3).length, 8, '8 steps when σ_min ≥ 1e-3 α')
  const step = minimaxQuintic(0.01)
  const p = (x: number): number => x * (step.coefficients[0] + x * x * (step.coefficients[1] + x * x * step.coefficients[2]))
  t.ok(Math.abs(p(1) - 1) < 1e-9 && Math.abs(p(0.01) - step.floor) < 1e-9, 'equioscillation: p(1) = 1, p(ℓ) = new floor')
})

t.test('full rank, square and rectangular, well- and ill-conditioned', async t => {
  const cases: Array<[string, Matrix64, number]> = [
    ['random 48 x 48', randomMatrix64(48, 48, 1), 48],
    ['random 60 x 25', randomMatrix64(60, 25, 2), 25],
    ['random 25 x 60', randomMatrix64(25, 60, 3), 25],
    ['κ = 1e6 (phase 2)', withSpectrum(40, 40, Array.from({ length: 40 }, (_, i) => 10 ** (-6 * i / 39)), 4), 40],
    ['κ = 1e7, 30 x 20', withSpectrum(30, 20, Array.from({ length: 20 }, (_, i) => 10 ** (-7 * i / 19)), 5), 20]
  ]
  for (const [name, c, rank] of cases) {
    for (const [label, e] of [['polarStep', engine], ['matmul64 fallback', matmulOnly]] as const) {
      const r = await polarFactor(e, c)
      const d = polarDefects(r.w, c)
      t.equal(r.rank, rank, `${name} (${label}): rank`)
      t.ok(d.projector < 1e-12, `${name} (${label}): WᵀW idempotent (${d.projector.toExponential(1)})`)
      t.ok(d.asymmetry < 1e-12 && !d.negative, `${name} (${label}): WᵀC symmetric PSD (${d.asymmetry.toExponential(1)}), ${r.steps} steps`)
    }
  }
})

t.test('rank deficient: U_r V_rᵀ, the null space mapped to zero', async t => {
  const gapped = [...Array.from({ length: 12 }, (_, i) => 1 - i / 20), ...Array(8).fill(1e-14)]
  const cases: Array<[string, Matrix64, number]> = [
    ['12 of 20, the rest at 1e-14', withSpectrum(20, 20, gapped, 7), 12],
    ['exactly rank 5 in 30 x 18', withSpectrum(30, 18, [3, 2, 1, 0.5, 0.1], 8), 5],
    ['rank 9 at 2e-6 relative', withSpectrum(16, 16, [...Array(8).fill(1), 2e-6, ...Array(7).fill(0)], 9), 9]
  ]
  for (const [name, c, rank] of cases) {
    const r = await polarFactor(engine, c)
    const d = polarDefects(r.w, c)
    t.equal(r.rank, rank, `${name}: rank`)
    t.ok(d.projector < 1e-10, `${name}: WᵀW is a projector of rank ${rank} (${d.projector.toExponential(1)})`)
    t.ok(d.asymmetry < 1e-10 && !d.negative, `${name}: WᵀC symmetric PSD`)
  }
  t.ok(RANK_TOLERANCE === 1e-8)
  const zero = await polarFactor(engine, { rows: 3, cols: 2, data: new Float64Array(6) })
  t.same([zero.rank, Array.from(zero.w.data)], [0, [0, 0, 0, 0, 0, 0]], 'a zero matrix gives a zero map')
})
