/**
 * The figures of a migration report, for one direction of a translator: held-out items embedded
 * by both models, the source rows translated into the target space, and how retrieval in the
 * target space fares with translated queries instead of native ones.
 *
 * Retrieval is scored as a vector index of the target model serves it: cosine among the target
 * model's raw vectors (the given native rows, not centred), so the figures are what a user would
 * see after switching. Every figure is a mean over items of counts, so it is exact up to the
 * float32 similarities' ties (see below); the neighbour searches run in row blocks through the
 * engine (topNeighbours).
 *
 *   recall@k     |N_k(t_i) ∩ N_k(y_i)| / k, where N_k(q) are the k nearest native rows of q and
 *                t_i, y_i are item i's translated and native vectors: how much of what a native
 *                query retrieves the translated query retrieves too (the item itself included
 *                on both sides, as it is in the index).
 *   retrieval@k  share of items whose own native row is among N_k(t_i).
 *   mrr          mean of 1 / rank of the own native row in N_10(t_i), 0 beyond rank 10.
 *   coverage     for thresholds 0, 0.05, ..., 1 of the translator's per-row confidence: the share
 *                of items whose confidence is at least the threshold (kept), and the top-1
 *                retrieval and recall@10 of those (null when none is kept). The rest would be
 *                re-embedded by the new model instead of translated.
 */
import type { MatMul } from '../engine/types.js'
import { NORM_EPS, type Matrix } from '../math/matrix.js'
import type { ProgressSink } from '../util/progress.js'
import { normalizeRows, topNeighbours } from './neighbours.js'

/** The k of recall@k and retrieval@k; the largest is the depth of both neighbour searches. */
export const REPORT_KS = [1, 5, 10] as const
export const REPORT_DEPTH = 10
/** Confidence thresholds of the coverage curve: 0 to 1 in steps of 1/COVERAGE_STEPS. */
export const COVERAGE_STEPS = 20

export interface AtK {
  at1: number
  at5: number
  at10: number
}

export interface CoveragePoint {
  /** Items kept: confidence at least this. */
  threshold: number
  kept: number
  /** kept / items. */
  coverage: number
  /** Top-1 retrieval of the kept items; null when none is kept. */
  top1: number | null
  /** Neighbour recall@10 of the kept items; null when none is kept. */
  recallAt10: number | null
}

export interface DirectionFigures {
  count: number
  /** Neighbour recall@k of translated queries against native ones. */
  recall: AtK
  /** Own-item retrieval@k of translated queries. */
  retrieval: AtK
  /** MRR of the own item, cut at rank 10. */
  mrr: number
  /** Mean cosine of each translated row with its native row. */
  meanCosine: number
  /** null when no per-row confidence was given. */
  coverage: CoveragePoint[] | null
}

export interface DirectionOptions {
  /** Per-row confidence of the translations, in [0, 1]: the coverage curve is drawn from it. */
  confidence?: ArrayLike<number> | null
  blockRows?: number
  progress?: ProgressSink
  signal?: AbortSignal
}

function meanCosine (a: Matrix, b: Matrix): number {
  const { rows, cols } = a
  let sum = 0
  for (let i = 0; i < rows; i++) {
    let dot = 0
    let aa = 0
    let bb = 0
    for (let j = i * cols; j < (i + 1) * cols; j++) {
      dot += a.data[j] * b.data[j]
      aa += a.data[j] * a.data[j]
      bb += b.data[j] * b.data[j]
    }
    sum += dot / (Math.max(Math.sqrt(aa), NORM_EPS) * Math.max(Math.sqrt(bb), NORM_EPS))
  }
  return sum / rows
}

/**
 * Per item: the rank (0-based) of its own row among its translated query's neighbours, or -1
 * beyond the depth, and the overlap of the two neighbour lists at each k.
 */
interface ItemScores {
  ownRank: Int32Array
  /** overlap[i * REPORT_KS.length + m]: shared neighbours of item i at REPORT_KS[m]. */
  overlap: Int32Array
}

function itemScores (fromTranslated: Int32Array, fromNative: Int32Array, rows: number): ItemScores {
  const depth = REPORT_DEPTH
  const ownRank = new Int32Array(rows).fill(-1)
  const overlap = new Int32Array(rows * REPORT_KS.length)
  // Position of each native neighbour of the current item, +1 (0: not among them).
  const nativeAt = new Int32Array(rows)
  for (let i = 0; i < rows; i++) {
    for (let m = 0; m < depth; m++) {
      const j = fromTranslated[i * depth + m]
      if (j === i && ownRank[i] < 0) ownRank[i] = m
    }
    for (let m = 0; m < depth; m++) nativeAt[fromNative[i * depth + m]] = m + 1
    for (let s = 0; s < REPORT_KS.length; s++) {
      const k = REPORT_KS[s]
      let shared = 0
      for (let m = 0; m < k; m++) {
        const at = nativeAt[fromTranslated[i * depth + m]]
        if (at > 0 && at <= k) shared++
      }
      overlap[i * REPORT_KS.length + s] = shared
    }
    for (let m = 0; m < depth; m++) nativeAt[fromNative[i * depth + m]] = 0
  }
  return { ownRank, overlap }
}

function aggregate (scores: ItemScores): { recall: AtK, retrieval: AtK, mrr: number } {
  const n = scores.ownRank.length
  const recall = [0, 0, 0]
  const retrieval = [0, 0, 0]
  let reciprocal = 0
  for (let i = 0; i < n; i++) {
    const rank = scores.ownRank[i]
    for (let s = 0; s < REPORT_KS.length; s++) {
      recall[s] += scores.overlap[i * REPORT_KS.length + s] / REPORT_KS[s]
      if (rank >= 0 && rank < REPORT_KS[s]) retrieval[s]++
    }
    if (rank >= 0) reciprocal += 1 / (rank + 1)
  }
  const at = (v: number[]): AtK => ({ at1: v[0] / n, at5: v[1] / n, at10: v[2] / n })
  return { recall: at(recall), retrieval: at(retrieval), mrr: reciprocal / n }
}

/** Coverage thresholds 0, 1/COVERAGE_STEPS, ..., 1. */
export function coverageThresholds (): number[] {
  return Array.from({ length: COVERAGE_STEPS + 1 }, (_, s) => s / COVERAGE_STEPS)
}

function coverageCurve (scores: ItemScores, confidence: ArrayLike<number>): CoveragePoint[] {
  const n = scores.ownRank.length
  const last = REPORT_KS.length - 1
  return coverageThresholds().map(threshold => {
    let kept = 0
    let top1 = 0
    let recall = 0
    for (let i = 0; i < n; i++) {
      if (!(confidence[i] >= threshold)) continue
      kept++
      if (scores.ownRank[i] === 0) top1++
      recall += scores.overlap[i * REPORT_KS.length + last] / REPORT_KS[last]
    }
    return { threshold, kept, coverage: kept / n, top1: kept > 0 ? top1 / kept : null, recallAt10: kept > 0 ? recall / kept : null }
  })
}

/**
 * The figures of one direction: `translated` (the source rows through the translator) against
 * `native` (the same items embedded by the target model), row for row, at least REPORT_DEPTH rows.
 */
export async function directionFigures (translated: Matrix, native: Matrix, mm: MatMul, opts: DirectionOptions = {}): Promise<DirectionFigures> {
  const { rows, cols } = native
  if (translated.rows !== rows || translated.cols !== cols) {
    throw new RangeError(`translated (${translated.rows} x ${translated.cols}) and native (${rows} x ${cols}) must have the same shape`)
  }
  if (rows < REPORT_DEPTH) throw new RangeError(`a report needs at least ${REPORT_DEPTH} rows, got ${rows}`)
  const confidence = opts.confidence ?? null
  if (confidence !== null && confidence.length !== rows) throw new RangeError(`confidence has ${confidence.length} values for ${rows} rows`)
  const progress = opts.progress ?? (() => {})
  const searchOpts = { blockRows: opts.blockRows }
  const index = normalizeRows(native)
  progress({ phase: 'neighbours', done: 0, total: 2 })
  const fromTranslated = await topNeighbours(normalizeRows(translated), index, REPORT_DEPTH, mm, searchOpts)
  opts.signal?.throwIfAborted()
  progress({ phase: 'neighbours', done: 1, total: 2 })
  const fromNative = await topNeighbours(index, index, REPORT_DEPTH, mm, searchOpts)
  opts.signal?.throwIfAborted()
  progress({ phase: 'neighbours', done: 2, total: 2 })
  const scores = itemScores(fromTranslated, fromNative, rows)
  return {
    count: rows,
    ...aggregate(scores),
    meanCosine: meanCosine(translated, native),
    coverage: confidence === null ? null : coverageCurve(scores, confidence)
  }
}

/** The translator that translated one direction's queries. */
export interface ReportTranslator {
  id: string
  version: number
  name: string
  method: string
  scaling: string
}

export interface ReportDirection extends DirectionFigures {
  direction: 'forward' | 'reverse'
  source: string
  target: string
  translator: ReportTranslator
  /** Why coverage is null. */
  coverageNote?: string
}

/** The whole report, as the API answers it in JSON and the page shows it. */
export interface MigrationReport {
  count: number
  directions: ReportDirection[]
  reverse: { included: boolean, reason: string }
}
