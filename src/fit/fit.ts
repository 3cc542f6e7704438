/**
 * fitTranslator: one LinearMap from parallel anchors (row i of x and of y is the same item), by a
 * named method and scaling, or with what the options leave open chosen by cross-validation
 * ('auto': method and scaling; no scaling: the scaling; a ridge method without ridge: the
 * strength), with held-out scores when asked.
 *
 * Order of work:
 *   1. holdout > 0: a seeded fraction of the anchors is set aside; everything that chooses sees
 *      only the rest;
 *   2. choose the configuration (method, scaling, ridge) when the options leave it open, by k-fold
 *      cross-validation over those rows, each fold retrieved among its own targets in the
 *      selection space, raw by default (score.ts says why), statistical ties broken among every
 *      anchor's target (the paired rule, `choose`);
 *   3. holdout > 0: fit the chosen configuration without the held-out rows and score them, in
 *      both spaces;
 *   4. refit the chosen configuration on every anchor: the returned map.
 */
import type { Engine } from '../engine/types.js'
import type { Matrix } from '../math/matrix.js'
import { takeRows } from '../math/matrix.js'
import { createRng, sampleIndices, shuffle } from '../math/random.js'
import { Ticker } from '../math/linalg.js'
import type { FitCandidate, FitMethod, FitOptions, FitResult, HeldOutScores, Scaling, Selection as FitSelection, SelectionMetric, SelectionReport } from './types.js'
import { scaleSide, type ScaledSide } from './scaling.js'
import { solve, type SharedProducts } from './solvers.js'
import { applyMap, type LinearMap } from '../translators/map.js'
import { buildMap } from './map.js'
import { buildGallery, emptyTally, MAX_RECALL_K, metricOf, metricSum, ranksFor, recallK, rowMetric, scoresOf, subGallery, tallyRows, type Gallery, type Tally } from './score.js'
import type { PolarStepper } from './polar.js'
import type { ProgressSink } from '../util/progress.js'

export const FIT_METHODS: readonly FitMethod[] = ['procrustes', 'linear', 'affine', 'ridge', 'inverse-relative']
export const SCALINGS: readonly Scaling[] = ['standard', 'center', 'l2', 'none']
/** The method of a fit that names none; its scaling is then chosen by cross-validation. */
export const DEFAULT_METHOD: FitMethod = 'procrustes'
/**
 * The scaling of a fit that names none when its anchors are too few to cross-validate a choice:
 * centring alone keeps the target's common direction, which raw retrieval depends on.
 */
export const FALLBACK_SCALING: Scaling = 'center'
/** How candidates are scored unless the fit says otherwise: top-1 among the raw target vectors. */
export const DEFAULT_SELECTION: FitSelection = { space: 'raw', metric: 'top1' }
/** Relative ridge strengths tried when `ridge` is absent (solvers.ts defines "relative"). */
export const RIDGE_GRID: readonly number[] = [1e-4, 1e-3, 1e-2, 1e-1, 1]
/**
 * Standard errors within which a candidate's cross-validated lead is not taken as real: the
 * leader and a candidate whose per-row difference sums to at most this many standard errors are
 * tied, and the all-anchors gallery decides among the tied (the paired rule, docs/methods.md §7).
 */
export const SELECTION_TIE_Z = 2
/**
 * What a fit that names neither method nor scaling chooses among: Procrustes with each scaling,
 * and the affine least-squares map on unit rows, the one general map that led on held-out words
 * where no rotation did (docs/methods.md §8.3).
 */
export const DEFAULT_CANDIDATES: ReadonlyArray<{ method: FitMethod, scaling: Scaling }> = [
  ...SCALINGS.map(scaling => ({ method: 'procrustes' as const, scaling })),
  { method: 'affine', scaling: 'l2' }
]
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

/** A selection metric's validity: top1, mrr, or recall@k with k in 1..MAX_RECALL_K. */
export function isSelectionMetric (metric: string): metric is SelectionMetric {
  if (metric === 'top1' || metric === 'mrr') return true
  if (!/^recall@[1-9][0-9]*$/.test(metric)) return false
  const k = recallK(metric as SelectionMetric) as number
  return k >= 1 && k <= MAX_RECALL_K
}

function checkOptions (opts: FitOptions): void {
  if (opts.method !== undefined && opts.method !== 'auto' && !FIT_METHODS.includes(opts.method)) throw new RangeError(`unknown method '${String(opts.method)}'`)
  if (opts.scaling !== undefined && !SCALINGS.includes(opts.scaling)) throw new RangeError(`unknown scaling '${String(opts.scaling)}'`)
  const space = opts.selection?.space
  if (space !== undefined && space !== 'raw' && space !== 'centered') throw new RangeError(`unknown selection space '${String(space)}'`)
  const metric = opts.selection?.metric
  if (metric !== undefined && !isSelectionMetric(metric)) throw new RangeError(`unknown selection metric '${String(metric)}'`)
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

/** Fits on `train`, translates `test` and adds their retrieval among each gallery to its tally. */
async function scoreSplit (engine: FitEngine, x: Matrix, y: Matrix, train: Int32Array, test: Int32Array, config: Config, galleries: Gallery[], ticker: Ticker): Promise<Tally[]> {
  const fitted = await fitConfig(engine, x, y, train, config, false, ticker)
  ticker.check()
  const translated = await applyMap(takeRows(x, test), fitted.map, engine)
  const tallies = galleries.map(() => emptyTally())
  for (let g = 0; g < galleries.length; g++) await tallyRows(translated, test, galleries[g], engine, tallies[g])
  return tallies
}

/** Higher metric wins; ties go to the higher mean cosine (then to the earlier candidate). */
function better (a: { value: number, meanCosine: number }, b: { value: number, meanCosine: number }): boolean {
  return a.value > b.value || (a.value === b.value && a.meanCosine > b.meanCosine)
}

/** One configuration being cross-validated, and its running tally over the folds done. */
interface Trial {
  config: Config
  /** Index of its (method, scaling) family: a family's ridge grid is one candidate. */
  family: number
  /** Each fold among its own targets: the selection metric. */
  tally: Tally
  /** Each fold among every pool row's target: the tie-break of the paired rule. */
  poolTally: Tally
  /** The selection metric of each pool row scored so far, by its place in the pool. */
  values: Float64Array
  folds: number
  ms: number
  pruned: boolean
  /** The earlier trial this one equals exactly: its tally is that trial's, computed once. */
  sameAs?: number
}

/**
 * The scaling whose scaled sides equal this configuration's: inverse-relative normalises every
 * row, so its 'center' (centre, then unit rows) is exactly its 'l2' (centred rows over their norm),
 * statistics and output norm included.
 */
function canonicalScaling (config: Config): Scaling {
  return config.method === 'inverse-relative' && config.scaling === 'l2' ? 'center' : config.scaling
}

interface Selection {
  config: Config
  chose: SelectionReport['chose']
  score: number
  candidates?: FitCandidate[]
  ridgeSearch?: RidgeTrial[]
}

type RidgeTrial = NonNullable<FitResult['diagnostics']['ridgeSearch']>[number]

/**
 * The configurations the options leave open, as families (a method and scaling; a ridge
 * method's grid is one family): every method x scaling for 'auto', DEFAULT_CANDIDATES when
 * neither method nor scaling is named, the named method's scalings when only the scaling is open.
 */
function trialsFor (opts: FitOptions, named: { method?: FitOptions['method'], scaling?: Scaling }, poolRows: number, ranks: number): { trials: Trial[], chose: SelectionReport['chose'] } {
  let families: Array<{ method: FitMethod, scaling: Scaling }>
  if (opts.method === 'auto') families = FIT_METHODS.flatMap(method => SCALINGS.map(scaling => ({ method, scaling })))
  else if (named.method === undefined && named.scaling === undefined) families = [...DEFAULT_CANDIDATES]
  else {
    const method = opts.method ?? DEFAULT_METHOD
    families = (opts.scaling === undefined ? SCALINGS : [opts.scaling]).map(scaling => ({ method, scaling }))
  }
  const trials: Trial[] = []
  let searched = false
  families.forEach(({ method, scaling }, family) => {
    const ridges = usesRidge(method) && opts.ridge === undefined ? RIDGE_GRID : [opts.ridge ?? 0]
    if (ridges.length > 1) searched = true
    for (const ridge of ridges) {
      const config = { method, scaling, ridge }
      const sameAs = trials.findIndex(t => t.config.method === method && t.config.ridge === ridge && canonicalScaling(t.config) === canonicalScaling(config))
      // An equal trial shares its tallies and row values: the one that runs fills them for both.
      const scored = sameAs >= 0
        ? { tally: trials[sameAs].tally, poolTally: trials[sameAs].poolTally, values: trials[sameAs].values, sameAs }
        : { tally: emptyTally(ranks), poolTally: emptyTally(ranks), values: new Float64Array(poolRows) }
      trials.push({ config, family, ...scored, folds: 0, ms: 0, pruned: false })
    }
  })
  const chose: SelectionReport['chose'] = []
  if (new Set(families.map(f => f.method)).size > 1) chose.push('method')
  if (new Set(families.map(f => f.scaling)).size > 1) chose.push('scaling')
  if (searched) chose.push('ridge')
  return { trials, chose }
}

/** The scaled-sides key of a configuration: trials with one key share their scaling work and products. */
function sidesKey (config: Config): string {
  return `${config.scaling}/${config.scaling === 'l2' || config.method === 'inverse-relative' ? 'unit' : 'plain'}`
}

/**
 * k-fold cross-validation of every open configuration: each fold translated by the map fitted on
 * the others and retrieved among the fold's own targets (the selection metric), and among every
 * pool row's target (the tie-break). Fold by fold, so each fold's scaled anchors, Grams and cross
 * products are formed once for every configuration that uses them, and a configuration stops once
 * it can neither lead nor tie the leader whatever the rows still to come score (exact: the
 * configuration chosen is the one a full run chooses).
 */
async function select (engine: FitEngine, x: Matrix, y: Matrix, pool: Int32Array, opts: FitOptions, named: { method?: FitOptions['method'], scaling?: Scaling }, selection: FitSelection, gallery: Gallery, ticker: Ticker): Promise<Selection> {
  const folds = makeFolds(pool, opts.folds, opts.seed)
  const rule = opts.galleryRule ?? 'paired'
  const { trials, chose } = trialsFor(opts, named, pool.length, ranksFor(selection.metric))
  const placeInPool = new Map<number, number>()
  pool.forEach((row, place) => placeInPool.set(row, place))
  const poolGallery = subGallery(gallery, pool)
  // Visit trials grouped by scaled sides, so one fold holds one pair of scaled anchor sets at a time.
  const order = trials.map((_, i) => i).sort((a, b) => sidesKey(trials[a].config).localeCompare(sidesKey(trials[b].config)) || a - b)
  const total = trials.length * folds.length
  let done = 0
  let rowsLeft = pool.length
  for (const fold of folds) {
    const train = complement(pool, fold)
    const places = Int32Array.from(fold, row => placeInPool.get(row) as number)
    // 'pool' (for comparing rules only): the selection metric itself among every pool row's target.
    const foldGallery = rule === 'pool' ? poolGallery : subGallery(gallery, fold)
    const own = rule === 'pool' ? places : Int32Array.from(fold, (_, i) => i)
    const queries = takeRows(x, fold)
    rowsLeft -= fold.length
    let key = ''
    let sides: { source: ScaledSide, target: ScaledSide, shared: SharedProducts } | undefined
    for (const t of order) {
      const trial = trials[t]
      if (trial.pruned) { done++; continue }
      if (trial.sameAs !== undefined) {
        // Its tallies are the equal trial's, filled when that one ran on this fold.
        trial.folds++
        opts.progress?.({ phase: 'cross-validation', done: ++done, total })
        continue
      }
      const config = trial.config
      const normalize = config.scaling === 'l2' || config.method === 'inverse-relative'
      if (sidesKey(config) !== key || sides === undefined) {
        key = sidesKey(config)
        sides = undefined
        sides = { source: scaleSide(x, train, config.scaling, normalize), target: scaleSide(y, train, config.scaling, normalize), shared: {} }
        await ticker.tick()
      }
      const started = performance.now()
      const solution = await solve(engine, config.method, sides.source.rows, sides.target.rows, { ridge: config.ridge, needRank: false }, ticker, sides.shared)
      const map = buildMap(sides.source.scaling, sides.target.scaling, solution, normalize)
      trial.ms += performance.now() - started
      ticker.check()
      const translated = await applyMap(queries, map, engine)
      const rowRanks = await tallyRows(translated, own, foldGallery, engine, trial.tally)
      for (let i = 0; i < places.length; i++) trial.values[places[i]] = rowMetric(rowRanks[i], selection.metric)
      if (rule === 'paired') await tallyRows(translated, places, poolGallery, engine, trial.poolTally)
      trial.folds++
      opts.progress?.({ phase: 'cross-validation', done: ++done, total })
    }
    prune(trials, selection.metric, rowsLeft, rule === 'paired' ? SELECTION_TIE_Z * Math.sqrt(pool.length) : 0)
  }
  for (const trial of trials) if (trial.sameAs !== undefined) trial.ms = trials[trial.sameAs].ms
  return choose(trials, selection.metric, chose, opts.method === 'auto' || opts.scaling === undefined, rule === 'paired')
}

/**
 * Marks the trials that cannot lead or tie: their best possible final sum (every row still to come
 * a full hit) is below a rival's sum so far by more than `margin`. A paired tie needs a difference
 * of at most SELECTION_TIE_Z·√(Σd²) ≤ SELECTION_TIE_Z·√rows (each row's difference is within ±1),
 * which is the margin the paired rule passes.
 */
function prune (trials: Trial[], metric: SelectionMetric, rowsLeft: number, margin: number): void {
  if (rowsLeft === 0) return
  const sums = trials.map(trial => metricSum(trial.tally, metric))
  const leader = Math.max(...sums.filter((_, i) => !trials[i].pruned))
  trials.forEach((trial, i) => { if (!trial.pruned && sums[i] + rowsLeft + margin < leader) trial.pruned = true })
}

/**
 * Whether the leader's lead over a candidate is within SELECTION_TIE_Z standard errors of their
 * per-row differences d (a paired test on the same rows: Σd ≤ z·√(Σd² − (Σd)²/n)).
 */
export function pairedTie (leader: Float64Array, other: Float64Array, z = SELECTION_TIE_Z): boolean {
  const n = leader.length
  let sum = 0
  let squares = 0
  for (let i = 0; i < n; i++) {
    const d = leader[i] - other[i]
    sum += d
    squares += d * d
  }
  return sum <= z * Math.sqrt(Math.max(0, squares - (n > 0 ? sum * sum / n : 0)))
}

/**
 * What ranks tied candidates among every pool row's target: recall@k for recall@k, else MRR@5.
 * MRR rather than top-1: in that larger gallery the training folds' targets pull some queries
 * off their own target (score.ts), which costs top-1 more than MRR (docs/methods.md §7).
 */
export function tieBreakMetric (metric: SelectionMetric): SelectionMetric {
  return recallK(metric) !== undefined ? metric : 'mrr'
}

function choose (trials: Trial[], metric: SelectionMetric, chose: SelectionReport['chose'], listCandidates: boolean, paired: boolean): Selection {
  const judged = trials.map(trial => ({ trial, value: metricOf(trial.tally, metric), poolValue: metricOf(trial.poolTally, tieBreakMetric(metric)), scores: scoresOf(trial.tally), tied: false }))
  type Judged = typeof judged[number]
  const key = (j: Judged): { value: number, meanCosine: number } => ({ value: j.value, meanCosine: j.scores.meanCosine })
  // The paired rule: the leader by the selection metric, and every candidate statistically tied
  // with it; among the tied, the all-anchors gallery's metric decides.
  const complete = judged.filter(j => !j.trial.pruned)
  const leader = complete.reduce((a, b) => better(key(b), key(a)) ? b : a)
  if (paired) for (const j of complete) j.tied = j === leader || pairedTie(leader.trial.values, j.trial.values)
  const ahead = (a: Judged, b: Judged): boolean => {
    if (a.tied !== b.tied) return a.tied
    return a.tied ? better({ value: a.poolValue, meanCosine: a.scores.meanCosine }, { value: b.poolValue, meanCosine: b.scores.meanCosine }) : better(key(a), key(b))
  }
  // Best of each family (its ridge grid), then the best family; pruned trials cannot win either.
  const families = new Map<number, Judged[]>()
  for (const j of judged) {
    const list = families.get(j.trial.family)
    if (list === undefined) families.set(j.trial.family, [j])
    else list.push(j)
  }
  let best: { j: Judged, members: Judged[] } | undefined
  const candidates: FitCandidate[] = []
  for (const members of families.values()) {
    const finished = members.filter(j => !j.trial.pruned)
    const pick = (finished.length > 0 ? finished : members).reduce((a, b) => ahead(b, a) ? b : a)
    const { method, scaling, ridge } = pick.trial.config
    const fitMs = members.reduce((sum, j) => sum + j.trial.ms, 0) / Math.max(1, members.reduce((sum, j) => sum + j.trial.folds, 0))
    candidates.push({
      method, scaling, ...(usesRidge(method) ? { ridge } : {}),
      score: pick.value, top1: pick.scores.top1, meanCosine: pick.scores.meanCosine, mrr: pick.scores.mrr, fitMs,
      ...(paired ? { poolScore: pick.poolValue } : {}),
      ...(pick.tied ? { tied: true as const } : {}),
      ...(finished.length === 0 ? { pruned: true as const } : {})
    })
    if (finished.length > 0 && (best === undefined || ahead(pick, best.j))) best = { j: pick, members }
  }
  const chosen = best as { j: Judged, members: Judged[] }
  const ridgeSearch = chosen.members.length > 1
    ? chosen.members.map(j => ({ ridge: j.trial.config.ridge, score: j.value, top1: j.scores.top1, meanCosine: j.scores.meanCosine, ...(j.trial.pruned ? { pruned: true as const } : {}) }))
    : undefined
  return {
    config: chosen.j.trial.config,
    chose,
    score: chosen.j.value,
    ...(listCandidates ? { candidates } : {}),
    ...(ridgeSearch !== undefined ? { ridgeSearch } : {})
  }
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
  const method = opts.method ?? DEFAULT_METHOD
  const selectionOpts: FitSelection = { ...DEFAULT_SELECTION, ...opts.selection }
  // A scaling left open is chosen by cross-validation when the anchors allow it, else the fallback.
  let scalingOpen = method !== 'auto' && opts.scaling === undefined
  const ridgeOpen = method !== 'auto' && usesRidge(method) && opts.ridge === undefined
  if (scalingOpen && !ridgeOpen && !canCrossValidate(n - heldOutCount(n, opts.holdout), opts.folds)) scalingOpen = false
  const resolved: FitOptions = { ...opts, method, scaling: opts.scaling ?? (scalingOpen ? undefined : FALLBACK_SCALING), progress: progress ?? opts.progress }
  const needsSelection = method === 'auto' || ridgeOpen || scalingOpen
  checkAnchorCount(n, resolved, needsSelection)
  const ticker = new Ticker(undefined, signal)
  const gallery = buildGallery(y, selectionOpts.space)

  const { heldOut, pool } = holdoutSplit(n, opts.holdout, opts.seed)
  const heldCount = heldOut.length

  let selection: Selection | undefined
  let config: Config
  if (needsSelection) {
    selection = await select(engine, x, y, pool, resolved, { method: opts.method, scaling: opts.scaling }, selectionOpts, gallery, ticker)
    config = selection.config
  } else {
    config = { method: method as FitMethod, scaling: resolved.scaling as Scaling, ridge: opts.ridge ?? 0 }
  }

  let heldOutScores: HeldOutScores | null = null
  let heldOutBySpace: FitResult['diagnostics']['heldOutBySpace'] = null
  if (heldCount > 0) {
    // Held-out rows among all the anchors' targets, in both spaces (the selection's is `heldOut`).
    const other = buildGallery(y, selectionOpts.space === 'raw' ? 'centered' : 'raw')
    const [own, theirs] = (await scoreSplit(engine, x, y, pool, heldOut, config, [gallery, other], ticker)).map(scoresOf)
    heldOutScores = own
    heldOutBySpace = selectionOpts.space === 'raw' ? { raw: own, centered: theirs } : { raw: theirs, centered: own }
  }

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
      heldOutBySpace,
      ...(selection !== undefined
        ? { selection: { ...selectionOpts, chose: selection.chose, folds: effectiveFolds(pool.length, opts.folds), score: selection.score } }
        : {}),
      ...(selection?.candidates !== undefined ? { candidates: selection.candidates } : {}),
      ...(selection?.ridgeSearch !== undefined ? { ridgeSearch: selection.ridgeSearch } : {}),
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
