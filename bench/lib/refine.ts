/**
 * The refinement protocol of issue 8 on the word data set, as one function per case, so the
 * quality bench's `refine` section stays a loop and a table:
 *
 *   k words are parallel anchors (the same ids in both spaces); every other word is uploaded to
 *   both spaces under ids that differ per space, so it reaches the fit as an unpaired row of each
 *   space (the target pool is shuffled here too, so not even row order links the two pools);
 *   top-1 is measured on those other words: each translated source word retrieves among all the
 *   other words' target vectors, by cosine after centring on their mean (score.ts's space).
 */
import { normalizeRows, topNeighbours } from '../../src/analysis/neighbours.js'
import type { Engine } from '../../src/engine/types.js'
import { fitTranslator } from '../../src/fit/index.js'
import { applyMap } from '../../src/translators/map.js'
import { refineTranslator, type RefinementReport } from '../../src/fit/refine.js'
import type { LinearMap } from '../../src/translators/map.js'
import type { Scaling } from '../../src/fit/types.js'
import { takeRows, type Matrix } from '../../src/math/matrix.js'
import { createRng, sampleIndices, shuffle } from '../../src/math/random.js'

/** `count` distinct rows drawn by the service's seeded RNG, ascending. */
export function anchorRows (seed: number, words: number, count: number): Uint32Array {
  return sampleIndices(createRng(seed), words, count).sort()
}

export function otherRows (anchors: Uint32Array, words: number): Uint32Array {
  const isAnchor = new Uint8Array(words)
  for (const a of anchors) isAnchor[a] = 1
  const out: number[] = []
  for (let i = 0; i < words; i++) if (isAnchor[i] === 0) out.push(i)
  return Uint32Array.from(out)
}

/** Rows centred on the gallery's mean, unit length. */
function centredUnit (m: Matrix, mean: Float64Array): Matrix {
  const data = new Float32Array(m.data.length)
  for (let i = 0; i < m.rows; i++) for (let j = 0; j < m.cols; j++) data[i * m.cols + j] = m.data[i * m.cols + j] - mean[j]
  return normalizeRows({ rows: m.rows, cols: m.cols, data })
}

/** Top-1 of translated rows against the true target rows (row i of each = the same word). */
export async function top1Centred (translated: Matrix, target: Matrix, engine: Engine): Promise<{ top1: number, hits: Uint8Array }> {
  const mean = new Float64Array(target.cols)
  for (let i = 0; i < target.rows; i++) for (let j = 0; j < target.cols; j++) mean[j] += target.data[i * target.cols + j]
  for (let j = 0; j < target.cols; j++) mean[j] /= target.rows
  const best = await topNeighbours(centredUnit(translated, mean), centredUnit(target, mean), 1, engine)
  const hits = new Uint8Array(best.length)
  let count = 0
  for (let i = 0; i < best.length; i++) if (best[i] === i) { hits[i] = 1; count++ }
  return { top1: count / best.length, hits }
}

export interface RefineCase {
  plain: number
  refined: number
  report: RefinementReport
  plainMap: LinearMap
  refinedMap: LinearMap
  /** Per other word: retrieved by the unrefined / the kept map. */
  plainHits: Uint8Array
  refinedHits: Uint8Array
  /** Source rows each map was fitted on (what its confidence support is drawn from). */
  plainSupport: Matrix
  refinedSupport: Matrix
  /** The other words' source rows (the queries scored). */
  queries: Matrix
  seconds: number
}

export async function runRefineCase (
  source: Matrix, target: Matrix, anchors: Uint32Array, opts: { seed: number, iterations: number, k: number, holdout: number, scaling: Scaling },
  engine: Engine
): Promise<RefineCase> {
  const started = performance.now()
  const others = otherRows(anchors, source.rows)
  const x = takeRows(source, anchors)
  const y = takeRows(target, anchors)
  const unpairedX = takeRows(source, others)
  const trueY = takeRows(target, others)
  const unpairedY = takeRows(target, shuffle(createRng(opts.seed + 1000), Uint32Array.from(others)))
  const fitOpts = { method: 'procrustes' as const, scaling: opts.scaling, holdout: opts.holdout, folds: 5, seed: opts.seed }
  const base = await fitTranslator(x, y, fitOpts, engine)
  const refined = await refineTranslator(x, y, unpairedX, unpairedY,
    { method: base.method, scaling: base.scaling, ridge: base.ridge ?? 0 }, { map: base.map, rank: base.diagnostics.rank },
    { iterations: opts.iterations, k: opts.k, holdout: opts.holdout, seed: opts.seed }, engine)
  const plain = await top1Centred(await applyMap(unpairedX, base.map, engine), trueY, engine)
  const after = refined.report.kept === 'refined' ? await top1Centred(await applyMap(unpairedX, refined.map, engine), trueY, engine) : plain
  const paired = takeRows(unpairedX, refined.pairedSource)
  const refinedSupport: Matrix = { rows: x.rows + paired.rows, cols: x.cols, data: new Float32Array([...x.data, ...paired.data]) }
  return {
    plain: plain.top1,
    refined: after.top1,
    report: refined.report,
    plainMap: base.map,
    refinedMap: refined.map,
    plainHits: plain.hits,
    refinedHits: after.hits,
    plainSupport: x,
    refinedSupport,
    queries: unpairedX,
    seconds: (performance.now() - started) / 1000
  }
}
