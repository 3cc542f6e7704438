/**
 * Invariance properties of the relative projections (docs/methods.md §2.5), on random data:
 * transform inputs and anchors alike and the relative vectors must not change.
 *
 * Tolerances. The transformed matrices are computed in float64 and rounded once to float32, so
 * each coordinate moves by up to half an ulp of its new magnitude; the engine then adds float32
 * rounding of its own (cosine ~1e-7 here). With scales in [0.25, 4] and translations up to ±4 on
 * unit-variance data, that stays below 1e-5 for values up to 1 (cosine, angular) and below 1e-5
 * relative for distances, the same scaled-error measure as the golden tests; a translation
 * perturbs centred data by ulp(|t|)/‖x − μ‖ per coordinate, hence the looser 5e-5 there.
 */
import t, { type Test } from 'tap'
import fc from 'fast-check'
import { createEngine } from '../../src/engine/index.js'
import type { Matrix } from '../../src/math/matrix.js'
import type { Projection, RelativeOptions } from '../../src/engine/types.js'
import { maxScaledError, randomMatrix, randomOrthogonal, rng, transform } from './fixtures/reference.js'

const engine = await createEngine({ executionProviders: ['cpu'], strict: true, intraOpThreads: 1, workers: 0, rowBudget: 4096, sessionCacheSize: 16 })
t.teardown(async () => { await engine.close() })

const NUM_RUNS = 25
const SEED = 20261126

/** Random problem sizes and a seed for the matrix contents. */
const problem = fc.record({
  seed: fc.integer({ min: 1, max: 2 ** 31 - 1 }),
  rows: fc.integer({ min: 1, max: 24 }),
  anchors: fc.integer({ min: 2, max: 24 }),
  dim: fc.integer({ min: 2, max: 48 }),
  scale: fc.double({ min: 0.25, max: 4, noNaN: true })
})

function translation (d: number, random: () => number): Float64Array {
  return Float64Array.from({ length: d }, () => (random() * 2 - 1) * 4)
}

async function relative (x: Matrix, a: Matrix, projections: Projection[], center: boolean): Promise<Float32Array> {
  const opts: RelativeOptions = { projections, center, normalize: 'none' }
  return (await engine.relative(x, a, opts)).matrix.data
}

async function checkInvariant (
  t: Test, name: string, projections: Projection[], center: boolean, tolerance: number,
  move: (m: Matrix, d: number, random: () => number, scale: number) => (m: Matrix) => Matrix
): Promise<void> {
  let worst = 0
  await fc.assert(fc.asyncProperty(problem, async p => {
    const random = rng(p.seed)
    const x = randomMatrix(p.rows, p.dim, random)
    const a = randomMatrix(p.anchors, p.dim, random)
    const f = move(x, p.dim, random, p.scale)
    const before = await relative(x, a, projections, center)
    const after = await relative(f(x), f(a), projections, center)
    const error = maxScaledError(after, before)
    worst = Math.max(worst, error)
    return error <= tolerance
  }), { seed: SEED, numRuns: NUM_RUNS })
  t.pass(`${name}: worst scaled error ${worst.toExponential(2)} ≤ ${tolerance} over ${NUM_RUNS} random cases`)
}

const orthogonalAndScale = (_m: Matrix, d: number, random: () => number, scale: number) => {
  const q = randomOrthogonal(d, random)
  return (m: Matrix) => transform(m, q, scale, undefined)
}
const orthogonalScaleAndShift = (_m: Matrix, d: number, random: () => number, scale: number) => {
  const q = randomOrthogonal(d, random)
  const shift = translation(d, random)
  return (m: Matrix) => transform(m, q, scale, shift)
}
const isometry = (_m: Matrix, d: number, random: () => number) => {
  const q = randomOrthogonal(d, random)
  const shift = translation(d, random)
  return (m: Matrix) => transform(m, q, 1, shift)
}
/** A coordinate permutation with random axis reflections, plus a translation. */
const signedPermutationAndShift = (_m: Matrix, d: number, random: () => number) => {
  const order = Array.from({ length: d }, (_, i) => i).sort(() => random() - 0.5)
  const q = new Float64Array(d * d)
  order.forEach((j, i) => { q[i * d + j] = random() < 0.5 ? -1 : 1 })
  const shift = translation(d, random)
  return (m: Matrix) => transform(m, q, 1, shift)
}

t.test('cosine and angular: orthogonal map and isotropic scaling', async t => {
  await checkInvariant(t, 'cosine', ['cosine'], false, 1e-5, orthogonalAndScale)
  await checkInvariant(t, 'angular', ['angular'], false, 1e-5, orthogonalAndScale)
})

t.test('cosine and angular with center: also translation', async t => {
  await checkInvariant(t, 'cosine, centred', ['cosine'], true, 5e-5, orthogonalScaleAndShift)
  await checkInvariant(t, 'angular, centred', ['angular'], true, 5e-5, orthogonalScaleAndShift)
})

t.test('euclidean: orthogonal map plus translation', async t => {
  await checkInvariant(t, 'euclidean', ['euclidean'], false, 1e-5, isometry)
})

t.test('l1 and linf: coordinate permutation, reflections and translation', async t => {
  await checkInvariant(t, 'l1', ['l1'], false, 1e-5, signedPermutationAndShift)
  await checkInvariant(t, 'linf', ['linf'], false, 1e-5, signedPermutationAndShift)
})

t.test('the properties are not vacuous', async t => {
  // Uncentred cosine is not translation invariant, and l1 is not rotation invariant.
  const random = rng(7)
  const x = randomMatrix(8, 16, random)
  const a = randomMatrix(6, 16, random)
  const shift = Float64Array.from({ length: 16 }, () => 20)
  const shifted = (m: Matrix): Matrix => transform(m, undefined, 1, shift)
  t.ok(maxScaledError(await relative(shifted(x), shifted(a), ['cosine'], false), await relative(x, a, ['cosine'], false)) > 0.01,
    'cosine without centring changes under translation')
  const q = randomOrthogonal(16, random)
  const rotated = (m: Matrix): Matrix => transform(m, q, 1, undefined)
  t.ok(maxScaledError(await relative(rotated(x), rotated(a), ['l1'], false), await relative(x, a, ['l1'], false)) > 0.01,
    'l1 changes under rotation')
})
