/**
 * Retrieval scores of translated anchors against the anchors' target vectors, in one of two
 * spaces (SelectionSpace):
 *
 *   raw       cosine among the target vectors as they are: what a vector index holding the target
 *             model's vectors does with a translated query. The default for selection.
 *   centered  cosine after subtracting the mean of ALL the parallel anchors' target vectors from
 *             gallery and queries alike. A large common direction (averaged word vectors) makes
 *             every raw cosine high; centring removes it, but then ranks candidates differently
 *             from how their translations will be retrieved in a raw index.
 *
 * The mean is one fixed vector for every fold and candidate, so scores stay comparable.
 *
 * Gallery. Held-out scores (the `holdout` rows): among all the anchors' target vectors, never just
 * the held-out rows: a 10% holdout retrieved among itself saturates (top-1 ≈ 0.9 for every method).
 * Cross-validation ('auto', the default's choice, the ridge search): each fold among its own
 * targets (subGallery) ranks the candidates; among every pool row's target only breaks ties
 * (fit.ts, the paired rule; docs/methods.md §7). With the training folds' targets in the gallery
 * the selection alone was biased: on the word data (1,000 anchors), word2vec → USE folds retrieved among all anchors
 * ranked ridge (top-1 0.439) above Procrustes (0.395), while on 6,898 unseen words, and on any
 * subset of them from 200 to 6,898 words, Procrustes led (0.422 vs 0.386 on all): the training
 * targets are ones the map was fitted to land near, so they attract other queries in proportion
 * to how closely a method fits its training rows, which unseen targets never do.
 */
import type { MatMul } from '../engine/types.js'
import { NORM_EPS, takeRows, type Matrix } from '../math/matrix.js'
import { topNeighbours } from '../analysis/neighbours.js'
import type { HeldOutScores, SelectionMetric, SelectionSpace } from './types.js'

/** Ranks scored: top-1, top-5 and MRR@5 (0 on a miss). */
export const RETRIEVAL_K = 5
/** The largest k of a "recall@k" selection metric. */
export const MAX_RECALL_K = 100

export interface Gallery {
  /** The anchors' target vectors, centred by `mean` (zeros in the raw space) and normalised, float32 for the engine. */
  unit: Matrix
  mean: Float64Array
  space: SelectionSpace
}

export function centredUnitRows (m: Matrix, mean: Float64Array): { unit: Matrix, norms: Float64Array } {
  const { rows, cols } = m
  const unit = new Float32Array(rows * cols)
  const norms = new Float64Array(rows)
  const row = new Float64Array(cols)
  for (let i = 0; i < rows; i++) {
    let squares = 0
    for (let j = 0; j < cols; j++) {
      row[j] = m.data[i * cols + j] - mean[j]
      squares += row[j] * row[j]
    }
    const norm = Math.sqrt(squares)
    norms[i] = norm
    if (norm < NORM_EPS) continue
    for (let j = 0; j < cols; j++) unit[i * cols + j] = row[j] / norm
  }
  return { unit: { rows, cols, data: unit }, norms }
}

/** The gallery of target rows y in a space: centred by their own mean, or raw (a zero mean). */
export function buildGallery (y: Matrix, space: SelectionSpace = 'centered'): Gallery {
  const mean = new Float64Array(y.cols)
  if (space === 'centered') {
    for (let i = 0; i < y.rows; i++) for (let j = 0; j < y.cols; j++) mean[j] += y.data[i * y.cols + j]
    for (let j = 0; j < y.cols; j++) mean[j] /= Math.max(1, y.rows)
  }
  return { unit: centredUnitRows(y, mean).unit, mean, space }
}

/** The gallery restricted to some of its rows (in that order), with the same centring mean. */
export function subGallery (gallery: Gallery, rows: ArrayLike<number>): Gallery {
  return { mean: gallery.mean, space: gallery.space, unit: takeRows(gallery.unit, rows) }
}

/** Running sums over scored rows (several folds add into one). */
export interface Tally {
  count: number
  /** hitsAt[m]: rows whose own target came at rank m (0-based) among the neighbours searched. */
  hitsAt: Float64Array
  cosine: number
}

/** Ranks searched for a metric: top-5 and MRR@5 always, more for a larger recall@k. */
export function ranksFor (metric: SelectionMetric = 'top1'): number {
  return Math.max(RETRIEVAL_K, recallK(metric) ?? 0)
}

/** k of a "recall@k" metric, undefined for the others. */
export function recallK (metric: SelectionMetric): number | undefined {
  return metric.startsWith('recall@') ? Number(metric.slice('recall@'.length)) : undefined
}

export function emptyTally (ranks = RETRIEVAL_K): Tally {
  return { count: 0, hitsAt: new Float64Array(ranks), cosine: 0 }
}

/**
 * Adds the scores of translated rows whose true targets are gallery rows `own` (row i of
 * translated is the item of gallery row own[i]). Returns each row's rank: the 0-based place of its
 * own target among the neighbours searched, −1 when it is not among them.
 */
export async function tallyRows (translated: Matrix, own: ArrayLike<number>, gallery: Gallery, mm: MatMul, tally: Tally): Promise<Int16Array> {
  const rows = translated.rows
  const ranks = new Int16Array(rows).fill(-1)
  if (rows === 0) return ranks
  const { unit } = centredUnitRows(translated, gallery.mean)
  const k = Math.min(tally.hitsAt.length, gallery.unit.rows)
  const neighbours = await topNeighbours(unit, gallery.unit, k, mm)
  const cols = unit.cols
  for (let i = 0; i < rows; i++) {
    const target = own[i]
    for (let m = 0; m < k; m++) {
      if (neighbours[i * k + m] !== target) continue
      tally.hitsAt[m]++
      ranks[i] = m
      break
    }
    let dot = 0
    for (let j = 0; j < cols; j++) dot += unit.data[i * cols + j] * gallery.unit.data[target * cols + j]
    tally.cosine += dot
  }
  tally.count += rows
  return ranks
}

/** What one row adds to a metric's sum, from its rank (tallyRows): 1 for a hit, 1/(rank+1) for MRR. */
export function rowMetric (rank: number, metric: SelectionMetric): number {
  if (rank < 0) return 0
  const k = recallK(metric)
  if (k !== undefined) return rank < k ? 1 : 0
  if (metric === 'mrr') return rank < RETRIEVAL_K ? 1 / (rank + 1) : 0
  return rank === 0 ? 1 : 0
}

export function scoresOf (tally: Tally): HeldOutScores {
  return {
    count: tally.count,
    meanCosine: tally.cosine / Math.max(1, tally.count),
    top1: metricOf(tally, 'top1'),
    top5: metricOf(tally, `recall@${RETRIEVAL_K}`),
    mrr: metricOf(tally, 'mrr')
  }
}

/** The value a selection metric ranks candidates by (higher is better). */
export function metricOf (tally: Tally, metric: SelectionMetric): number {
  return metricSum(tally, metric) / Math.max(1, tally.count)
}

/** The metric summed over the rows scored: each rank's rows times what a row at that rank adds (rowMetric), at most 1 per row. */
export function metricSum (tally: Tally, metric: SelectionMetric): number {
  let sum = 0
  for (let m = 0; m < tally.hitsAt.length; m++) if (tally.hitsAt[m] > 0) sum += tally.hitsAt[m] * rowMetric(m, metric)
  return sum
}
