/**
 * The cost model: peak working memory (bytes) and work (multiply-adds, then estimated ms) of the
 * heavy requests, from their shapes and options alone, before any of it runs. Pure functions.
 *
 * What is counted: the dominant products and factorisations of each step and the float arrays
 * they hold at once, on the main thread and in the engine worker together (a worker's ORT run
 * holds its inputs, its output and the graph's intermediates). Steps run one after another, so a
 * sequence's peak is the largest step's peak plus what stays held across steps (the anchors'
 * scaled copies, the gallery, the map being built). Terms linear in the rows (scaling, norms)
 * are kept because with many rows and few dimensions they dominate.
 *
 * What it is: an estimate meant as an upper bound of the typical run, within a small factor
 * (test/cost/cost.test.ts checks it against the real engine's peak RSS on small runs, and the
 * scaling in every dimension). It is not exact: ORT's own arenas, V8's heap and the polar
 * iteration's step count (which depends on the spectrum; the bound below assumes the slow,
 * rank-deficient case whenever the anchors are fewer than the dimensions) vary.
 *
 * Throughput (the two constants below), measured on the 2-vCPU development VM, shared with other
 * jobs (load average ~1.7), with a scratch script timing four rounds each:
 *   - engine float64 matmul 1,024³ (1 worker × 2 threads): 65–212 ms → 5–17·10⁶ multiply-adds/ms;
 *     the polar step on 1,024² (3·1,024³ multiply-adds): 219–498 ms → 6–15·10⁶/ms;
 *   - JS loops: pivoted Cholesky of 1,024² (n³/3) 600–870 ms → 0.4–0.6·10⁶/ms; lowerInverse
 *     (n³/6) 460–640 ms → 0.3–0.4·10⁶/ms; a JS i-k-j product 256 x 1,024 x 1,024 850–930 ms →
 *     0.3·10⁶/ms.
 * The constants take the slow end, so the estimate errs towards "longer". Each engine call also
 * costs a fixed ENGINE_CALL_MS (the message round trip, copies and ORT's set-up: 0.1–1 ms per call
 * measured on small products, see src/math/linalg.ts JS_PRODUCT_LIMIT), which dominates fits of
 * few dimensions and many cross-validated configurations.
 *
 * Memory adds a fixed BASE_BYTES to every estimate: ORT's arenas grow on the first runs of a new
 * shape, and V8 frees the float arrays of earlier steps only at its next collection, so a long
 * sequence of small steps holds more than its largest step (measured: an 'auto' fit of 200 x 128
 * → 96 anchors, whose largest step holds ~2 MiB, grew the RSS by ~14 MiB).
 */

/** Engine products (ORT, float32 or float64), multiply-adds per millisecond. */
export const ENGINE_MULADDS_PER_MS = 5e6
/** JS loops of the fit (factorisations, scaling, row loops), multiply-adds per millisecond. */
export const JS_MULADDS_PER_MS = 0.3e6
/** Fixed cost of one engine call, ms. */
export const ENGINE_CALL_MS = 1
/** Fixed working memory of any heavy request (see above), bytes. */
export const BASE_BYTES = 64 * 1024 * 1024

const F64 = 8
const F32 = 4

export interface Cost {
  /** Peak working memory, bytes. */
  bytes: number
  /** Multiply-adds run by the engine. */
  engine: number
  /** Multiply-adds run in JS on the main thread. */
  js: number
  /** Engine calls. */
  calls: number
}

export interface Estimate {
  bytes: number
  /** Multiply-adds in all. */
  work: number
  ms: number
}

const none: Cost = { bytes: 0, engine: 0, js: 0, calls: 0 }

/** JS work only. */
function js (bytes: number, muladds: number): Cost {
  return { bytes, engine: 0, js: muladds, calls: 0 }
}

/** Steps one after another: the work adds up, the peak is the largest step's. */
export function seq (...costs: Cost[]): Cost {
  return costs.reduce((a, b) => ({ bytes: Math.max(a.bytes, b.bytes), engine: a.engine + b.engine, js: a.js + b.js, calls: a.calls + b.calls }), none)
}

/** Steps at once (Promise.all): the work adds up, and so do the peaks. */
export function parallel (...costs: Cost[]): Cost {
  return { ...seq(...costs), bytes: costs.reduce((sum, c) => sum + c.bytes, 0) }
}

/** The larger of alternatives, component by component (the choice is made at run time). */
export function worst (...costs: Cost[]): Cost {
  return costs.reduce((a, b) => ({ bytes: Math.max(a.bytes, b.bytes), engine: Math.max(a.engine, b.engine), js: Math.max(a.js, b.js), calls: Math.max(a.calls, b.calls) }), none)
}

/** A step repeated `times` times. */
function repeat (cost: Cost, times: number): Cost {
  return { bytes: times > 0 ? cost.bytes : 0, engine: cost.engine * times, js: cost.js * times, calls: cost.calls * times }
}

/** `held` bytes stay allocated while `cost` runs. */
function holding (held: number, cost: Cost): Cost {
  return { ...cost, bytes: cost.bytes + held }
}

export function toEstimate (cost: Cost): Estimate {
  return {
    bytes: BASE_BYTES + Math.ceil(cost.bytes),
    work: cost.engine + cost.js,
    ms: cost.engine / ENGINE_MULADDS_PER_MS + cost.js / JS_MULADDS_PER_MS + cost.calls * ENGINE_CALL_MS
  }
}

// ---------------------------------------------------------------------------------------------
// Building blocks (src/math/linalg.ts, src/analysis/similarity.ts, src/fit/map.ts)

/** op(a)·op(b) in float64 through the engine: m x inner times inner x n. */
function product64 (m: number, inner: number, n: number): Cost {
  // Main: the transferred copies of both operands and the result; worker: inputs and output.
  return { bytes: F64 * 2 * (m * inner + inner * n + m * n), engine: m * inner * n, js: 0, calls: 1 }
}

/** psdSolve of an n x n Gram and an n x m right-hand side (src/math/linalg.ts). */
function psdSolve (n: number, m: number): Cost {
  // Pivoted Cholesky (n³/3) and the triangular inverse (n³/6) in JS; the rank-deficient path's
  // extra Cholesky and products are counted too (the worse of the two paths).
  const factor = js(F64 * 4 * n * n, n * n * n / 3 + n * n * n / 6)
  const deficient = { bytes: 0, engine: n * n * n + 3 * n * n * m, js: n * n * n / 2, calls: 4 }
  const products = product64(n, n, m)
  return holding(F64 * (2 * n * n + 3 * n * m), seq(factor, deficient, products))
}

/** The float32 product of `rows` rows by a d x n matrix through the engine (blockwise or chunked). */
function product32 (rows: number, d: number, n: number): Cost {
  // Main: the input copy, the result; the shared operand and each worker's local copy of it.
  return { bytes: F32 * (2 * rows * d + 2 * rows * n + 2 * d * n), engine: rows * d * n, js: 0, calls: 1 }
}

/** topNeighbours: q queries among n index rows of d dims, top k (src/analysis/similarity.ts). */
export function neighboursCost (q: number, n: number, d: number, k: number): Cost {
  const blockRows = Math.max(1, Math.min(q, Math.floor((1 << 22) / Math.max(n, 1))))
  const block = product32(blockRows, d, n)
  return { bytes: block.bytes + F32 * 2 * n * d + 4 * q * k, engine: q * n * d, js: q * n * Math.log2(k + 1), calls: Math.ceil(q / blockRows) }
}

/** applyMap: rows translated by a dx x dy map (src/fit/map.ts). */
function applyMapCost (rows: number, dx: number, dy: number): Cost {
  const p = product32(rows, dx, dy)
  return { ...p, bytes: p.bytes + F64 * rows * (dx + dy), js: 4 * rows * (dx + dy) }
}

// ---------------------------------------------------------------------------------------------
// The fit (src/fit/fit.ts, solvers.ts, polar.ts)

export type FitMethodName = 'procrustes' | 'linear' | 'affine' | 'ridge' | 'inverse-relative'

const METHODS: readonly FitMethodName[] = ['procrustes', 'linear', 'affine', 'ridge', 'inverse-relative']
const SCALING_COUNT = 4
const RIDGE_GRID_SIZE = 5
/** src/fit/polar.ts: polarSchedule(1e-3) has 8 steps. */
const POLAR_PHASE1_STEPS = 8
/** Phase 2 when C is rank deficient: polarSchedule(worst) has at most 24 steps, then ≤ 16 snap steps. */
const POLAR_PHASE2_STEPS = 40

function usesRidge (method: FitMethodName): boolean {
  return method === 'ridge' || method === 'inverse-relative'
}

/** (X̃ᵀX̃ + λI)⁺X̃ᵀỸ on the cheaper side (solvers.ts leastSquares). */
function leastSquaresCost (k: number, dx: number, dy: number): Cost {
  if (k >= dx) return seq(product64(dx, k, dx), product64(dx, k, dy), holding(F64 * dx * dy, psdSolve(dx, dy)))
  return seq(product64(k, dx, k), holding(F64 * k * dy, psdSolve(k, dy)), product64(dx, k, dy))
}

/** The numerical rank of k x d rows: a Gram of the smaller side and its pivoted Cholesky. */
function rankCost (k: number, d: number): Cost {
  const n = Math.min(k, d)
  return seq(product64(n, Math.max(k, d), n), js(F64 * 2 * n * n, n * n * n / 3))
}

function polarCost (k: number, dx: number, dy: number): Cost {
  const m = Math.min(dx, dy)
  const big = Math.max(dx, dy)
  const steps = POLAR_PHASE1_STEPS + (k < m ? POLAR_PHASE2_STEPS : 0)
  // One step (polarStepGraph): Gram big·m², its square m³, X·p(G) big·m². Held: the iterate on
  // the main thread, its transferred copy, the worker's product and next iterate, three m x m.
  const step: Cost = { bytes: F64 * (5 * dx * dy + 4 * m * m), engine: 2 * big * m * m + m * m * m, js: 2 * dx * dy, calls: 1 }
  return repeat(step, steps)
}

/** One fitConfig: scale k anchors, solve, build the map (float32 weight). */
export function fitConfigCost (k: number, dx: number, dy: number, method: FitMethodName, needRank: boolean): Cost {
  const scaled = F64 * k * (dx + dy)
  const scale = js(scaled, 4 * k * (dx + dy))
  // buildMap: the float32 weight next to the float64 solution.
  const build = js((F64 + F32) * dx * dy, dx * dy)
  return holding(scaled, seq(scale, solveCost(k, dx, dy, method, needRank, false), build))
}

/**
 * The solve of one configuration on scaled anchors. `shared`: its Gram and cross products were
 * formed by an earlier configuration of the same fold and scaling (the ridge grid after its first
 * strength, linear after ridge), so only the factorisation and what follows it run.
 */
function solveCost (k: number, dx: number, dy: number, method: FitMethodName, needRank: boolean, shared: boolean): Cost {
  const scaled = F64 * k * (dx + dy)
  switch (method) {
    case 'procrustes':
      return seq(product64(dx, k, dy), holding(F64 * dx * dy, polarCost(k, dx, dy)))
    case 'linear':
      return shared ? sharedLeastSquaresCost(k, dx, dy) : leastSquaresCost(k, dx, dy)
    case 'affine':
      return holding(scaled, seq(leastSquaresCost(k, dx, dy), js(0, dx * dy)))
    case 'ridge':
      return seq(shared ? sharedLeastSquaresCost(k, dx, dy) : leastSquaresCost(k, dx, dy), needRank ? rankCost(k, dx) : none)
    case 'inverse-relative': {
      let solve = k < dy
        ? seq(shared ? none : product64(k, dy, k), holding(F64 * k * dx, psdSolve(k, dx)), product64(dx, k, dy))
        : seq(shared ? none : seq(product64(dy, k, dy), product64(dy, k, dx)), holding(F64 * dy * dx, psdSolve(dy, dx)), js(2 * F64 * dx * dy, dx * dy))
      if (needRank) solve = seq(solve, rankCost(k, dy))
      return solve
    }
  }
}

/** leastSquaresCost without the Gram and cross products (kept from an earlier solve). */
function sharedLeastSquaresCost (k: number, dx: number, dy: number): Cost {
  if (k >= dx) return holding(F64 * dx * (dx + dy), psdSolve(dx, dy))
  return seq(holding(F64 * k * (k + dy), psdSolve(k, dy)), product64(dx, k, dy))
}

export interface FitShape {
  /** Parallel anchors. */
  anchors: number
  dx: number
  dy: number
  /** Rows of the anchor set in the source and target spaces (the confidence model's support and gallery). */
  sourceRows: number
  targetRows: number
}

export interface FitChoice {
  /** Procrustes when absent (src/fit/fit.ts DEFAULT_METHOD). */
  method?: FitMethodName | 'auto'
  /** The scaling named; absent: chosen among all four by cross-validation (ignored by 'auto'). */
  scaling?: string
  ridge?: number
  holdout: number
  folds: number
  /** Neighbours searched per scored row: 5, or k of a larger "recall@k" selection metric. */
  ranks?: number
}

/**
 * The families a choice cross-validates, each a method and how many scalings (src/fit/fit.ts
 * trialsFor): every method x 4 for 'auto'; Procrustes x 4 and affine x 1 when neither method nor
 * scaling is named (DEFAULT_CANDIDATES); the named method x 4 when only the scaling is open; one
 * family of one scaling when both are named.
 */
export function openFamilies (opts: FitChoice): Array<{ method: FitMethodName, scalings: number }> {
  if (opts.method === 'auto') return METHODS.map(method => ({ method, scalings: SCALING_COUNT }))
  if (opts.method === undefined && opts.scaling === undefined) return [{ method: 'procrustes', scalings: SCALING_COUNT }, { method: 'affine', scalings: 1 }]
  return [{ method: opts.method ?? 'procrustes', scalings: opts.scaling === undefined ? SCALING_COUNT : 1 }]
}

/** Configurations cross-validated, each over `folds` folds: 0 when the options leave nothing open. */
export function crossValidations (opts: FitChoice): number {
  const configs = openFamilies(opts).reduce((sum, { method, scalings }) => sum + scalings * (usesRidge(method) && opts.ridge === undefined ? RIDGE_GRID_SIZE : 1), 0)
  return configs > 1 ? configs : 0
}

/** The most expensive method a choice may fit (every method for 'auto'). */
function worstFitConfig (k: number, dx: number, dy: number, opts: FitChoice, needRank: boolean): Cost {
  return worst(...openFamilies(opts).map(({ method }) => fitConfigCost(k, dx, dy, method, needRank)))
}

/**
 * Cost of the whole cross-validated selection (src/fit/fit.ts select): per fold and family scaling,
 * the anchors scaled (twice when some methods normalise rows), then the configuration's solves,
 * with the Gram and cross products shared along a ridge grid and with linear; every trial
 * translates its fold and retrieves it among the fold's targets and among every pool target (the
 * paired rule's tie-break). Pruning is not counted.
 */
function selectionCost (pool: number, dx: number, dy: number, opts: FitChoice, gallery: number): Cost {
  const f = Math.max(2, Math.min(opts.folds, pool))
  const foldRows = Math.ceil(pool / f)
  const train = pool - Math.floor(pool / f)
  const families = openFamilies(opts)
  const ranks = Math.max(5, opts.ranks ?? 5)
  const score = seq(applyMapCost(foldRows, dx, dy), neighboursCost(foldRows, foldRows, dy, ranks), neighboursCost(foldRows, pool, dy, ranks))
  const build = js((F64 + F32) * dx * dy, dx * dy)
  const scaled = F64 * train * (dx + dy)
  const scaleOnce = js(scaled, 4 * train * (dx + dy))
  // One fold: each family's scalings, each scaled (plain and unit rows) with its trials.
  let perFold = none
  for (const { method, scalings } of families) {
    const grid = usesRidge(method) && opts.ridge === undefined ? RIDGE_GRID_SIZE : 1
    // linear shares ridge's products when ridge comes with it ('auto').
    const linearShared = method === 'linear' && families.some(x => x.method === 'ridge')
    const first = seq(solveCost(train, dx, dy, method, false, linearShared), build, score)
    const rest = seq(solveCost(train, dx, dy, method, false, true), build, score)
    perFold = seq(perFold, repeat(seq(scaleOnce, scaleOnce, first, repeat(rest, grid - 1)), scalings))
  }
  return holding(F32 * gallery * dy + scaled, repeat(perFold, f))
}

/**
 * POST /v1/translators without refine: the selection (when the options leave it open), the
 * held-out scores, the final refit with its rank, the residual, the confidence model.
 */
export function fitCost (shape: FitShape, opts: FitChoice): Cost {
  const { anchors: n, dx, dy } = shape
  const held = opts.holdout > 0 ? Math.min(n, Math.max(1, Math.round(opts.holdout * n))) : 0
  const pool = n - held
  const select = crossValidations(opts) > 0 ? selectionCost(pool, dx, dy, opts, n) : none
  // Held-out rows scored in both spaces: two retrievals among all the anchors' targets.
  const holdout = held > 0 ? seq(worstFitConfig(pool, dx, dy, opts, false), applyMapCost(held, dx, dy), repeat(neighboursCost(held, n, dy, 5), 2)) : none
  const final = worstFitConfig(n, dx, dy, opts, true)
  const residual = applyMapCost(n, dx, dy)
  // The stored map (float32) stays held from the final refit to the store write.
  const map = F32 * dx * dy
  return seq(select, holdout, final, holding(map, seq(residual, confidenceCost(shape))))
}

/** buildConfidence: the support's translation, margins among the target rows, the support's kNN. */
export function confidenceCost (shape: FitShape): Cost {
  const support = Math.min(shape.sourceRows, 1024)
  const gallery = Math.min(shape.targetRows, 16384)
  return holding(F32 * (gallery * shape.dy + support * shape.dx), seq(
    applyMapCost(support, shape.dx, shape.dy),
    neighboursCost(support, gallery, shape.dy, 2),
    neighboursCost(support, support, shape.dx, 10)
  ))
}

export interface RefineChoice {
  iterations: number
  k: number
}

/**
 * Refinement (src/fit/refine.ts) of a fitted configuration: each round refits on the anchors plus
 * at most min(unpaired) pairs, translates the unpaired source rows, and finds mutual CSLS pairs
 * (four neighbour searches between the unpaired sides); then one final refit with the rank.
 */
export function refineCost (shape: FitShape, method: FitMethodName, refine: RefineChoice, holdout: number): Cost {
  const { anchors: n, dx, dy } = shape
  const unpairedX = Math.max(0, shape.sourceRows - n)
  const unpairedY = Math.max(0, shape.targetRows - n)
  const pairs = Math.min(unpairedX, unpairedY)
  const held = holdout > 0 ? Math.min(n, Math.max(1, Math.round(holdout * n))) : 0
  const k = Math.max(1, Math.min(refine.k, unpairedX, unpairedY))
  const round = seq(
    fitConfigCost(n - held + pairs, dx, dy, method, false),
    applyMapCost(held, dx, dy),
    neighboursCost(held, n + unpairedY, dy, 5),
    applyMapCost(unpairedX, dx, dy),
    repeat(neighboursCost(Math.max(unpairedX, unpairedY), Math.max(unpairedX, unpairedY), dy, k), 4)
  )
  const held64 = F32 * ((n + unpairedY) * dy + unpairedX * dx)
  return holding(held64, seq(repeat(round, refine.iterations + 1), fitConfigCost(n + pairs, dx, dy, method, true), applyMapCost(n, dx, dy)))
}

// ---------------------------------------------------------------------------------------------
// Evaluate, similarity, select

/** linearCka of rows x d1 and rows x d2: three Gram products and two transposed copies. */
export function ckaCost (rows: number, d1: number, d2: number): Cost {
  return {
    bytes: F32 * (2 * rows * (d1 + d2) + 2 * (d1 * d1 + d2 * d2 + d1 * d2)),
    engine: rows * (d1 * d1 + d2 * d2 + d1 * d2),
    js: 3 * rows * (d1 + d2),
    calls: 3
  }
}

/** POST /v1/translators/:id/evaluate: translation, retrieval (csls adds one search), CKA. */
export function evaluateCost (rows: number, dx: number, dy: number, k: number, csls: boolean): Cost {
  const translate = product32(rows, dx, dy)
  const retrieval = repeat(neighboursCost(rows, rows, dy, k), csls ? 3 : 2)
  // Retrieval and CKA run at once (Promise.all): their peaks add.
  return holding(F32 * 3 * rows * dy, seq(translate, parallel(retrieval, ckaCost(rows, dy, dy))))
}

/** POST /v1/similarity: CKA and kNN Jaccard (two self-searches) on the common rows. */
export function similarityCost (rows: number, d1: number, d2: number, k: number): Cost {
  const jaccard = seq(neighboursCost(rows, rows, d1, k), neighboursCost(rows, rows, d2, k))
  return holding(F32 * rows * (d1 + d2), parallel(ckaCost(rows, d1, d2), jaccard))
}

/** POST /v1/anchor-sets/:set/select (src/analysis/select.ts; k-means: at most 50 Lloyd iterations). */
export function selectCost (rows: number, d: number, k: number, strategy: 'fps' | 'kmeans' | 'random', maxIterations = 50): Cost {
  const unit = F32 * rows * d
  if (strategy === 'random') return js(4 * k, k)
  if (strategy === 'fps') return js(unit + 16 * rows, 2 * k * rows * d)
  const seeding = js(0, 2 * k * rows * d)
  const lloyd = repeat({ ...product32(rows, d, k), js: 2 * rows * d + rows * k }, maxIterations)
  return holding(unit + F32 * 2 * k * d + 16 * rows, seq(seeding, lloyd))
}

/** Bytes of a stored translator: the float32 map and its scaling vectors, and the confidence model. */
export function translatorBytes (dx: number, dy: number, sourceRows: number): number {
  const support = Math.min(sourceRows, 1024)
  return F32 * (dx * dy + 3 * dx + 3 * dy + support * dx + dx + 2 * support)
}

/** One direction of a migration report: `from` → `to` dims; `support` rows of its confidence model (0: none). */
export interface ReportDirectionShape {
  from: number
  to: number
  support: number
}

/**
 * POST /v1/translators/:id/report (src/analysis/report.ts): per direction, one after the other,
 * the translation, the confidence (a kNN among the support rows) and two depth-10 searches among
 * the native rows; the inputs stay held throughout.
 */
export function reportCost (rows: number, directions: ReportDirectionShape[]): Cost {
  const direction = ({ from, to, support }: ReportDirectionShape): Cost => {
    const confidence = support > 0 ? seq(js(F32 * rows * from, 3 * rows * from), neighboursCost(rows, support, from, 10)) : none
    const searches = repeat(neighboursCost(rows, rows, to, 10), 2)
    // The translated rows, their unit copy and the native rows' unit copy.
    return holding(F32 * 3 * rows * to, seq(product32(rows, from, to), confidence, searches))
  }
  const inputs = directions.reduce((sum, d) => sum + F32 * rows * d.from, 0)
  return holding(inputs, seq(...directions.map(direction)))
}

// ---------------------------------------------------------------------------------------------
// Zero-anchor alignment (src/fit/unsupervised.ts)

export interface UnsupervisedShape { sourceRows: number, targetRows: number, dx: number, dy: number }
export interface UnsupervisedChoice { restarts: number, initRows: number, inductionRows: number, maxIterations: number }

/** JS steps per similarity of one self-learning iteration: the k-NN radii's scan and the argmax scan. */
const SCAN_STEPS = 8
/** Similarities held at once by an iteration (fit/unsupervised.ts CACHE_VALUES). */
const CACHE_VALUES = 1 << 24

/**
 * The null (a greedy run from a random start) plus up to `restarts` alignments from a
 * sorted-similarity start, each counted at its iteration cap, after both pools' whitening: per
 * iteration, on the run's induction rows (ni = min(nx, inductionRows), likewise nzi), the
 * cross-covariance of up to ni + nzi pairs, its polar factor (the orthogonal map), the wider side
 * mapped into the narrower, the ni × nzi similarities (once when they fit the cache, else twice)
 * and their JS scans; per restart, both sides' m × m similarity profiles (Gram, Jacobi, product,
 * sort) and their m × m comparison; per run, on the whole pools, the final whitened mapping
 * (Jacobi on the d × d Grams) and its mutual pairs, the same again for each half of them (the
 * held-out check), and the stored map's fit.
 */
export function unsupervisedCost (shape: UnsupervisedShape, choice: UnsupervisedChoice): Cost {
  const { sourceRows: nx, targetRows: nz, dx, dy } = shape
  const small = Math.min(dx, dy)
  const large = Math.max(dx, dy)
  const ni = Math.min(nx, choice.inductionRows)
  const nzi = Math.min(nz, choice.inductionRows)
  const sims = ni * nzi
  const passes = sims <= CACHE_VALUES ? 1 : 2
  const blockRows = Math.max(1, Math.floor((1 << 20) / Math.max(1, nzi)))
  const iteration = seq(
    product64(dx, ni + nzi, dy),
    // Counted with the polar phase for ill-conditioned inputs: a noisy dictionary may give one.
    holding(F64 * dx * dy, polarCost(0, dx, dy)),
    product32(dx >= dy ? ni : nzi, large, small),
    { bytes: F32 * Math.min(sims, CACHE_VALUES) + F64 * 6 * (ni + nzi), engine: passes * sims * small, js: SCAN_STEPS * sims, calls: passes * Math.ceil(ni / blockRows) }
  )
  const m = Math.min(choice.initRows, ni, nzi)
  const profiles = (d: number): Cost => seq(product64(d, m, d), js(F64 * 3 * d * d, 20 * d * d * d), product32(m, d, d), product32(m, d, m), js(F32 * 2 * m * m, m * m * Math.log2(m + 1)))
  const start = holding(F32 * 2 * m * m, seq(profiles(dx), profiles(dy), product32(m, m, m), js(0, SCAN_STEPS * m * m)))
  const whitenedMap = seq(
    // Whitened cross-covariance, its SVD (Jacobi on the r × r Gram) and both sides' maps.
    { bytes: F64 * 6 * large * large, engine: 8 * large * large * large, js: 20 * small * small * small, calls: 8 },
    product32(nx, dx, small),
    product32(nz, dy, small)
  )
  const mutualPairs = seq(whitenedMap, neighboursCost(nx, nz, small, 10), neighboursCost(nx, nz, small, 10))
  // The run's pairs, then the held-out check: the same mapping and pairs for each half.
  const finish = seq(repeat(mutualPairs, 3), fitConfigCost(Math.min(nx, nz), dx, dy, 'procrustes', true))
  const run = seq(repeat(iteration, choice.maxIterations), finish)
  // Each run's copy of its induction rows, when it draws some.
  const pools = F32 * 2 * (nx * dx + nz * dy) + F32 * (ni < nx ? ni * dx : 0) + F32 * (nzi < nz ? nzi * dy : 0)
  // Pools within initRows and inductionRows: one start serves every restart.
  const within = Math.min(choice.initRows, choice.inductionRows)
  const starts = nx <= within && nz <= within ? 1 : choice.restarts
  const whitening = seq(product64(dx, nx, dx), js(F64 * 3 * dx * dx, 20 * dx * dx * dx), product64(dy, nz, dy), js(F64 * 3 * dy * dy, 20 * dy * dy * dy))
  return holding(pools, seq(whitening, repeat(start, starts), repeat(run, choice.restarts + 1), confidenceCost({ anchors: 0, dx, dy, sourceRows: nx, targetRows: nz })))
}
