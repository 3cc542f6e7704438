/**
 * Retrieval scores of translated anchors against the anchors' target vectors.
 *
 * Space: cosine after subtracting the mean of ALL the parallel anchors' target vectors, for the
 * gallery and the queries alike, everywhere (held-out scores, cross-validation, the ridge search).
 * In the raw target space a large common direction (e.g. averaged word vectors) makes every
 * cosine high and retrieval much worse than in the centred space (docs/methods.md §7), and whether a
 * method adds the target mean back would then change its score; centring removes both effects.
 * The mean is the same fixed vector for every fold and candidate, so scores stay comparable.
 *
 * Gallery. Held-out scores (the `holdout` rows): among all the anchors' target vectors, never just
 * the held-out rows: a 10% holdout retrieved among itself saturates (top-1 ≈ 0.9 for every method,
 * docs/methods.md §7). Cross-validation ('auto', the ridge search): each fold among its own targets
 * only (subGallery). With the training folds' targets in the gallery the selection was biased: on
 * the word data (1,000 anchors), word2vec → USE folds retrieved among all anchors ranked ridge
 * (top-1 0.439) above Procrustes (0.395), while on 6,898 unseen words, and on any subset of them
 * from 200 to 6,898 words, Procrustes led (0.422 vs 0.386 on all). A fold of 200 targets does
 * not saturate on hard pairs; on easy pairs close candidates tie and meanCosine decides.
 */
import type { MatMul } from '../engine/types.js'
import { NORM_EPS, takeRows, type Matrix } from '../math/matrix.js'
import { topNeighbours } from '../analysis/neighbours.js'
import type { HeldOutScores } from './types.js'

/** Ranks scored: top-1, top-5 and MRR@5 (0 on a miss, docs/methods.md §12). */
export const RETRIEVAL_K = 5

export interface Gallery {
  /** The anchors' target vectors, centred by their mean and normalised, float32 for the engine. */
  unit: Matrix
  mean: Float64Array
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

export function buildGallery (y: Matrix): Gallery {
  const mean = new Float64Array(y.cols)
  for (let i = 0; i < y.rows; i++) for (let j = 0; j < y.cols; j++) mean[j] += y.data[i * y.cols + j]
  for (let j = 0; j < y.cols; j++) mean[j] /= Math.max(1, y.rows)
  return { unit: centredUnitRows(y, mean).unit, mean }
}

/** The gallery restricted to some of its rows (in that order), with the same centring mean. */
export function subGallery (gallery: Gallery, rows: ArrayLike<number>): Gallery {
  return { mean: gallery.mean, unit: takeRows(gallery.unit, rows) }
}

/** Running sums over scored rows (several folds add into one). */
export interface Tally {
  count: number
  hits1: number
  hitsK: number
  reciprocal: number
  cosine: number
}

export function emptyTally (): Tally {
  return { count: 0, hits1: 0, hitsK: 0, reciprocal: 0, cosine: 0 }
}

/**
 * Adds the scores of translated rows whose true targets are gallery rows `own` (row i of
 * translated is the item of gallery row own[i]).
 */
export async function tallyRows (translated: Matrix, own: ArrayLike<number>, gallery: Gallery, mm: MatMul, tally: Tally): Promise<void> {
  const rows = translated.rows
  if (rows === 0) return
  const { unit } = centredUnitRows(translated, gallery.mean)
  const k = Math.min(RETRIEVAL_K, gallery.unit.rows)
  const neighbours = await topNeighbours(unit, gallery.unit, k, mm)
  const cols = unit.cols
  for (let i = 0; i < rows; i++) {
    const target = own[i]
    for (let m = 0; m < k; m++) {
      if (neighbours[i * k + m] !== target) continue
      if (m === 0) tally.hits1++
      tally.hitsK++
      tally.reciprocal += 1 / (m + 1)
      break
    }
    let dot = 0
    for (let j = 0; j < cols; j++) dot += unit.data[i * cols + j] * gallery.unit.data[target * cols + j]
    tally.cosine += dot
  }
  tally.count += rows
}

export function scoresOf (tally: Tally): HeldOutScores {
  const n = Math.max(1, tally.count)
  return {
    count: tally.count,
    meanCosine: tally.cosine / n,
    top1: tally.hits1 / n,
    top5: tally.hitsK / n,
    mrr: tally.reciprocal / n
  }
}
