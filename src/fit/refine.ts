/**
 * Self-learning refinement from unpaired rows (MUSE's Procrustes refinement, Conneau et al. 2018;
 * VecMap's self-learning, Artetxe et al. 2018): the parallel anchors fix a first map; each round
 * translates the source's unpaired rows, pairs them with the target's unpaired rows that are
 * mutual nearest neighbours under CSLS, and refits the same configuration on the anchors plus
 * those pairs. Few anchors get the map roughly right; the thousands of pairs it then finds pin it.
 *
 * Honesty of the numbers:
 *   - the rounds run on the anchors minus the held-out ones (the same seeded split fitTranslator
 *     uses), so a round's held-out scores come from a map that never saw those rows, its pairs
 *     included (they come from earlier maps of the same track);
 *   - held-out rows are retrieved among all the anchors' targets plus every unpaired target row:
 *     thousands of distractors, so a handful of held-out anchors does not saturate at top-1 = 1;
 *   - the map kept is chosen by the mean CSLS of its mutual pairs (unsupervised, computed on
 *     thousands of rows) and vetoed when the held-out anchors disagree (see `choose`): their
 *     mean cosine, a continuous score, rather than a strict top-1 comparison, which on ~10 rows
 *     would be noise.
 * The stored map is then refitted on all the anchors plus the chosen round's pairs.
 */
import type { Matrix } from '../math/matrix.js'
import { takeRows } from '../math/matrix.js'
import { Ticker } from '../math/linalg.js'
import { mutualNearestCsls, type MutualPairs } from '../analysis/csls.js'
import { fitConfig, holdoutSplit, type Config, type FitEngine } from './fit.js'
import { applyMap, type LinearMap } from '../translators/map.js'
import { buildGallery, centredUnitRows, emptyTally, scoresOf, tallyRows } from './score.js'
import type { HeldOutScores } from './types.js'
import type { ProgressSink } from '../util/progress.js'

export interface RefineOptions {
  /** Rounds of pair-finding and refitting (at most; stops early once the pairs stop changing). */
  iterations: number
  /** CSLS neighbourhood size. */
  k: number
  /** The fit's holdout fraction and seed: the same held-out anchors as the unrefined scores. */
  holdout: number
  seed: number
}

export interface RefineRound {
  /** 0 is the unrefined map. */
  round: number
  /** Pairs added to the anchors to fit this round's map (0 for round 0). */
  pairs: number
  /** Scores of this round's map on the held-out anchors (null without holdout). */
  heldOut: HeldOutScores | null
  /** Mutual CSLS nearest-neighbour pairs this round's map yields, and their mean CSLS. */
  mutualPairs: number
  meanCsls: number
}

export interface RefinementReport {
  iterations: number
  k: number
  unpaired: { source: number, target: number }
  /** Held-out anchors, and the gallery they were retrieved among (anchors' targets + unpaired targets). */
  heldOutCount: number
  gallery: number
  rounds: RefineRound[]
  /** True when the pairs stopped changing before the last iteration. */
  converged: boolean
  kept: 'refined' | 'unrefined'
  /** Round whose pairs the stored map was fitted with (0: the unrefined map is stored). */
  keptRound: number
  pairsUsed: number
  reason: string
  ms: number
}

export interface RefineResult {
  /** The map to store: refitted on all anchors plus the kept round's pairs, or the unrefined one. */
  map: LinearMap
  rank: number
  /** Rows of unpairedX the stored map was fitted on (empty when the unrefined map is kept). */
  pairedSource: Int32Array
  report: RefinementReport
}

function concatRows (a: Matrix, b: Matrix): Matrix {
  if (a.cols !== b.cols) throw new RangeError(`cannot stack ${a.cols}-column rows on ${b.cols}-column rows`)
  const data = new Float32Array((a.rows + b.rows) * a.cols)
  data.set(a.data)
  data.set(b.data, a.data.length)
  return { rows: a.rows + b.rows, cols: a.cols, data }
}

function samePairs (a: MutualPairs, b: MutualPairs): boolean {
  if (a.source.length !== b.source.length) return false
  for (let i = 0; i < a.source.length; i++) if (a.source[i] !== b.source[i] || a.target[i] !== b.target[i]) return false
  return true
}

/** Held-out mean cosine may fall by this much and still count as "no worse" (float noise between near-equal maps). */
export const COSINE_SLACK = 0.005

/**
 * Which round to keep. The candidate is the refined round with the highest mean CSLS; it is kept
 * when that beats the unrefined map's and the held-out anchors agree: their mean cosine to their
 * true targets does not fall (beyond COSINE_SLACK) and top-1 loses at most one of them (one
 * anchor of ten is noise). Mean CSLS alone is not enough: refitting on pairs raises their own
 * CSLS even when the pairs are wrong (pools that share nothing), and the held-out cosine is what
 * notices.
 */
export function choose (rounds: RefineRound[]): { round: number, reason: string } {
  const base = rounds[0]
  let best = -1
  for (let r = 1; r < rounds.length; r++) if (best < 0 || rounds[r].meanCsls > rounds[best].meanCsls) best = r
  if (best < 0) return { round: 0, reason: 'no refinement round ran' }
  const cand = rounds[best]
  if (cand.mutualPairs === 0 || cand.pairs === 0) return { round: 0, reason: 'refinement found no mutual pairs to refit on' }
  const csls = `${base.meanCsls.toFixed(4)} unrefined → ${cand.meanCsls.toFixed(4)}`
  if (!(cand.meanCsls > base.meanCsls)) {
    return { round: 0, reason: `no round raised the mean CSLS of mutual pairs (${csls} in round ${best}); the unrefined map is kept` }
  }
  if (base.heldOut !== null && cand.heldOut !== null && base.heldOut.count > 0) {
    const n = base.heldOut.count
    const fewer = Math.round((base.heldOut.top1 - cand.heldOut.top1) * n)
    const held = `held-out top-1 ${base.heldOut.top1.toFixed(3)} → ${cand.heldOut.top1.toFixed(3)}, mean cosine ${base.heldOut.meanCosine.toFixed(4)} → ${cand.heldOut.meanCosine.toFixed(4)}`
    if (fewer > 1 || cand.heldOut.meanCosine < base.heldOut.meanCosine - COSINE_SLACK) {
      return { round: 0, reason: `round ${best} raised the mean CSLS (${csls}) but the ${n} held-out anchors disagree (${held}); the unrefined map is kept` }
    }
    return { round: best, reason: `round ${best} has the highest mean CSLS of mutual pairs (${csls}) and the held-out anchors agree (${held})` }
  }
  return { round: best, reason: `round ${best} has the highest mean CSLS of mutual pairs (${csls}); no held-out anchors to check it against` }
}

/**
 * Refines the map of `config` fitted on parallel anchors (x, y) with unpaired source rows
 * `unpairedX` and unpaired target rows `unpairedY`. `unrefined` is the map fitted on all the
 * anchors (what is stored when refinement is not kept). Throws RangeError when a pool has fewer
 * than 1 row or the shapes disagree.
 */
export async function refineTranslator (
  x: Matrix, y: Matrix, unpairedX: Matrix, unpairedY: Matrix,
  config: Config, unrefined: { map: LinearMap, rank: number }, opts: RefineOptions, engine: FitEngine, signal?: AbortSignal, progress?: ProgressSink
): Promise<RefineResult> {
  const started = performance.now()
  if (!Number.isInteger(opts.iterations) || opts.iterations < 1) throw new RangeError(`iterations must be a positive integer, got ${opts.iterations}`)
  if (!Number.isInteger(opts.k) || opts.k < 1) throw new RangeError(`k must be a positive integer, got ${opts.k}`)
  if (unpairedX.rows < 1 || unpairedY.rows < 1) throw new RangeError(`refinement needs unpaired rows on both sides, got ${unpairedX.rows} source and ${unpairedY.rows} target rows`)
  if (unpairedX.cols !== x.cols || unpairedY.cols !== y.cols) throw new RangeError('unpaired rows must have the dimensions of their space')
  const ticker = new Ticker(undefined, signal)
  const n = x.rows
  const { heldOut, pool } = holdoutSplit(n, opts.holdout, opts.seed)
  // Gallery rows 0..n−1 are the anchors' targets, then the unpaired targets; CSLS runs in the same
  // centred cosine space (the mean of all those rows, fixed for every round so criteria compare).
  const gallery = buildGallery(concatRows(y, unpairedY))
  const cols = y.cols
  const targetUnit: Matrix = { rows: unpairedY.rows, cols, data: gallery.unit.data.subarray(n * cols) }
  const poolX = takeRows(x, pool)
  const poolY = takeRows(y, pool)
  const heldX = takeRows(x, heldOut)

  const rounds: RefineRound[] = []
  const pairsOf: MutualPairs[] = []
  let previous: MutualPairs | undefined
  let converged = false
  // Progress in rounds (round 0 scores the unrefined map); a converged loop jumps to the end.
  progress?.({ phase: 'refinement', done: 0, total: opts.iterations + 1 })
  for (let r = 0; r <= opts.iterations; r++) {
    let map: LinearMap
    if (r === 0) {
      map = heldOut.length === 0 ? unrefined.map : (await fitConfig(engine, poolX, poolY, undefined, config, false, ticker)).map
    } else {
      const pairs = previous as MutualPairs
      map = (await fitConfig(engine, concatRows(poolX, takeRows(unpairedX, pairs.source)), concatRows(poolY, takeRows(unpairedY, pairs.target)), undefined, config, false, ticker)).map
    }
    let held: HeldOutScores | null = null
    if (heldOut.length > 0) {
      const tally = emptyTally()
      await tallyRows(await applyMap(heldX, map, engine), heldOut, gallery, engine, tally)
      held = scoresOf(tally)
    }
    ticker.check()
    const translated = centredUnitRows(await applyMap(unpairedX, map, engine), gallery.mean).unit
    ticker.check()
    const mutual = await mutualNearestCsls(translated, targetUnit, opts.k, engine)
    await ticker.tick()
    rounds.push({ round: r, pairs: r === 0 ? 0 : (previous as MutualPairs).source.length, heldOut: held, mutualPairs: mutual.source.length, meanCsls: mutual.meanScore })
    pairsOf.push(mutual)
    progress?.({ phase: 'refinement', done: r + 1, total: opts.iterations + 1 })
    if (r > 0 && previous !== undefined && samePairs(previous, mutual)) {
      // The next fit would see exactly these pairs again: nothing more can change.
      converged = r < opts.iterations
      break
    }
    previous = mutual
  }

  progress?.({ phase: 'refinement', done: opts.iterations + 1, total: opts.iterations + 1 })
  const chosen = choose(rounds)
  let map = unrefined.map
  let rank = unrefined.rank
  let pairsUsed = 0
  let pairedSource: Int32Array = new Int32Array(0)
  if (chosen.round > 0) {
    ticker.check()
    const pairs = pairsOf[chosen.round - 1]
    pairsUsed = pairs.source.length
    pairedSource = pairs.source
    const final = await fitConfig(engine, concatRows(x, takeRows(unpairedX, pairs.source)), concatRows(y, takeRows(unpairedY, pairs.target)), undefined, config, true, ticker)
    map = final.map
    rank = final.rank
  }
  return {
    map,
    rank,
    pairedSource,
    report: {
      iterations: opts.iterations,
      k: opts.k,
      unpaired: { source: unpairedX.rows, target: unpairedY.rows },
      heldOutCount: heldOut.length,
      gallery: gallery.unit.rows,
      rounds,
      converged,
      kept: chosen.round > 0 ? 'refined' : 'unrefined',
      keptRound: chosen.round,
      pairsUsed,
      reason: chosen.reason,
      ms: performance.now() - started
    }
  }
}
