/**
 * The orthogonal polar factor of a dx x dy matrix C = X̃ᵀỸ: the Procrustes solution.
 *
 * Why this equals the padded square Procrustes of docs/methods.md §5.1: zero-padding the smaller side to
 * D = max(dx, dy) makes M = [C 0] (dx > dy) or [C; 0] (dx < dy). When C has full rank
 * min(dx, dy), MᵀM's null space is exactly the padded coordinates, so any SVD M = U Σ Vᵀ has
 * R = U Vᵀ whose first dy columns (dx > dy; the first dx rows when dx < dy) are U_C V_Cᵀ from
 * C's thin SVD; cropping keeps exactly those. So W = U_C V_Cᵀ = C (CᵀC)^{-1/2}, the
 * (semi-)orthogonal polar factor of C, with no padding materialised. When C is rank deficient the
 * padded R is arbitrary on the null space; we define the answer as U_r V_rᵀ over the singular
 * values above RANK_TOLERANCE·σ₁ (the minimal-norm solution on the anchors' span).
 *
 * How: pure-JS SVD is 20–30x slower than LAPACK here (docs/engine-notes.md §5), so W comes from odd
 * polynomial iterations X ← X·p(XᵀX) run as float64 graphs in ORT, one engine call per step.
 * Each step acts on every singular value alone (σ → p(σ)), so W = lim X exactly when the steps
 * drive every σ ≥ ℓ to 1. The steps are the minimax odd quintics for the current interval
 * [ℓ, 1] (Remez, below; the idea of "Polar Express", Amsel et al. 2025, in float64): each maps
 * [ℓ, 1] into [ℓ', 1] with ℓ' ≈ 4.3ℓ while ℓ is small and converges cubically near 1, about
 * twice the progress per matrix product of the fixed Newton–Schulz or Muon steps.
 *
 * Why float64 throughout: float32 steps followed by float64 polish were measured (numpy, 2,000 x
 * 512, κ from 10 to 3e5) to leave ~1e-6 relative error on translated rows, above the 1e-6 target:
 * a polar iteration depends only on its current iterate, so rounding made in float32 is a
 * rotation the later steps never undo. Float64 ORT matmuls cost only ~1.5x float32 here
 * (1,024³: 19 ms against 13 ms), and reach ~1e-15.
 *
 * Schedule: α = ‖G‖_F^{1/2} ≥ σ₁ scales C into [0, 1] (first step, inside the graph). Phase 1
 * assumes σ_min/α ≥ 1e-3 (8 steps); a last step whose change is below CONVERGED means every
 * singular value reached 1. Otherwise (ill-conditioned or rank-deficient C) phase 2 continues
 * with the schedule for the image of the worst case RANK_TOLERANCE·n^{-1/4} (α ≤ n^{1/4}·σ₁), then
 * "snap" steps p(σ) = 2.5σ³ − 1.5σ⁵, which fix 1 and send everything below ~0.82 to 0: singular
 * values of C above RANK_TOLERANCE·σ₁ end at exactly 1, the null space (rounding-level σ, grown
 * by the schedule to ≤ 1e-5) at 0. Values within a factor ~10 below the tolerance can land on
 * either side: float32 embeddings carry no information at 1e-8 relative anyway.
 */
import type { Matrix64, Product64 } from '../math/linalg.js'
import { frobenius, multiply64, zeros64 } from '../math/linalg.js'

/** Singular values of C below this fraction of σ₁ are treated as zero (see the module comment). */
export const RANK_TOLERANCE = 1e-8
/** Phase 1 assumes σ_min/α ≥ this (covers most real spectra: κ·n^{1/4} ≤ 1,000). */
const OPTIMISTIC_FLOOR = 1e-3
/** Relative change ‖ΔX‖_F/‖X‖_F below which a cubically converging step leaves ~1e-27. */
const CONVERGED = 1e-9
const MAX_SNAP_STEPS = 16

export type Coefficients = [number, number, number]

/** The float64 polar step the engine offers (OrtEngine.polarStep); optional on other engines. */
export interface PolarStepper {
  polarStep: (x: Matrix64, coefficients: Coefficients, normalize: boolean) => Promise<{ x: Matrix64, change: number, scale: number }>
}

export type PolarEngine = Product64 & Partial<PolarStepper>

function evaluate ([a, b, c]: Coefficients, x: number): number {
  const x2 = x * x
  return x * (a + x2 * (b + x2 * c))
}

/** Solves a 4x4 system by Gaussian elimination with partial pivoting. */
function solve4 (m: number[][], rhs: number[]): number[] {
  const a = m.map((row, i) => [...row, rhs[i]])
  for (let col = 0; col < 4; col++) {
    let p = col
    for (let r = col + 1; r < 4; r++) if (Math.abs(a[r][col]) > Math.abs(a[p][col])) p = r;
    [a[col], a[p]] = [a[p], a[col]]
    for (let r = col + 1; r < 4; r++) {
      const f = a[r][col] / a[col][col]
      for (let k = col; k < 5; k++) a[r][k] -= f * a[col][k]
    }
  }
  const x = [0, 0, 0, 0]
  for (let r = 3; r >= 0; r--) {
    let s = a[r][4]
    for (let k = r + 1; k < 4; k++) s -= a[r][k] * x[k]
    x[r] = s / a[r][r]
  }
  return x
}

/**
 * The odd quintic p(x) = ax + bx³ + cx⁵ minimising max |1 − p| on [ℓ, 1] (Remez exchange; the
 * error equioscillates at ℓ, the two interior extrema, and 1, which come from p′ = 0 in closed
 * form), scaled by 1/(1 + E) so that it maps [ℓ, 1] into [(1 − E)/(1 + E), 1].
 */
export function minimaxQuintic (l: number): { coefficients: Coefficients, floor: number } {
  let points = l < 0.1 ? [l, 0.3, 0.8, 1] : [l, l + (1 - l) / 3, l + 2 * (1 - l) / 3, 1]
  let a = 0
  let b = 0
  let c = 0
  let e = 0
  for (let iteration = 0; iteration < 100; iteration++) {
    const signs = [1, -1, 1, -1]
    ;[a, b, c, e] = solve4(points.map((x, i) => [x, x ** 3, x ** 5, signs[i]]), [1, 1, 1, 1])
    // Interior extrema: 5c·t² + 3b·t + a = 0 with t = x².
    const disc = 9 * b * b - 20 * a * c
    if (!(disc > 0) || c === 0) break
    const roots = [(-3 * b - Math.sqrt(disc)) / (10 * c), (-3 * b + Math.sqrt(disc)) / (10 * c)]
      .filter(t => t > 0).map(Math.sqrt).filter(x => x > l && x < 1).sort((p, q) => p - q)
    if (roots.length !== 2) break
    const next = [l, roots[0], roots[1], 1]
    const moved = Math.max(...next.map((x, i) => Math.abs(x - points[i])))
    points = next
    if (moved < 1e-15) break
  }
  const error = Math.abs(e)
  return { coefficients: [a / (1 + error), b / (1 + error), c / (1 + error)], floor: (1 - error) / (1 + error) }
}

/** Newton–Schulz of order 3: (15x − 10x³ + 3x⁵)/8, p(1) = 1, p′(1) = p″(1) = 0. */
const POLISH: Coefficients = [15 / 8, -10 / 8, 3 / 8]
/** 2.5x³ − 1.5x⁵: fixed points 0 and 1 both attracting, the boundary between them at ~0.816. */
const SNAP: Coefficients = [0, 2.5, -1.5]

/**
 * Steps taking every singular value in [floor, 1] to 1 within 1e-15: minimax quintics while the
 * floor is below 0.999, then order-3 polish steps. Also returns the image of `track` (a value
 * below the floor) under the same steps.
 */
export function polarSchedule (floor: number): Coefficients[] {
  const steps: Coefficients[] = []
  let l = floor
  while (steps.length < 60) {
    if (l > 0.999) {
      steps.push(POLISH)
      l = evaluate(POLISH, l)
      if (1 - l < 1e-15) break
      continue
    }
    const step = minimaxQuintic(l)
    steps.push(step.coefficients)
    l = step.floor
  }
  return steps
}

const scheduleCache = new Map<number, Coefficients[]>()
function cachedSchedule (floor: number): Coefficients[] {
  let steps = scheduleCache.get(floor)
  if (steps === undefined) {
    steps = polarSchedule(floor)
    if (scheduleCache.size > 64) scheduleCache.clear()
    scheduleCache.set(floor, steps)
  }
  return steps
}

/** The step in JS + matmul64, for engines without polarStep (same formula as polarStepGraph). */
async function fallbackStep (engine: Product64, x: Matrix64, [a, b, c]: Coefficients, normalize: boolean): Promise<{ x: Matrix64, change: number, scale: number }> {
  const wide = x.rows < x.cols
  const mul = async (p: Matrix64, q: Matrix64, opts?: { transposeA?: boolean, transposeB?: boolean }): Promise<Matrix64> =>
    p.rows * p.cols * q.cols < 2e5 ? multiply64(p, q, opts) : await engine.matmul64(p, q, opts)
  let gram = wide ? await mul(x, x, { transposeB: true }) : await mul(x, x, { transposeA: true })
  let current = x
  let scale = 1
  if (normalize) {
    const norm = frobenius(gram)
    if (norm > 0) {
      scale = Math.sqrt(norm)
      current = { rows: x.rows, cols: x.cols, data: x.data.map(v => v / scale) }
      gram = { rows: gram.rows, cols: gram.cols, data: gram.data.map(v => v / norm) }
    }
  }
  const squared = await mul(gram, gram)
  const poly = zeros64(gram.rows, gram.cols)
  for (let i = 0; i < poly.data.length; i++) poly.data[i] = b * gram.data[i] + c * squared.data[i]
  const prod = wide ? await mul(poly, current) : await mul(current, poly)
  const next = zeros64(x.rows, x.cols)
  let change = 0
  for (let i = 0; i < next.data.length; i++) {
    next.data[i] = a * current.data[i] + prod.data[i]
    change += (next.data[i] - current.data[i]) ** 2
  }
  return { x: next, change: Math.sqrt(change), scale }
}

export interface PolarResult {
  /** dx x dy: U_r V_rᵀ. */
  w: Matrix64
  /** Singular values of C kept (≈ ‖W‖_F², rounded). */
  rank: number
  /** Engine calls (iteration steps) used. */
  steps: number
}

/**
 * W = U_r V_rᵀ for C = U Σ Vᵀ, r = singular values above RANK_TOLERANCE·σ₁ (module comment).
 * Every step is one engine call (polarStep), or three matmul64 calls on engines without it.
 */
export async function polarFactor (engine: PolarEngine, c: Matrix64, signal?: AbortSignal): Promise<PolarResult> {
  const n = Math.min(c.rows, c.cols)
  if (n === 0 || !(frobenius(c) > 0)) return { w: zeros64(c.rows, c.cols), rank: 0, steps: 0 }
  const step = async (x: Matrix64, coefficients: Coefficients, normalize: boolean): Promise<{ x: Matrix64, change: number, scale: number }> =>
    engine.polarStep !== undefined ? await engine.polarStep(x, coefficients, normalize) : await fallbackStep(engine, x, coefficients, normalize)

  // ‖X‖_F ≈ √n once converged; the change is judged relative to that.
  const converged = (change: number): boolean => change <= CONVERGED * Math.sqrt(n)
  let x = c
  let steps = 0
  let lastChange = Infinity
  // The worst case we promise to resolve, tracked through every step applied.
  let worst = RANK_TOLERANCE * n ** -0.25
  const apply = async (coefficients: Coefficients): Promise<void> => {
    signal?.throwIfAborted()
    const result = await step(x, coefficients, steps === 0)
    x = result.x
    lastChange = result.change
    worst = evaluate(coefficients, worst)
    steps++
  }

  for (const coefficients of cachedSchedule(OPTIMISTIC_FLOOR)) await apply(coefficients)
  if (!converged(lastChange)) {
    // Some singular values started below the optimistic floor (or C is rank deficient).
    for (const coefficients of cachedSchedule(worst)) await apply(coefficients)
    for (let i = 0; i < MAX_SNAP_STEPS && !converged(lastChange); i++) await apply(SNAP)
  }
  const normSquared = frobenius(x) ** 2
  return { w: x, rank: Math.min(n, Math.round(normSquared)), steps }
}
