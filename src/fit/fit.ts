/**
 * fitTranslator: one LinearMap from parallel anchors (row i of x and of y is the same item), by a
 * named method or by cross-validated selection ('auto'), with held-out scores when asked.
 *
 * Order of work:
 *   1. holdout > 0: a seeded fraction of the anchors is set aside; everything that chooses (the
 *      'auto' selection, the ridge search) sees only the rest;
 *   2. choose the configuration (method, scaling, ridge) when the options leave it open, by k-fold
 *      cross-validation over those rows, each fold retrieved among its own targets (score.ts says
 *      why not among all the anchors' targets);
 *   3. holdout > 0: fit the chosen configuration without the held-out rows and score them;
 *   4. refit the chosen configuration on every anchor: the returned map.
 */
import type { Engine } from '../engine/types.js'
import type { Matrix } from '../math/matrix.js'
import { takeRows } from '../math/matrix.js'
import { createRng, sampleIndices, shuffle } from '../math/random.js'
import { Ticker } from '../math/linalg.js'
import type { FitCandidate, FitMethod, FitOptions, FitResult, HeldOutScores, Scaling } from './types.js'
import { scaleSide } from './scaling.js'
import { solve } from './solvers.js'
import { applyMap, type LinearMap } from '../translators/map.js'
import { buildMap } from './map.js'
import { buildGallery, emptyTally, scoresOf, subGallery, tallyRows, type Gallery } from './score.js'
import type { PolarStepper } from './polar.js'
import type { ProgressSink } from '../util/progress.js'

export const FIT_METHODS: readonly FitMethod[] = ['procrustes', 'linear', 'affine', 'ridge', 'inverse-relative']
export const SCALINGS: readonly Scaling[] = ['standard', 'center', 'l2', 'none']
/** Relative ridge strengths tried when `ridge` is absent (solvers.ts defines "relative"). */
export const RIDGE_GRID: readonly number[] = [1e-4, 1e-3, 1e-2, 1e-1, 1]
/** Every method needs two anchors: a mean and an unbiased std need two rows. */
export const MIN_ANCHORS = 2

/** Too few parallel anchors for what was asked; `needed` is the smallest count that works. */
export class FitError extends Error {
  constructor (message: string, readonly needed: number, readonly available: number) {
    super(message)
    this.name = 'FitError'
  }
}

/** The engine as the fit uses it: float32 and float64 products, and the polar step when offered. */
export type FitEngine = Engine & Partial<PolarStepper>

/** A fully chosen configuration: what refinement refits with, round after round. */
export interface Config { method: FitMethod, scaling: Scaling, ridge: number }

function usesRidge (method: FitMethod): boolean {
  return method === 'ridge' || method === 'inverse-relative'
}

function checkOptions (opts: FitOptions): void {
  if (opts.method !== 'auto' && !FIT_METHODS.includes(opts.method)) throw new RangeError(`unknown method '${String(opts.method)}'`)
  if (!SCALINGS.includes(opts.scaling)) throw new RangeError(`unknown scaling '${String(opts.scaling)}'`)
  if (opts.ridge !== undefined && !(Number.isFinite(opts.ridge) && opts.ridge >= 0)) throw new RangeError(`ridge must be a finite number ≥ 0, got ${opts.ridge}`)
  if (!(Number.isFinite(opts.holdout) && opts.holdout >= 0 && opts.holdout < 1)) throw new RangeError(`holdout must be in [0, 1), got ${opts.holdout}`)
  if (!Number.isInteger(opts.folds) || opts.folds < 2) throw new RangeError(`folds must be an integer ≥ 2, got ${opts.folds}`)
  if (!Number.isSafeInteger(opts.seed)) throw new RangeError(`seed must be a safe integer, got ${opts.seed}`)
}

function heldOutCount (n: number, holdout: number): number {
  return holdout > 0 ? Math.min(n, Math.max(1, Math.round(holdout * n))) : 0
}

/** Folds actually used on `rows` anchors: at most one per anchor. */
function effectiveFolds (rows: number, folds: number): number {
  return Math.max(2, Math.min(folds, rows))
}

/** Can k-fold cross-validation run on `rows` anchors (every training part keeps MIN_ANCHORS)? */
function canCrossValidate (rows: number, folds: number): boolean {
  const f = effectiveFolds(rows, folds)
  return rows >= f && rows - Math.ceil(rows / f) >= MIN_ANCHORS
}

/** Throws FitError unless n anchors suffice for the method, holdout and folds asked for. */
function checkAnchorCount (n: number, opts: FitOptions, needsSelection: boolean): void {
  const enough = (count: number): boolean => {
    if (count < MIN_ANCHORS) return false
    const pool = count - heldOutCount(count, opts.holdout)
    if (pool < MIN_ANCHORS) return false
    return !needsSelection || canCrossValidate(pool, opts.folds)
  }
  if (enough(n)) return
  let needed = n + 1
  while (!enough(needed)) needed++
  const reasons: string[] = []
  if (opts.holdout > 0) reasons.push(`a holdout of ${opts.holdout}`)
  if (needsSelection) reasons.push(opts.method === 'auto' ? `${opts.folds}-fold cross-validation for 'auto'` : `the ${opts.folds}-fold ridge search (or pass "ridge")`)
  const why = reasons.length === 0 ? `method '${opts.method}'` : `method '${opts.method}' with ${reasons.join(' and ')}`
  throw new FitError(`${why} needs at least ${needed} parallel anchors, got ${n}`, needed, n)
}

export interface Fitted { map: LinearMap, rank: number, ms: number }

/** One fit of a chosen configuration on the given rows (all rows when `rows` is undefined). */
export async function fitConfig (engine: FitEngine, x: Matrix, y: Matrix, rows: ArrayLike<number> | undefined, config: Config, needRank: boolean, ticker: Ticker): Promise<Fitted> {
  const started = performance.now()
  const normalize = config.scaling === 'l2' || config.method === 'inverse-relative'
  const source = scaleSide(x, rows, config.scaling, normalize)
  const target = scaleSide(y, rows, config.scaling, normalize)
  await ticker.tick()
  const solution = await solve(engine, config.method, source.rows, target.rows, { ridge: config.ridge, needRank }, ticker)
  ticker.check()
  return { map: buildMap(source.scaling, target.scaling, solution, normalize), rank: solution.rank, ms: performance.now() - started }
}

/** The pool split into seeded folds (shuffled, then dealt round-robin). */
function makeFolds (pool: Int32Array, folds: number, seed: number): Int32Array[] {
  const order = shuffle(createRng(seed), Int32Array.from(pool))
  const f = effectiveFolds(pool.length, folds)
  const parts: number[][] = Array.from({ length: f }, () => [])
  order.forEach((index, i) => parts[i % f].push(index))
  return parts.map(part => Int32Array.from(part.sort((a, b) => a - b)))
}

function complement (pool: Int32Array, excluded: Int32Array): Int32Array {
  const skip = new Set(excluded)
  return pool.filter(i => !skip.has(i))
}

/**
 * The seeded split of n anchors into held-out rows and the pool the fit sees; refinement uses
 * the same split so its held-out rows are the ones the unrefined scores were measured on.
 */
export function holdoutSplit (n: number, holdout: number, seed: number): { heldOut: Int32Array, pool: Int32Array } {
  const all = Int32Array.from({ length: n }, (_, i) => i)
  const heldCount = heldOutCount(n, holdout)
  if (heldCount === 0) return { heldOut: new Int32Array(0), pool: all }
  const heldOut = Int32Array.from(sampleIndices(createRng(seed), n, heldCount)).sort()
  return { heldOut, pool: complement(all, heldOut) }
}

interface Evaluation { scores: HeldOutScores, fitMs: number }

/** Fits on `train`, translates `test` and adds their retrieval among the gallery to the tally. */
async function scoreSplit (engine: FitEngine, x: Matrix, y: Matrix, train: Int32Array, test: Int32Array, config: Config, gallery: Gallery, ticker: Ticker, tally = emptyTally()): Promise<{ tally: typeof tally, ms: number }> {
  const fitted = await fitConfig(engine, x, y, train, config, false, ticker)
  ticker.check()
  const translated = await applyMap(takeRows(x, test), fitted.map, engine)
  await tallyRows(translated, test, gallery, engine, tally)
  return { tally, ms: fitted.ms }
}

/** Called after each cross-validation fold of a fit that reports progress (keyed by its ticker). */
const foldDone = new WeakMap<Ticker, () => void>()

/** Each fold translated by the map fitted on the others, retrieved among the fold's own targets. */
async function crossValidate (engine: FitEngine, x: Matrix, y: Matrix, folds: Int32Array[], pool: Int32Array, config: Config, gallery: Gallery, ticker: Ticker): Promise<Evaluation> {
  const tally = emptyTally()
  let ms = 0
  for (const fold of folds) {
    const fitted = await fitConfig(engine, x, y, complement(pool, fold), config, false, ticker)
    ticker.check()
    const translated = await applyMap(takeRows(x, fold), fitted.map, engine)
    await tallyRows(translated, Int32Array.from(fold, (_, i) => i), subGallery(gallery, fold), engine, tally)
    ms += fitted.ms
    foldDone.get(ticker)?.()
  }
  return { scores: scoresOf(tally), fitMs: ms / folds.length }
}

/** Higher top-1 wins; ties go to the higher mean cosine. */
function better (a: HeldOutScores, b: HeldOutScores): boolean {
  return a.top1 > b.top1 || (a.top1 === b.top1 && a.meanCosine > b.meanCosine)
}

interface Selection {
  config: Config
  candidates?: FitCandidate[]
  ridgeSearch?: Array<{ ridge: number, top1: number, meanCosine: number }>
}

/** The best ridge of the grid for a method and scaling, by cross-validation. */
async function searchRidge (engine: FitEngine, x: Matrix, y: Matrix, folds: Int32Array[], pool: Int32Array, method: FitMethod, scaling: Scaling, gallery: Gallery, ticker: Ticker): Promise<{ best: Config, evaluation: Evaluation, search: Array<{ ridge: number, top1: number, meanCosine: number }> }> {
  let best: { config: Config, evaluation: Evaluation } | undefined
  const search: Array<{ ridge: number, top1: number, meanCosine: number }> = []
  for (const ridge of RIDGE_GRID) {
    const config = { method, scaling, ridge }
    const evaluation = await crossValidate(engine, x, y, folds, pool, config, gallery, ticker)
    search.push({ ridge, top1: evaluation.scores.top1, meanCosine: evaluation.scores.meanCosine })
    if (best === undefined || better(evaluation.scores, best.evaluation.scores)) best = { config, evaluation }
  }
  const chosen = best as { config: Config, evaluation: Evaluation }
  return { best: chosen.config, evaluation: chosen.evaluation, search }
}

async function select (engine: FitEngine, x: Matrix, y: Matrix, pool: Int32Array, opts: FitOptions, gallery: Gallery, ticker: Ticker): Promise<Selection> {
  const folds = makeFolds(pool, opts.folds, opts.seed)
  if (opts.method !== 'auto') {
    // Only a ridge method without a ridge gets here.
    const { best, search } = await searchRidge(engine, x, y, folds, pool, opts.method, opts.scaling, gallery, ticker)
    return { config: best, ridgeSearch: search }
  }
  const candidates: FitCandidate[] = []
  let best: { config: Config, scores: HeldOutScores, search?: Selection['ridgeSearch'] } | undefined
  for (const method of FIT_METHODS) {
    for (const scaling of SCALINGS) {
      let config: Config = { method, scaling, ridge: opts.ridge ?? 0 }
      let evaluation: Evaluation
      let search: Selection['ridgeSearch']
      if (usesRidge(method) && opts.ridge === undefined) {
        const found = await searchRidge(engine, x, y, folds, pool, method, scaling, gallery, ticker)
        config = found.best
        evaluation = found.evaluation
        search = found.search
      } else {
        evaluation = await crossValidate(engine, x, y, folds, pool, config, gallery, ticker)
      }
      const { top1, meanCosine, mrr } = evaluation.scores
      candidates.push({ method, scaling, ...(usesRidge(method) ? { ridge: config.ridge } : {}), top1, meanCosine, mrr, fitMs: evaluation.fitMs })
      if (best === undefined || better(evaluation.scores, best.scores)) best = { config, scores: evaluation.scores, search }
    }
  }
  const chosen = best as { config: Config, search?: Selection['ridgeSearch'] }
  return { config: chosen.config, candidates, ...(chosen.search !== undefined ? { ridgeSearch: chosen.search } : {}) }
}

function checkInputs (x: Matrix, y: Matrix): void {
  for (const [m, name] of [[x, 'x'], [y, 'y']] as const) {
    if (!(m.data instanceof Float32Array) || m.data.length !== m.rows * m.cols) throw new RangeError(`${name} must be a rows x cols float32 matrix`)
    if (m.cols < 1) throw new RangeError(`${name} needs at least one column`)
  }
  if (x.rows !== y.rows) throw new RangeError(`source and target anchors must be parallel: ${x.rows} rows against ${y.rows}`)
}

/**
 * Fits a translator from source anchors x to target anchors y (row i of each is the same item).
 * Throws FitError when there are too few anchors for the options, RangeError for bad options or
 * shapes. Heavy products run in the engine's workers; JS loops yield every few milliseconds.
 */
export async function fitTranslator (x: Matrix, y: Matrix, opts: FitOptions, engine: FitEngine, signal?: AbortSignal, progress?: ProgressSink): Promise<FitResult> {
  const started = performance.now()
  checkOptions(opts)
  checkInputs(x, y)
  const n = x.rows
  const needsSelection = opts.method === 'auto' || (usesRidge(opts.method) && opts.ridge === undefined)
  checkAnchorCount(n, opts, needsSelection)
  const ticker = new Ticker(undefined, signal)
  if (progress !== undefined && needsSelection) {
    // Progress in folds fitted: every configuration the selection cross-validates, times the folds.
    const configs = opts.method === 'auto'
      ? FIT_METHODS.reduce((sum, m) => sum + SCALINGS.length * (usesRidge(m) && opts.ridge === undefined ? RIDGE_GRID.length : 1), 0)
      : RIDGE_GRID.length
    const total = configs * opts.folds
    let done = 0
    progress({ phase: 'cross-validation', done, total })
    foldDone.set(ticker, () => { done = Math.min(done + 1, total); progress({ phase: 'cross-validation', done, total }) })
  }
  const gallery = buildGallery(y)

  const { heldOut, pool } = holdoutSplit(n, opts.holdout, opts.seed)
  const heldCount = heldOut.length

  let selection: Selection
  if (needsSelection) {
    selection = await select(engine, x, y, pool, opts, gallery, ticker)
  } else {
    selection = { config: { method: opts.method as FitMethod, scaling: opts.scaling, ridge: opts.ridge ?? 0 } }
  }
  const config = selection.config

  let heldOutScores: HeldOutScores | null = null
  if (heldCount > 0) heldOutScores = scoresOf((await scoreSplit(engine, x, y, pool, heldOut, config, gallery, ticker)).tally)

  const final = await fitConfig(engine, x, y, undefined, config, true, ticker)
  ticker.check()
  const fitResidual = await residual(x, y, final.map, engine)
  const ridge = usesRidge(config.method) ? config.ridge : undefined
  return {
    map: final.map,
    method: config.method,
    scaling: config.scaling,
    ...(ridge !== undefined ? { ridge } : {}),
    diagnostics: {
      rank: final.rank,
      fitResidual,
      heldOut: heldOutScores,
      ...(selection.candidates !== undefined ? { candidates: selection.candidates } : {}),
      ...(selection.ridgeSearch !== undefined ? { ridgeSearch: selection.ridgeSearch } : {}),
      fitMs: performance.now() - started
    }
  }
}

/** ‖X̂ − Y‖_F / ‖Y‖_F in the target space (0 when Y is all zeros and so is the error). */
export async function residual (x: Matrix, y: Matrix, map: LinearMap, engine: FitEngine): Promise<number> {
  const translated = await applyMap(x, map, engine)
  let error = 0
  let norm = 0
  for (let i = 0; i < y.data.length; i++) {
    error += (translated.data[i] - y.data[i]) ** 2
    norm += y.data[i] * y.data[i]
  }
  return norm > 0 ? Math.sqrt(error / norm) : Math.sqrt(error)
}
