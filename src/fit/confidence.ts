/**
 * Per-vector confidence of a translation, from the input alone, in [0, 1].
 *
 * What was tried first, in scratch runs on the word data set (100 and 25 anchors, seed 0; not a
 * committed bench): the density of the input among the source anchors (mean cosine to its k
 * nearest, as a percentile of the anchors' own leave-one-out values) separated retrieved from
 * missed words only weakly (AUC 0.58-0.70), and with the unpaired rows counted as support, or
 * for refined maps, it ANTI-correlated (AUC 0.28-0.47): crowded regions of a space are where
 * translations get confused. So the score measures what decides a retrieval, on the source rows
 * the service holds (bench/quality.ts refine-confidence measures it):
 *
 *   support    source rows of the anchor set (anchors and unpaired rows; at most MAX_SUPPORT,
 *              a seeded sample), centred on their mean and normalised;
 *   margin_i   support row i translated by the map, then cos(best) − cos(second best) among the
 *              set's target rows (centred on their mean): how unambiguous its translation is;
 *   local(v)   mean margin of v's k nearest support rows (cosine in the source space): an input
 *              far from every support row borrows the margins of rows unlike it, and an input
 *              in a region whose translations are ambiguous gets their low margins;
 *   confidence mid-rank percentile of local(v) among the support rows' own leave-one-out local
 *              values: 0.5 is a typical support row, 0 is below all of them.
 */
import type { MatMul } from '../engine/types.js'
import { topNeighbours } from '../analysis/neighbours.js'
import type { Matrix } from '../math/matrix.js'
import { takeRows } from '../math/matrix.js'
import { createRng, sampleIndices } from '../math/random.js'
import { applyMap, type LinearMap } from '../translators/map.js'
import { buildGallery, centredUnitRows } from './score.js'

/** Support rows kept in a translator record (a 768-d support is then 3 MiB of float32). */
export const MAX_SUPPORT = 1024
/** Target rows the margins are measured among (a seeded sample above this). */
export const MAX_GALLERY = 16384
/** Neighbours averaged for local(v). */
export const CONFIDENCE_K = 10

export interface ConfidenceModel {
  /** Subtracted from inputs before normalising (the support's mean). */
  center: Float32Array
  /** Unit support rows. */
  support: Matrix
  /** Translation margin of each support row. */
  margins: Float32Array
  /** Leave-one-out local margins of the support rows, ascending. */
  reference: Float32Array
  k: number
}

function sample (m: Matrix, max: number, seed: number): Matrix {
  return m.rows > max ? takeRows(m, sampleIndices(createRng(seed), m.rows, max).sort()) : m
}

function dot (a: Matrix, i: number, b: Matrix, j: number): number {
  let s = 0
  for (let c = 0; c < a.cols; c++) s += a.data[i * a.cols + c] * b.data[j * b.cols + c]
  return s
}

/**
 * The model of `map` from the source rows and target rows of its anchor set (parallel or not;
 * at least 2 of each).
 */
export async function buildConfidence (source: Matrix, target: Matrix, map: LinearMap, mm: MatMul, opts: { seed?: number, k?: number, maxSupport?: number, signal?: AbortSignal } = {}): Promise<ConfidenceModel> {
  if (source.rows < 2 || target.rows < 2) throw new RangeError(`confidence needs at least 2 source and 2 target rows, got ${source.rows} and ${target.rows}`)
  const seed = opts.seed ?? 0
  const chosen = sample(source, opts.maxSupport ?? MAX_SUPPORT, seed)
  const gallery = buildGallery(sample(target, MAX_GALLERY, seed + 1))
  const translated = centredUnitRows(await applyMap(chosen, map, mm), gallery.mean).unit
  opts.signal?.throwIfAborted()
  const best = await topNeighbours(translated, gallery.unit, 2, mm)
  opts.signal?.throwIfAborted()
  const margins = new Float32Array(chosen.rows)
  for (let i = 0; i < chosen.rows; i++) margins[i] = dot(translated, i, gallery.unit, best[2 * i]) - dot(translated, i, gallery.unit, best[2 * i + 1])

  const mean = new Float64Array(chosen.cols)
  for (let i = 0; i < chosen.rows; i++) for (let j = 0; j < chosen.cols; j++) mean[j] += chosen.data[i * chosen.cols + j]
  for (let j = 0; j < chosen.cols; j++) mean[j] /= chosen.rows
  const support = centredUnitRows(chosen, mean).unit
  const k = Math.min(opts.k ?? CONFIDENCE_K, chosen.rows - 1)
  const nearest = await topNeighbours(support, support, k, mm, { excludeSelf: true })
  opts.signal?.throwIfAborted()
  const reference = Float32Array.from(localMargins(nearest, k, margins)).sort()
  return { center: Float32Array.from(mean), support, margins, reference, k }
}

function localMargins (nearest: Int32Array, k: number, margins: Float32Array): Float64Array {
  const rows = nearest.length / k
  const out = new Float64Array(rows)
  for (let i = 0; i < rows; i++) {
    let sum = 0
    for (let m = 0; m < k; m++) sum += margins[nearest[i * k + m]]
    out[i] = sum / k
  }
  return out
}

/** Number of sorted values below v, and equal to it. */
function rankOf (sorted: Float32Array, v: number): { below: number, equal: number } {
  let lo = 0
  let hi = sorted.length
  while (lo < hi) {
    const mid = (lo + hi) >> 1
    if (sorted[mid] < v) lo = mid + 1
    else hi = mid
  }
  let end = lo
  while (end < sorted.length && sorted[end] === v) end++
  return { below: lo, equal: end - lo }
}

/** Confidence of each row of x, in [0, 1]. */
export async function confidenceOf (x: Matrix, model: ConfidenceModel, mm: MatMul): Promise<Float64Array> {
  if (x.cols !== model.center.length) throw new RangeError(`inputs have ${x.cols} columns, the model ${model.center.length}`)
  const out = new Float64Array(x.rows)
  if (x.rows === 0) return out
  const unit = centredUnitRows(x, Float64Array.from(model.center)).unit
  const nearest = await topNeighbours(unit, model.support, model.k, mm)
  const local = localMargins(nearest, model.k, model.margins)
  const n = model.reference.length
  for (let i = 0; i < x.rows; i++) {
    // Compared in float32, as the reference is stored, so equal values tie exactly.
    const { below, equal } = rankOf(model.reference, Math.fround(local[i]))
    out[i] = (below + equal / 2) / n
  }
  return out
}
