/**
 * Alignment of two spaces with no known pair: two pools of rows, one per space, of which some
 * (unknown) items are the same. A start from each space's own geometry (unsupervised-init.ts), then
 * self-learning as VecMap runs it (Artetxe et al. 2018): fit the orthogonal map on the current
 * dictionary (`orthogonalMapped`), induce the next dictionary from the CSLS nearest neighbours in
 * both directions with stochastic dictionary induction (each similarity dropped with probability
 * 1 − p, p doubling from 0.1 whenever the objective has stalled for `patience` iterations), until
 * p = 1 and the objective stops rising; the final pairs come from VecMap's whitened mapping
 * (`whitenedMapped`) of the last dictionary. From a start that is hardly better than chance, as
 * on real pools, it is the long stochastic stage that finds the right basin (or not): the
 * objective creeps up for tens to hundreds of iterations, then jumps. Restarts (seeds, and row
 * subsets when the pools exceed `initRows` or `inductionRows`) until one is confirmed, up to
 * `restarts`; the best by the unsupervised criterion is kept. A run's self-learning works on at
 * most `inductionRows` rows per side, so an iteration's cost does not grow with the pools; its
 * final map pairs every row of both.
 *
 * The alignment is symmetric: the wider pool is mapped into the narrower one's dimensions, so the
 * dictionary does not depend on which space is called the source.
 *
 * The verdict. A run can fail (a wrong basin), and pools may share nothing; nothing in a run's own
 * numbers says so on an absolute scale. So the evidence is relative (see `judge`):
 *   - a null: self-learning from a random dictionary on the same pools, greedy (p = 1 from the
 *     first iteration: no exploration, so it stops in the nearest wrong basin; with exploration it
 *     could find the right one as often as a restart does, since the start is near chance); a run
 *     that found a real correspondence scores well above it, a failed one near its level;
 *   - held-out reproduction: a map fitted on half of the run's pairs finds the other half again
 *     (a cross-validation of the dictionary; a wrong basin's pairs do not predict each other);
 *   - agreement: any other restart that also cleared the null reaches the same pairs;
 *   - the mutual nearest-neighbour rate of the final map, against the null's;
 *   - the run finished its schedule (p reached 1 and the objective settled).
 * Every product goes through the engine in row blocks; memory O(block × pool) beyond the pools,
 * or one induction-rows × induction-rows float32 matrix when that is at most CACHE_VALUES.
 */
import type { Matrix } from '../math/matrix.js'
import { takeRows } from '../math/matrix.js'
import { Ticker, toFloat32 } from '../math/linalg.js'
import { createRng, keptPositions, sampleIndices, shuffle, type Rng } from '../math/random.js'
import { addBlockToTops, mutualNearestCsls, TopValues, type MutualPairs } from '../analysis/csls.js'
import type { ProgressSink } from '../util/progress.js'
import type { FitEngine } from './fit.js'
import { polarFactor } from './polar.js'
import { MAX_INIT_ROWS, psdFunction, sortedProfiles, symmetricEigen, unitCentreUnit } from './unsupervised-init.js'

export interface UnsupervisedOptions {
  /** Alignments at most, from different seeds (and init subsets); they stop at the first one confirmed. */
  restarts: number
  /** Rows per side whose sorted similarity profiles make the start (≤ MAX_INIT_ROWS). */
  initRows: number
  /**
   * Rows per side each run's self-learning works on, drawn at random per run when a pool has more
   * (all rows otherwise); the run's final map then pairs every row of both pools. Bounds an
   * iteration's cost, which grows with the product of the pools' sizes, as VecMap's vocabulary
   * cutoff does.
   */
  inductionRows: number
  /** CSLS neighbourhood size. */
  k: number
  /** Iterations without a rise of the objective before the keep probability doubles. */
  patience: number
  /** Iterations per run at most; a run cut there has not converged. */
  maxIterations: number
  seed: number
  /** Called after every self-learning iteration (benches and tests that watch a run). */
  trace?: (step: { restart: number, iteration: number, keep: number, objective: number }) => void
}

export const UNSUPERVISED_DEFAULTS: Omit<UnsupervisedOptions, 'seed'> = {
  restarts: 6,
  initRows: MAX_INIT_ROWS,
  inductionRows: 4000,
  k: 10,
  patience: 50,
  maxIterations: 1500
}

/** Rows per side an alignment needs at least. */
export const MIN_POOL_ROWS = 50

/** Similarities held in one matrix when both passes of an iteration can share it (64 MiB). */
export const CACHE_VALUES = 1 << 24

const INITIAL_KEEP = 0.1
const OBJECTIVE_THRESHOLD = 1e-6

export interface AlignmentRun {
  /** 0.. for restarts; -1 for the null. */
  restart: number
  seed: number
  start: 'sorted-similarity' | 'random'
  iterations: number
  /** Rows of each pool its self-learning worked on (`inductionRows`, drawn per run). */
  selfLearningRows: { source: number, target: number }
  /** The keep probability reached 1 and the objective then stopped rising within maxIterations. */
  converged: boolean
  /** VecMap's objective at the end: mean best cosine, both directions averaged. */
  objective: number
  /** Mutual CSLS nearest neighbours of the final map, as a fraction of the smaller pool. */
  mutualRate: number
  /** Mean CSLS of those pairs: the criterion restarts are ranked by. */
  meanCsls: number
  /**
   * Fraction of those pairs that the whitened map fitted on the other half of them pairs the same
   * way (a random split, both halves averaged): a map that generalises reproduces most of them; a
   * wrong basin's map, fitted to pairs it chose itself, few (`heldOutReproduction`).
   */
  heldOut: number
  ms: number
}

export interface UnsupervisedEvidence {
  runs: AlignmentRun[]
  null: AlignmentRun
  /** Restart kept (the highest meanCsls). */
  best: number
  /**
   * Fraction of the kept run's pairs that each other restart which also cleared the null found,
   * the least of them; null when no other restart cleared it.
   */
  agreement: number | null
  /** Restarts allowed; fewer ran when one was confirmed first (`runs.length`). */
  restartsAllowed: number
  /** The anchors' check when ids the pools share were given: their top-1 under the kept map. */
  anchorCheck?: { count: number, top1: number }
}

export interface UnsupervisedVerdict extends UnsupervisedEvidence {
  reliable: boolean
  /** Why, in words: the rule's parts that held or failed. */
  reasons: string[]
}

export interface AlignmentResult {
  /** The kept run's mutual CSLS pairs: rows of x and of z. */
  pairs: MutualPairs
  /** Every restart's mutual pairs, in restart order (for benches and tests that know the truth). */
  runPairs: MutualPairs[]
  evidence: UnsupervisedEvidence
}

// ---------------------------------------------------------------------------------------------
// Similarity passes

/**
 * Visits a · bᵀ in blocks of a's rows (one engine call per block, or one for the whole product when
 * it fits CACHE_VALUES and is then kept for the next pass), yielding to the event loop between
 * blocks.
 */
class Similarities {
  private cached: Float32Array | null = null
  constructor (private readonly a: Matrix, private readonly b: Matrix, private readonly engine: FitEngine, private readonly ticker: Ticker) {}

  async forEach (visit: (sims: Float32Array, start: number, end: number) => void): Promise<void> {
    const { a, b } = this
    const blockRows = Math.max(1, Math.floor((1 << 20) / Math.max(1, b.rows)))
    if (this.cached === null && a.rows * b.rows <= CACHE_VALUES) {
      this.cached = (await this.engine.matmul(a, b, { transposeB: true })).data
      this.ticker.check()
    }
    for (let start = 0; start < a.rows; start += blockRows) {
      const end = Math.min(a.rows, start + blockRows)
      let sims: Float32Array
      if (this.cached !== null) sims = this.cached.subarray(start * b.rows, end * b.rows)
      else {
        const block = { rows: end - start, cols: a.cols, data: a.data.subarray(start * a.cols, end * a.cols) }
        sims = (await this.engine.matmul(block, b, { transposeB: true })).data
        this.ticker.check()
      }
      visit(sims, start, end)
      await this.ticker.tick()
    }
  }
}

interface Induced {
  source: Int32Array
  target: Int32Array
  objective: number
}

/**
 * One dictionary induction (VecMap's "union" direction with CSLS): every source row paired with
 * its best target and every target row with its best source, where best is by 2·cos − the other
 * side's k-NN radius. With keep < 1 (stochastic induction) each candidate's score is zeroed with
 * probability 1 − keep, independently for the row's choice and the column's, and the best is taken
 * among the kept scores and those zeros (ties to the lower index), as VecMap's dropout of the
 * similarity matrix does; only the kept candidates are visited. `a` and `b` are rows of the same
 * dimension. The objective is the mean best cosine, both directions averaged.
 */
async function induce (a: Matrix, b: Matrix, k: number, keep: number, rng: Rng, engine: FitEngine, ticker: Ticker): Promise<Induced> {
  const na = a.rows
  const nb = b.rows
  const sims = new Similarities(a, b, engine, ticker)
  const rowTop = new TopValues(na, Math.min(k, nb))
  const colTop = new TopValues(nb, Math.min(k, na))
  await sims.forEach((s, start, end) => { addBlockToTops(s, start, end, rowTop, colTop) })
  // Halved radii: cos − r/2 ranks as CSLS's 2·cos − r does, with the same sign.
  const halfA = rowTop.means().map(r => r / 2)
  const halfB = colTop.means().map(r => r / 2)
  const rowBest = new Int32Array(na).fill(-1)
  const rowScore = new Float64Array(na).fill(-Infinity)
  const colBest = new Int32Array(nb).fill(-1)
  const colScore = new Float64Array(nb).fill(-Infinity)
  if (keep >= 1) {
    await sims.forEach((s, start, end) => {
      for (let i = start; i < end; i++) {
        const offset = (i - start) * nb
        const ri = halfA[i]
        for (let j = 0; j < nb; j++) {
          const v = s[offset + j]
          const forRow = v - halfB[j]
          if (forRow > rowScore[i]) { rowScore[i] = forRow; rowBest[i] = j }
          const forCol = v - ri
          if (forCol > colScore[j]) { colScore[j] = forCol; colBest[j] = i }
        }
      }
    })
  } else {
    // A zeroed score competes too: the first dropped candidate of each row and column.
    const rowDropped = new Int32Array(na)
    const colDropped = new Int32Array(nb).fill(na)
    const keptInRow = new Int32Array(nb).fill(-1)
    let undecided = Int32Array.from({ length: nb }, (_, j) => j)
    const kept = new Int32Array(nb)
    await sims.forEach((s, start, end) => {
      for (let i = start; i < end; i++) {
        const offset = (i - start) * nb
        const forRows = keptPositions(nb, keep, rng, kept)
        let best = -Infinity
        let bestAt = -1
        for (let m = 0; m < forRows.count; m++) {
          const j = kept[m]
          const forRow = s[offset + j] - halfB[j]
          if (forRow > best) { best = forRow; bestAt = j }
        }
        rowScore[i] = best
        rowBest[i] = bestAt
        rowDropped[i] = forRows.firstDropped
        const ri = halfA[i]
        const forCols = keptPositions(nb, keep, rng, kept)
        for (let m = 0; m < forCols.count; m++) {
          const j = kept[m]
          keptInRow[j] = i
          const forCol = s[offset + j] - ri
          if (forCol > colScore[j]) { colScore[j] = forCol; colBest[j] = i }
        }
        if (undecided.length > 0) {
          undecided = undecided.filter(j => {
            if (keptInRow[j] === i) return true
            colDropped[j] = i
            return false
          })
        }
      }
    })
    const zeroWins = (score: number, at: number, dropped: number, n: number): boolean => dropped < n && (score < 0 || (score === 0 && dropped < at) || at < 0)
    for (let i = 0; i < na; i++) if (zeroWins(rowScore[i], rowBest[i], rowDropped[i], nb)) rowBest[i] = rowDropped[i]
    for (let j = 0; j < nb; j++) if (zeroWins(colScore[j], colBest[j], colDropped[j], na)) colBest[j] = colDropped[j]
  }
  const source = new Int32Array(na + nb)
  const target = new Int32Array(na + nb)
  let fwd = 0
  for (let i = 0; i < na; i++) { source[i] = i; target[i] = rowBest[i]; fwd += rowTop.max(i) }
  let bwd = 0
  for (let j = 0; j < nb; j++) { source[na + j] = colBest[j]; target[na + j] = j; bwd += colTop.max(j) }
  return { source, target, objective: (fwd / na + bwd / nb) / 2 }
}

// ---------------------------------------------------------------------------------------------
// Self-learning

/** Unit rows. */
function unitRows (m: Matrix): Matrix {
  const out = new Float32Array(m.data)
  for (let i = 0; i < m.rows; i++) {
    let s = 0
    for (let j = 0; j < m.cols; j++) s += out[i * m.cols + j] ** 2
    const norm = Math.sqrt(s)
    if (norm < 1e-12) continue
    for (let j = 0; j < m.cols; j++) out[i * m.cols + j] /= norm
  }
  return { rows: m.rows, cols: m.cols, data: out }
}

type M64 = { rows: number, cols: number, data: Float64Array }

/** A pool's whitening (W = G^-½ of its Gram G) and its inverse (G^½), fixed for every iteration. */
interface Whitening { w: M64, inverse: M64 }

/**
 * Whitening of a pool on all its rows. VecMap whitens on the dictionary's rows each iteration; its
 * union dictionary holds every row of both pools (some twice), so the pool's own Gram is nearly
 * the same and is decomposed once instead of every iteration.
 */
async function whitening (m: Matrix, engine: FitEngine, ticker: Ticker): Promise<Whitening> {
  const m64: M64 = { rows: m.rows, cols: m.cols, data: Float64Array.from(m.data) }
  const eigen = await symmetricEigen((await engine.matmul64(m64, m64, { transposeA: true })).data, m.cols, ticker)
  ticker.check()
  return { w: { rows: m.cols, cols: m.cols, data: psdFunction(eigen, -0.5) }, inverse: { rows: m.cols, cols: m.cols, data: psdFunction(eigen, 0.5) } }
}

type Sq = (p: M64, q: M64, opts?: { transposeA?: boolean, transposeB?: boolean }) => Promise<M64>

/** Engine product in float64 with a cancellation check after it. */
function product64 (engine: FitEngine, ticker: Ticker): Sq {
  return async (p, q, opts = {}) => {
    const out = await engine.matmul64(p, q, opts)
    ticker.check()
    return out
  }
}

/**
 * Thin SVD U S Vᵀ of a dx × dy matrix c (r = min(dx, dy) singular values, descending), through the
 * smaller side's Gram: U is dx × r, V is dy × r; null directions get zero vectors.
 */
async function thinSvd (c: M64, mm: Sq, ticker: Ticker): Promise<{ u: M64, v: M64, sv: Float64Array }> {
  const dx = c.rows
  const dy = c.cols
  const r = Math.min(dx, dy)
  const sq = (data: Float64Array, d: number): M64 => ({ rows: d, cols: d, data })
  const small = dx <= dy ? await mm(c, c, { transposeB: true }) : await mm(c, c, { transposeA: true })
  const e = await symmetricEigen(small.data, r, ticker)
  const order = Array.from({ length: r }, (_, i) => i).sort((i, j) => e.values[j] - e.values[i])
  const sv = Float64Array.from(order, i => Math.sqrt(Math.max(0, e.values[i])))
  const basis = new Float64Array(r * r)
  for (let i = 0; i < r; i++) for (let k = 0; k < r; k++) basis[i * r + k] = e.vectors[i * r + order[k]]
  // The other side's singular vectors: V = cᵀ U S⁻¹ (or U = c V S⁻¹).
  const other = dx <= dy ? await mm(c, sq(basis, r), { transposeA: true }) : await mm(c, sq(basis, r))
  for (let i = 0; i < other.rows; i++) for (let k = 0; k < r; k++) other.data[i * r + k] = sv[k] > 1e-12 * sv[0] ? other.data[i * r + k] / sv[k] : 0
  return dx <= dy ? { u: sq(basis, r), v: other, sv } : { u: other, v: sq(basis, r), sv }
}

/** The dictionary's cross-covariance xₛᵀ zₛ (dx × dy). */
async function crossCovariance (x: Matrix, z: Matrix, source: Int32Array, target: Int32Array, mm: Sq): Promise<M64> {
  const xs = takeRows(x, source)
  const zs = takeRows(z, target)
  return await mm({ rows: xs.rows, cols: x.cols, data: Float64Array.from(xs.data) }, { rows: zs.rows, cols: z.cols, data: Float64Array.from(zs.data) }, { transposeA: true })
}

/**
 * Both pools in one space under the orthogonal map fitted on the dictionary pairs (Procrustes: the
 * polar factor W = U Vᵀ of xₛᵀ zₛ = U S Vᵀ, from the engine's polar iteration). The side of more
 * dimensions is mapped into the other's: a·bᵀ = x W zᵀ either way, so the similarities, and the
 * dictionary, do not depend on which space is called the source. Rows are not re-normalised: the
 * larger side loses the part of its rows the map cannot reach, as in VecMap's self-learning, which
 * uses this map in every iteration and the whitened one (`whitenedMapped`) only once, at the end.
 */
async function orthogonalMapped (x: Matrix, z: Matrix, source: Int32Array, target: Int32Array, engine: FitEngine, ticker: Ticker): Promise<{ a: Matrix, b: Matrix }> {
  const { w } = await polarFactor(engine, await crossCovariance(x, z, source, target, product64(engine, ticker)), ticker.signal)
  ticker.check()
  const map = toFloat32(w)
  const mapped = x.cols <= z.cols
    ? { a: x, b: await engine.matmul(z, map, { transposeB: true }) }
    : { a: await engine.matmul(x, map), b: z }
  ticker.check()
  return mapped
}

/**
 * Both pools in one space of r = min(dx, dy) dimensions under the map fitted on the dictionary
 * pairs, VecMap's orthogonal mapping with whitening, re-weighting and de-whitening: each side
 * whitened (W), the whitened cross-covariance's SVD U S Vᵀ maps both sides into one space, each
 * side is re-weighted by S^½ and its whitening undone there (Uᵀ W⁻¹ U). Whitening makes the fit
 * CCA-like, which tolerates spaces whose covariances differ (not merely rotated copies); the
 * result is symmetric in the two sides. Rows come out unit.
 */
async function whitenedMapped (x: Matrix, z: Matrix, wx: Whitening, wz: Whitening, source: Int32Array, target: Int32Array, engine: FitEngine, ticker: Ticker): Promise<{ a: Matrix, b: Matrix }> {
  const mm = product64(engine, ticker)
  const cw = await mm(await mm(wx.w, await crossCovariance(x, z, source, target, mm)), wz.w)
  const { u, v, sv } = await thinSvd(cw, mm, ticker)
  const r = sv.length
  const side = async (white: Whitening, d: number, vectors: M64): Promise<Matrix> => {
    // W · vectors · S^½ · (vectorsᵀ · W⁻¹ · vectors): d × r.
    const whitenedBasis = await mm(white.w, vectors)
    for (let i = 0; i < d; i++) for (let k = 0; k < r; k++) whitenedBasis.data[i * r + k] *= Math.sqrt(sv[k])
    const back = await mm(vectors, await mm(white.inverse, vectors), { transposeA: true })
    return toFloat32(await mm(whitenedBasis, back))
  }
  const mx = await side(wx, x.cols, u)
  const mz = await side(wz, z.cols, v)
  return { a: unitRows(await engine.matmul(x, mx)), b: unitRows(await engine.matmul(z, mz)) }
}

/**
 * The run's pairs split at random into two halves; for each, the whitened map (`whitenedMapped`)
 * fitted on that half alone, its mutual CSLS pairs over the whole pools, and the fraction of the
 * other half's pairs among them; the mean of the two. A cross-validation of the dictionary: pairs of
 * one real correspondence predict each other, pairs a wrong basin's map chose for itself do not
 * (methods.md §19 measures both).
 */
async function heldOutReproduction (x: Matrix, z: Matrix, wx: Whitening, wz: Whitening, pairs: MutualPairs, k: number, rng: Rng, engine: FitEngine, ticker: Ticker): Promise<number> {
  const n = pairs.source.length
  if (n < 2) return 0
  const order = shuffle(rng, Int32Array.from({ length: n }, (_, i) => i))
  const halves = [order.subarray(0, n >> 1), order.subarray(n >> 1)]
  let sum = 0
  for (let h = 0; h < 2; h++) {
    const fitted = halves[h]
    const { a, b } = await whitenedMapped(x, z, wx, wz, fitted.map(i => pairs.source[i]), fitted.map(i => pairs.target[i]), engine, ticker)
    const found = await mutualNearestCsls(a, b, k, engine)
    ticker.check()
    const targetOf = new Map<number, number>()
    for (let i = 0; i < found.source.length; i++) targetOf.set(found.source[i], found.target[i])
    const tested = halves[1 - h]
    let same = 0
    for (const i of tested) if (targetOf.get(pairs.source[i]) === pairs.target[i]) same++
    sum += same / tested.length
  }
  return sum / 2
}

/** The rows of each pool a run's self-learning works on: which (`null`: all) and their values. */
interface Induction { xRows: Int32Array | null, zRows: Int32Array | null, x: Matrix, z: Matrix }

/**
 * `rows` rows of each pool drawn at random when it has more, else all of it. No draw is taken
 * from `rng` for a pool within `rows`.
 */
function drawInduction (x: Matrix, z: Matrix, rows: number, rng: Rng): Induction {
  const draw = (n: number): Int32Array | null => n <= rows ? null : Int32Array.from(sampleIndices(rng, n, rows)).sort()
  const xRows = draw(x.rows)
  const zRows = draw(z.rows)
  return { xRows, zRows, x: xRows === null ? x : takeRows(x, xRows), z: zRows === null ? z : takeRows(z, zRows) }
}

interface RunSetup {
  restart: number
  seed: number
  start: AlignmentRun['start']
  induction: Induction
  /** The first dictionary, in rows of the induction's pools. */
  initial: { source: Int32Array, target: Int32Array }
}

function sameDictionary (a: { source: Int32Array, target: Int32Array }, b: { source: Int32Array, target: Int32Array }): boolean {
  if (a.source.length !== b.source.length) return false
  for (let i = 0; i < a.source.length; i++) if (a.source[i] !== b.source[i] || a.target[i] !== b.target[i]) return false
  return true
}

/**
 * One run of self-learning from `setup.initial`. With `explore`, VecMap's schedule: the keep
 * probability starts at INITIAL_KEEP and doubles whenever the objective has not risen by
 * OBJECTIVE_THRESHOLD for `patience` iterations (at keep < 1 the objective can creep up for a long
 * time before the map falls into the right basin, so a stage has no other limit); without, keep is
 * 1 from the first iteration (greedy: the nearest fixed point of the start). At keep 1 the run has
 * converged when the objective stalls or the dictionary no longer changes (a fixed point: every
 * later iteration would repeat it).
 */
async function selfLearn (x: Matrix, z: Matrix, wx: Whitening, wz: Whitening, setup: RunSetup, explore: boolean, opts: UnsupervisedOptions, engine: FitEngine, ticker: Ticker, progress: ProgressSink, phase: string): Promise<{ run: AlignmentRun, pairs: MutualPairs }> {
  const started = performance.now()
  const rng = createRng(setup.seed)
  const { induction } = setup
  let dictionary = setup.initial
  let keep = explore ? INITIAL_KEEP : 1
  let best = -Infinity
  let lastImprovement = 0
  let objective = 0
  let converged = false
  let it = 0
  for (; it < opts.maxIterations; it++) {
    const { a, b } = await orthogonalMapped(induction.x, induction.z, dictionary.source, dictionary.target, engine, ticker)
    const induced = await induce(a, b, opts.k, keep, rng, engine, ticker)
    const fixedPoint = keep >= 1 && sameDictionary(induced, dictionary)
    objective = induced.objective
    dictionary = induced
    if (objective - best >= OBJECTIVE_THRESHOLD) { best = objective; lastImprovement = it }
    progress({ phase, done: it + 1, total: opts.maxIterations })
    opts.trace?.({ restart: setup.restart, iteration: it, keep, objective })
    const stalled = it - lastImprovement > opts.patience
    if (keep >= 1 && (stalled || fixedPoint)) { converged = true; it++; break }
    if (stalled) {
      keep = Math.min(1, 2 * keep)
      lastImprovement = it
    }
  }
  // The last dictionary in pool rows: the whitened map pairs every row of both pools.
  const { xRows, zRows } = induction
  const source = xRows === null ? dictionary.source : dictionary.source.map(i => xRows[i])
  const target = zRows === null ? dictionary.target : dictionary.target.map(j => zRows[j])
  const { a, b } = await whitenedMapped(x, z, wx, wz, source, target, engine, ticker)
  const pairs = await mutualNearestCsls(a, b, opts.k, engine)
  ticker.check()
  const heldOut = await heldOutReproduction(x, z, wx, wz, pairs, opts.k, rng, engine, ticker)
  return {
    run: {
      restart: setup.restart,
      seed: setup.seed,
      start: setup.start,
      iterations: it,
      selfLearningRows: { source: induction.x.rows, target: induction.z.rows },
      converged,
      objective,
      mutualRate: pairs.source.length / Math.min(x.rows, z.rows),
      meanCsls: pairs.meanScore,
      heldOut,
      ms: performance.now() - started
    },
    pairs
  }
}

/**
 * The start of one restart: sorted-profile matches among `initRows` rows drawn from each pool (all
 * rows when a pool has no more). Exported for measuring how many of its pairs are right.
 */
export async function sortedStart (x: Matrix, z: Matrix, rows: number, k: number, rng: Rng, engine: FitEngine, ticker: Ticker): Promise<{ source: Int32Array, target: Int32Array }> {
  const pick = (n: number): Int32Array => n <= rows ? Int32Array.from({ length: n }, (_, i) => i) : Int32Array.from(sampleIndices(rng, n, rows)).sort()
  const xi = pick(x.rows)
  const zi = pick(z.rows)
  const m = Math.min(xi.length, zi.length)
  // Profiles must have the same length to be compared: both sides use m rows.
  const px = await sortedProfiles(takeRows(x, xi.subarray(0, m)), engine, ticker)
  const pz = await sortedProfiles(takeRows(z, zi.subarray(0, m)), engine, ticker)
  const induced = await induce(px, pz, k, 1, rng, engine, ticker)
  return {
    source: induced.source.map(i => xi[i]),
    target: induced.target.map(j => zi[j])
  }
}

function randomStart (x: Matrix, z: Matrix, rng: Rng): { source: Int32Array, target: Int32Array } {
  const n = Math.min(x.rows, z.rows)
  return { source: Int32Array.from(sampleIndices(rng, x.rows, n)), target: Int32Array.from(sampleIndices(rng, z.rows, n)) }
}

/** Fraction of a's pairs whose source row b pairs with the same target. */
export function pairAgreement (a: MutualPairs, b: MutualPairs): number {
  if (a.source.length === 0) return 0
  const other = new Map<number, number>()
  for (let i = 0; i < b.source.length; i++) other.set(b.source[i], b.target[i])
  let same = 0
  for (let i = 0; i < a.source.length; i++) if (other.get(a.source[i]) === a.target[i]) same++
  return same / a.source.length
}

function checkOptions (x: Matrix, z: Matrix, opts: UnsupervisedOptions): void {
  const positive = (name: 'restarts' | 'initRows' | 'inductionRows' | 'k' | 'patience' | 'maxIterations'): void => {
    if (!Number.isInteger(opts[name]) || opts[name] < 1) throw new RangeError(`${name} must be a positive integer, got ${opts[name]}`)
  }
  positive('restarts'); positive('initRows'); positive('inductionRows'); positive('k'); positive('patience'); positive('maxIterations')
  if (opts.initRows > MAX_INIT_ROWS) throw new RangeError(`initRows must be at most ${MAX_INIT_ROWS}, got ${opts.initRows}`)
  if (!Number.isSafeInteger(opts.seed)) throw new RangeError(`seed must be a safe integer, got ${opts.seed}`)
  if (x.rows < MIN_POOL_ROWS || z.rows < MIN_POOL_ROWS) throw new RangeError(`each pool needs at least ${MIN_POOL_ROWS} rows, got ${x.rows} and ${z.rows}`)
}

/** Seeds of the restarts and the null: distinct and fixed by the request's seed. */
function runSeed (seed: number, restart: number): number {
  return (seed * 1000003 + (restart + 1) * 7919) % 4294967296
}

/**
 * Aligns pool x (source rows) and pool z (target rows) with no known pair; returns the kept run's
 * mutual pairs and the evidence for `judge`. The null runs first; then restarts, up to
 * `opts.restarts`, until one is confirmed (`confirmed`: it clears the null and its held-out half
 * is reproduced): a run finds the right basin anywhere from every time to one time in six on real
 * pools, so the number of tries varies. Cancelled by `signal` between engine calls.
 */
export async function alignUnsupervised (x: Matrix, z: Matrix, opts: UnsupervisedOptions, engine: FitEngine, signal?: AbortSignal, progress: ProgressSink = () => {}): Promise<AlignmentResult> {
  checkOptions(x, z, opts)
  const ticker = new Ticker(undefined, signal)
  const xn = unitCentreUnit(x)
  const zn = unitCentreUnit(z)
  const wx = await whitening(xn, engine, ticker)
  const wz = await whitening(zn, engine, ticker)
  const nullSeed = runSeed(opts.seed, 1000)
  const nullRng = createRng(nullSeed)
  const nullInduction = drawInduction(xn, zn, opts.inductionRows, nullRng)
  const nullRun = (await selfLearn(xn, zn, wx, wz, { restart: -1, seed: nullSeed, start: 'random', induction: nullInduction, initial: randomStart(nullInduction.x, nullInduction.z, nullRng) }, false, opts, engine, ticker, progress, 'null (random start)')).run
  const runs: AlignmentRun[] = []
  const pairsOf: MutualPairs[] = []
  // With no more rows than initRows and inductionRows in either pool, every restart starts from
  // all of them: the same start, computed once (the restarts then differ by their dropout draws).
  const within = Math.min(opts.initRows, opts.inductionRows)
  const oneStart = xn.rows <= within && zn.rows <= within
  let start: { source: Int32Array, target: Int32Array } | undefined
  for (let r = 0; r < opts.restarts; r++) {
    const seed = runSeed(opts.seed, r)
    const rng = createRng(seed)
    progress({ phase: `start ${r + 1}/${opts.restarts}`, done: 0, total: 1 })
    const induction = drawInduction(xn, zn, opts.inductionRows, rng)
    const initial = oneStart && start !== undefined ? start : await sortedStart(induction.x, induction.z, opts.initRows, opts.k, rng, engine, ticker)
    start = initial
    const { run, pairs } = await selfLearn(xn, zn, wx, wz, { restart: r, seed, start: 'sorted-similarity', induction, initial }, true, opts, engine, ticker, progress, `self-learning ${r + 1}/${opts.restarts}`)
    runs.push(run)
    pairsOf.push(pairs)
    if (confirmed(run, nullRun)) break
  }
  let best = 0
  for (let r = 1; r < runs.length; r++) if (runs[r].meanCsls > runs[best].meanCsls) best = r
  let agreement: number | null = null
  for (let r = 0; r < runs.length; r++) {
    if (r === best || !clearsNull(runs[r], nullRun)) continue
    agreement = Math.min(agreement ?? 1, pairAgreement(pairsOf[best], pairsOf[r]))
  }
  return { pairs: pairsOf[best], runPairs: pairsOf, evidence: { runs, null: nullRun, best, agreement, restartsAllowed: opts.restarts } }
}

// ---------------------------------------------------------------------------------------------
// The verdict

/** The kept run's mean CSLS must exceed the null's by this much... */
export const MIN_CSLS_GAIN = 0.05
/** ...and by this factor. */
export const MIN_CSLS_RATIO = 1.5
/**
 * Fraction of a run's pairs the map fitted on the other half must reproduce (`AlignmentRun.heldOut`),
 * and the largest share of the null's misses it may miss: a wrong basin's pairs predict each other
 * too where the map has few parameters for its pairs (12 dimensions: 58-64 % for the null), so the
 * level is judged against the null's, as the mean CSLS is.
 */
export const MIN_HELD_OUT = 0.5
export const MAX_HELD_OUT_MISS_RATIO = 0.5
/** Fraction of the kept run's pairs every other restart that cleared the null must reproduce. */
export const MIN_AGREEMENT = 0.5
/**
 * Mutual-NN rate at least this, and above the null's. Only a floor: in few dimensions even a
 * random map leaves many mutual pairs, so the rate separates less than the mean CSLS does.
 */
export const MIN_MUTUAL_RATE = 0.1
/** Ids both pools hold, when at least this many, check the map: top-1 at least MIN_ANCHOR_TOP1. */
export const MIN_CHECK_ANCHORS = 5
export const MIN_ANCHOR_TOP1 = 0.5

/** A run's mean CSLS is above the null's by MIN_CSLS_GAIN and by the factor MIN_CSLS_RATIO. */
export function clearsNull (run: AlignmentRun, nullRun: AlignmentRun): boolean {
  return run.meanCsls - nullRun.meanCsls >= MIN_CSLS_GAIN && run.meanCsls >= MIN_CSLS_RATIO * Math.max(nullRun.meanCsls, 0)
}

/** A run's held-out reproduction is at least MIN_HELD_OUT and misses at most MAX_HELD_OUT_MISS_RATIO of what the null's misses. */
export function reproducesHeldOut (run: AlignmentRun, nullRun: AlignmentRun): boolean {
  return run.heldOut >= MIN_HELD_OUT && 1 - run.heldOut <= MAX_HELD_OUT_MISS_RATIO * (1 - nullRun.heldOut)
}

/** A run clears the null on both counts: no further restart is needed. */
export function confirmed (run: AlignmentRun, nullRun: AlignmentRun): boolean {
  return clearsNull(run, nullRun) && reproducesHeldOut(run, nullRun)
}

/**
 * Reliable only when every part holds: the kept run converged; beat the null by MIN_CSLS_GAIN and
 * MIN_CSLS_RATIO; a map fitted on half of its pairs reproduces at least MIN_HELD_OUT of the other
 * half, missing at most MAX_HELD_OUT_MISS_RATIO of the null's share; every other restart that also cleared the null reproduces at least MIN_AGREEMENT of its
 * pairs (two runs that each look right but disagree are not believed); its mutual-NN rate clears
 * MIN_MUTUAL_RATE and the null's; and (when known pairs were given) those pairs agree. A failed
 * alignment sits near the null's level on the first and reproduces little of its held-out half.
 * Pools that share nothing can still give a map that generalises (near-synonyms paired), so the
 * held-out rule alone does not refuse them; their pairs score far below those of the same items,
 * which the null rule sees.
 */
export function judge (evidence: UnsupervisedEvidence): UnsupervisedVerdict {
  const reasons: string[] = []
  let reliable = true
  const fail = (why: string): void => { reliable = false; reasons.push(why) }
  const best = evidence.runs[evidence.best]
  const n = evidence.null
  if (!best.converged) fail(`the kept restart did not converge within its ${best.iterations} iterations`)
  const csls = `mean CSLS ${best.meanCsls.toFixed(3)} against ${n.meanCsls.toFixed(3)} from a random start (the null)`
  if (!clearsNull(best, n)) {
    fail(`${csls}: not clearly above what no correspondence gives (needs +${MIN_CSLS_GAIN} and ×${MIN_CSLS_RATIO})`)
  } else reasons.push(`${csls}`)
  const held = `a map fitted on half of its pairs reproduces ${(100 * best.heldOut).toFixed(0)}% of the other half (${(100 * n.heldOut).toFixed(0)}% for the null)`
  if (!reproducesHeldOut(best, n)) fail(`${held} (needs ${100 * MIN_HELD_OUT}%, and to miss at most ${MAX_HELD_OUT_MISS_RATIO} × the null's share)`)
  else reasons.push(held)
  const tried = `${evidence.runs.length} of up to ${evidence.restartsAllowed} restarts run`
  if (evidence.agreement === null) reasons.push(`no other restart cleared the null (${tried})`)
  else {
    const agree = `another restart that cleared the null reproduces ${(100 * evidence.agreement).toFixed(0)}% of its pairs (${tried})`
    if (evidence.agreement < MIN_AGREEMENT) fail(`${agree}: the runs contradict each other (needs ${100 * MIN_AGREEMENT}%)`)
    else reasons.push(agree)
  }
  const rate = `mutual nearest neighbours for ${(100 * best.mutualRate).toFixed(1)}% of the rows against ${(100 * n.mutualRate).toFixed(1)}% for the null`
  if (best.mutualRate < MIN_MUTUAL_RATE || !(best.mutualRate > n.mutualRate)) fail(`${rate} (needs ${100 * MIN_MUTUAL_RATE}% and more than the null)`)
  else reasons.push(rate)
  const check = evidence.anchorCheck
  if (check !== undefined && check.count >= MIN_CHECK_ANCHORS) {
    const said = `${check.count} ids both pools hold: top-1 ${check.top1.toFixed(3)} under the map`
    if (check.top1 < MIN_ANCHOR_TOP1) fail(`${said} (needs ${MIN_ANCHOR_TOP1})`)
    else reasons.push(said)
  }
  return { ...evidence, reliable, reasons }
}
