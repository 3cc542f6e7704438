/**
 * Quality of what the service computes, on real embeddings of the same words by three models
 * (../shared/data/words; the bench says so and stops when it is absent). Figures, not tests.
 *
 *   npx tsx bench/quality.ts                 every section
 *   npx tsx bench/quality.ts relative        one section (several may be named)
 *   npx tsx bench/quality.ts goals --gallery  issue 16's goal table, and the CV gallery rules compared
 *   options: --seeds=0,1,2,3,4  --anchors=N (default per section: relative 300, translators 1000)
 *
 * Sections:
 *   goals      issue 16: top-1 among the raw target vectors of all unseen words, for the best single
 *              method+scaling, auto and the default (no method or scaling), with fit times.
 *   relative   relative vectors of two models on the same random anchors retrieve the right word
 *              (docs/methods.md §16): top-1 by cosine among all held-out words, for every ordered pair
 *              of models, through the service's engine next to a numpy float64 baseline of the
 *              same protocol on the same anchors (bench/numpy_quality.py).
 *   refine     issue 8: k parallel anchors, every other word unpaired under per-space ids;
 *              top-1 on those words with and without refinement for k in 25, 50, 100, 300, 1000
 *              and every ordered pair (REFINE_COUNTS=25,100 and REFINE_PAIRS=glove-word2vec
 *              narrow it).
 *   refine-confidence  how well withConfidence's score predicts a retrieval (AUC, quartiles),
 *              on held-out words, 100 anchors, plain and refined maps.
 *              The issue's protocol uses seeds 0-2: npx tsx bench/quality.ts refine --seeds=0,1,2
 *
 * A section is one entry of SECTIONS: a name, a one-line description, and run(context). The
 * context holds the words, the engine and the options, so further sections (e.g. translators:
 * fit on the anchors, retrieve the held-out words in the target space) only add an entry.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { normalizeRows, topNeighbours } from '../src/analysis/neighbours.js'
import { createEngine, defaultEngineConfig, type Engine, type OrtEngine } from '../src/engine/index.js'
import { FIT_METHODS, SCALINGS, fitTranslator, type FitMethod, type Scaling } from '../src/fit/index.js'
import { applyMap } from '../src/translators/map.js'
import { takeRows, type Matrix } from '../src/math/matrix.js'
import { createRng, sampleIndices, shuffle } from '../src/math/random.js'
import { lastJsonLine, runPython } from './lib/python.js'
import { formatMeanStd, meanStd } from './lib/stats.js'
import { loadWords, missingWordFile, wordsDir, type Words } from './lib/words.js'
import { anchorRows, otherRows, runRefineCase } from './lib/refine.js'
import { buildConfidence, confidenceOf } from '../src/fit/confidence.js'

export interface QualityContext {
  words: Words
  engine: OrtEngine
  seeds: number[]
  /** --anchors when given; each section has its own default otherwise. */
  anchors?: number
}

export interface Section {
  name: string
  describe: string
  run: (ctx: QualityContext) => Promise<void>
}

// ---------------------------------------------------------------------------------------------
// Shared protocol pieces

/** The anchor rows for a seed: `count` distinct words drawn by the service's seeded RNG, ascending. */
export function randomAnchors (seed: number, words: number, count: number): Uint32Array {
  return sampleIndices(createRng(seed), words, count).sort()
}

/** Every row index not among the anchors, ascending. */
export function heldOutRows (anchors: Uint32Array, words: number): Uint32Array {
  const isAnchor = new Uint8Array(words)
  for (const a of anchors) isAnchor[a] = 1
  const out = new Uint32Array(words - anchors.length)
  let n = 0
  for (let i = 0; i < words; i++) if (isAnchor[i] === 0) out[n++] = i
  return out
}

/**
 * Fraction of query rows whose most cosine-similar gallery row is their own (row i of the
 * queries and row i of the gallery are the same word), through the engine's products.
 */
export async function top1Retrieval (queries: Matrix, gallery: Matrix, engine: Engine): Promise<number> {
  const best = await topNeighbours(normalizeRows(queries), normalizeRows(gallery), 1, engine)
  let hits = 0
  for (let i = 0; i < best.length; i++) if (best[i] === i) hits++
  return hits / best.length
}

const pairName = (source: string, target: string): string => `${source}->${target}`

/** Every ordered pair of distinct spaces. */
function orderedPairs (words: Words): Array<[string, string]> {
  const pairs: Array<[string, string]> = []
  for (const s of words.spaces) for (const t of words.spaces) if (s !== t) pairs.push([s.name, t.name])
  return pairs
}

/**
 * Starts a section's numpy baseline (bench/numpy_quality.py) on the same anchors, in its own
 * process, so it runs while the engine's part does. Awaited by the caller.
 */
function startNumpy<T> (section: string, words: Words, anchorsBySeed: Uint32Array[]): Promise<T> {
  const dir = mkdtempSync(join(tmpdir(), 'bench-quality-'))
  const specPath = join(dir, 'spec.json')
  writeFileSync(specPath, JSON.stringify({
    dir: words.dir,
    spaces: words.spaces.map(s => ({ name: s.name, file: s.file, dim: s.dim })),
    anchors: anchorsBySeed.map(a => Array.from(a))
  }))
  const script = fileURLToPath(new URL('./numpy_quality.py', import.meta.url))
  const run = (async () => {
    try {
      return lastJsonLine<T>(await runPython(script, [section, specPath]))
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })()
  run.catch(() => {}) // awaited by the caller; keeps an early failure from being unhandled meanwhile
  return run
}

// ---------------------------------------------------------------------------------------------
// relative

interface NumpyRelative {
  results: Array<Record<string, { plain: number, centred: number }>>
  seconds: number
  numpy: string
  heldOut: number
}

async function relativeSection (ctx: QualityContext): Promise<void> {
  const { words, engine, seeds } = ctx
  const anchorCount = ctx.anchors ?? 300
  const n = words.ids.length
  const anchorsBySeed = seeds.map(seed => randomAnchors(seed, n, anchorCount))
  const heldOut = n - anchorCount
  console.log(`\nrelative: top-1 retrieval of the right word among all ${heldOut.toLocaleString('en-US')} held-out words ` +
    `(${anchorCount} random anchors, seeds ${seeds.join(',')}; mean ± std over seeds, std with n − 1)`)
  console.log('  engine = createEngine + engine.relative (cosine, float32) and retrieval through the engine\'s products;')
  console.log('  numpy  = the same protocol in float64 on the same anchors (bench/numpy_quality.py, no OpenBLAS overrides)')

  const numpyRun = startNumpy<NumpyRelative>('relative', words, anchorsBySeed)

  const pairs = orderedPairs(words)
  const ours = new Map<string, { plain: number[], centred: number[] }>(pairs.map(([s, t]) => [pairName(s, t), { plain: [], centred: [] }]))
  const t0 = performance.now()
  for (let k = 0; k < seeds.length; k++) {
    const anchors = anchorsBySeed[k]
    const held = heldOutRows(anchors, n)
    for (const variant of ['plain', 'centred'] as const) {
      const relative = new Map<string, Matrix>()
      for (const space of words.spaces) {
        const result = await engine.relative(takeRows(space.matrix, held), takeRows(space.matrix, anchors), {
          projections: ['cosine'], center: variant === 'centred', normalize: 'none'
        })
        if (result.zeroRows !== 0) console.log(`  note: ${space.name} has ${result.zeroRows} zero rows (seed ${seeds[k]}, ${variant})`)
        relative.set(space.name, result.matrix)
      }
      for (const [s, t] of pairs) {
        ours.get(pairName(s, t))![variant].push(await top1Retrieval(relative.get(s)!, relative.get(t)!, engine))
      }
    }
  }
  const engineSeconds = (performance.now() - t0) / 1000
  const numpy = await numpyRun
  if (numpy.heldOut !== heldOut) throw new Error(`numpy held out ${numpy.heldOut} words, the engine ${heldOut}`)
  const theirs = (pair: string, variant: 'plain' | 'centred'): number[] => numpy.results.map(r => r[pair][variant])

  const width = Math.max(...pairs.map(([s, t]) => `${s} -> ${t}`.length)) + 2
  const col = 17
  console.log(`\n  ${'pair'.padEnd(width)}${'engine'.padEnd(col)}${'numpy f64'.padEnd(col)}${'engine centred'.padEnd(col)}${'numpy centred'.padEnd(col)}max |engine − numpy| per seed`)
  let worst = 0
  for (const [s, t] of pairs) {
    const pair = pairName(s, t)
    const mine = ours.get(pair)!
    const diffs = (['plain', 'centred'] as const).flatMap(v => mine[v].map((x, i) => Math.abs(x - theirs(pair, v)[i])))
    const diff = Math.max(...diffs)
    worst = Math.max(worst, diff)
    console.log(`  ${`${s} -> ${t}`.padEnd(width)}${formatMeanStd(mine.plain).padEnd(col)}${formatMeanStd(theirs(pair, 'plain')).padEnd(col)}` +
      `${formatMeanStd(mine.centred).padEnd(col)}${formatMeanStd(theirs(pair, 'centred')).padEnd(col)}${diff.toFixed(4)} (${Math.round(diff * heldOut)} words)`)
  }
  // The pair issue 3 quotes (about 0.82 to 0.84 for numpy baselines, GloVe to word2vec, 300 random
  // anchors), in both directions and both variants, and the engine against numpy on it.
  const summary = (s: string, t: string): string => {
    const mine = ours.get(pairName(s, t))
    if (mine === undefined) return ''
    return `${s} -> ${t}: ${meanStd(mine.plain).mean.toFixed(4)} plain, ${meanStd(mine.centred).mean.toFixed(4)} centred`
  }
  if (ours.has(pairName('glove', 'word2vec'))) {
    console.log(`\n  issue 3 quotes about 0.82 to 0.84 for GloVe to word2vec with ${anchorCount} random anchors. Engine: ${summary('glove', 'word2vec')}; ${summary('word2vec', 'glove')}.`)
    console.log('  Without centring, queries from a space whose vectors share a large common direction (GloVe, USE) score low:')
    console.log('  that direction dominates their cosines to the anchors. Centring on the anchors\' mean removes it.')
  }
  const lower = pairs.flatMap(([s, t]) => (['plain', 'centred'] as const).map(v => ({ pair: `${s} -> ${t} ${v}`, gap: meanStd(theirs(pairName(s, t), v)).mean - meanStd(ours.get(pairName(s, t))![v]).mean })))
    .filter(x => x.gap > 0.5 / heldOut)
  console.log(lower.length === 0
    ? '  engine vs numpy: on the mean over seeds the engine retrieves at least as many words as the float64 baseline (within half a word), every pair and variant'
    : `  engine vs numpy: on the mean over seeds the engine is below the baseline on ${lower.map(x => `${x.pair} (by ${x.gap.toFixed(4)})`).join(', ')}`)
  console.log(`  time: engine ${engineSeconds.toFixed(1)} s, numpy ${numpy.seconds.toFixed(1)} s (numpy ${numpy.numpy}; both ran at once), worst engine − numpy gap ${worst.toFixed(4)}`)
}


// ---------------------------------------------------------------------------------------------
// translators

/** Issue 4's numpy float64 reference (centre + L2 + Procrustes, and least squares; 1,000 anchors). */
const REFERENCE_TOP1: Record<string, number> = {
  'glove->word2vec': 0.939,
  'word2vec->glove': 0.962,
  'glove->use': 0.341,
  'use->glove': 0.367,
  'word2vec->use': 0.415,
  'use->word2vec': 0.387
}

interface NumpyTranslators {
  results: Array<Record<string, { procrustes_l2: number, lstsq: number }>>
  seconds: number
  numpy: string
  heldOut: number
}

/** A pair's anchor rows (xa, ya) and held-out rows (xh, yh), source s and target t. */
function pairRows (byName: Map<string, Matrix>, s: string, t: string, anchors: ArrayLike<number>, held: ArrayLike<number>): { xa: Matrix, ya: Matrix, xh: Matrix, yh: Matrix } {
  const [source, target] = [byName.get(s)!, byName.get(t)!]
  return { xa: takeRows(source, anchors), ya: takeRows(target, anchors), xh: takeRows(source, held), yh: takeRows(target, held) }
}

function columnMeans (m: Matrix): Float64Array {
  const mean = new Float64Array(m.cols)
  for (let i = 0; i < m.rows; i++) for (let j = 0; j < m.cols; j++) mean[j] += m.data[i * m.cols + j]
  return mean.map(v => v / m.rows)
}

function centredRows (m: Matrix, mean: Float64Array): Matrix {
  return { rows: m.rows, cols: m.cols, data: m.data.map((v, i) => v - mean[i % m.cols]) }
}

type Candidate = { method: FitMethod, scaling: Scaling } | { method: 'auto' }
const candidateName = (c: Candidate): string => c.method === 'auto' ? 'auto' : `${c.method} ${c.scaling}`

/** --methods=procrustes,auto: the candidates of those methods (every scaling); default all. */
function chosenCandidates (): Candidate[] {
  const arg = process.argv.find(a => a.startsWith('--methods='))
  const names = arg === undefined ? [...FIT_METHODS, 'auto'] : arg.slice('--methods='.length).split(',')
  const out: Candidate[] = []
  for (const name of names) {
    if (name === 'auto') out.push({ method: 'auto' })
    else if ((FIT_METHODS as readonly string[]).includes(name)) for (const scaling of SCALINGS) out.push({ method: name as FitMethod, scaling })
    else throw new Error(`--methods: unknown method "${name}"; methods: ${FIT_METHODS.join(', ')}, auto`)
  }
  return out
}

/**
 * The translators issue's protocol: per seed, `anchors` random parallel anchors, every other word
 * held out; each method and scaling is fitted through the service's fitTranslator (holdout 0, the
 * service's defaults: ridge chosen by its 5-fold search, 'auto' by its 5-fold selection),
 * the held-out source words are translated by engine.translate (the graph /v1/translate runs), and
 * top-1 counts a word when its translation's most cosine-similar held-out target is its own.
 * Cosines are taken in the centred target space (the target anchors' mean subtracted from the
 * translations and the gallery alike), the space the service scores its fits in (src/fit/score.ts)
 * and, as a numpy check showed, the one the issue's reference figures were measured in: in the raw
 * space, a common direction of GloVe or USE vectors dominates every cosine (docs/methods.md §7).
 */
async function translatorsSection (ctx: QualityContext): Promise<void> {
  const { words, engine, seeds } = ctx
  const anchorCount = ctx.anchors ?? 1000
  const candidates = chosenCandidates()
  const n = words.ids.length
  const anchorsBySeed = seeds.map(seed => randomAnchors(seed, n, anchorCount))
  const heldOut = n - anchorCount
  console.log(`\ntranslators: top-1 retrieval of each held-out word's translation among all ${heldOut.toLocaleString('en-US')} held-out target words ` +
    `(${anchorCount} random parallel anchors, seeds ${seeds.join(',')}; mean ± std over seeds)`)
  console.log('  cosine in the centred target space (target anchors\' mean subtracted from translations and gallery)')
  console.log('  service = fitTranslator (holdout 0, 5 folds) + engine.translate; "auto" lists the configuration it chose per seed')
  console.log('  numpy   = bench/numpy_quality.py on the same anchors, float64: centre + L2 + Procrustes (SVD), and least squares')
  console.log('  issue   = the reference figures quoted in the translators issue (numpy, 1,000 anchors, its own seeds)')
  const numpyRun = startNumpy<NumpyTranslators>('translators', words, anchorsBySeed)

  const pairs = orderedPairs(words)
  const byName = new Map(words.spaces.map(s => [s.name, s.matrix]))
  // pair -> candidate -> per-seed top-1, and fit times
  const top1 = new Map<string, Map<string, number[]>>()
  const fitMs = new Map<string, number[]>()
  const autoChoice = new Map<string, string[]>()
  let key = 0
  const t0 = performance.now()
  for (let k = 0; k < seeds.length; k++) {
    const anchors = anchorsBySeed[k]
    const held = heldOutRows(anchors, n)
    for (const [s, t] of pairs) {
      const pair = pairName(s, t)
      const { xa, ya, xh, yh } = pairRows(byName, s, t, anchors, held)
      const targetMean = columnMeans(ya)
      const centredYh = centredRows(yh, targetMean)
      let perPair = top1.get(pair)
      if (perPair === undefined) top1.set(pair, perPair = new Map())
      for (const c of candidates) {
        const name = candidateName(c)
        const started = performance.now()
        const fitted = await fitTranslator(xa, ya, { method: c.method, scaling: c.method === 'auto' ? 'standard' : c.scaling, holdout: 0, folds: 5, seed: seeds[k] }, engine)
        const ms = performance.now() - started
        const mapKey = `bench-${key++}`
        const translated = await engine.translate(xh, fitted.map, mapKey)
        await engine.forget(mapKey)
        const score = await top1Retrieval(centredRows(translated, targetMean), centredYh, engine)
        let list = perPair.get(name)
        if (list === undefined) perPair.set(name, list = [])
        list.push(score)
        let times = fitMs.get(name)
        if (times === undefined) fitMs.set(name, times = [])
        times.push(ms)
        if (c.method === 'auto') {
          let chosen = autoChoice.get(pair)
          if (chosen === undefined) autoChoice.set(pair, chosen = [])
          chosen.push(`${fitted.method} ${fitted.scaling}${fitted.ridge !== undefined ? ` ridge ${fitted.ridge}` : ''}`)
        }
      }
      process.stderr.write(`  seed ${seeds[k]} ${s} -> ${t} done (${((performance.now() - t0) / 1000).toFixed(0)} s)\n`)
    }
  }
  const serviceSeconds = (performance.now() - t0) / 1000
  const numpy = await numpyRun
  if (numpy.heldOut !== heldOut) throw new Error(`numpy held out ${numpy.heldOut} words, the service ${heldOut}`)

  const names = candidates.map(candidateName)
  const nameWidth = Math.max(...names.map(x => x.length), 'numpy procrustes l2'.length) + 2
  const col = 17
  const header = `  ${'method scaling'.padEnd(nameWidth)}${pairs.map(([s, t]) => `${s}->${t}`.padEnd(col)).join('')}fit ms (mean)`
  console.log('\n' + header)
  for (const name of names) {
    const cells = pairs.map(([s, t]) => formatMeanStd(top1.get(pairName(s, t))!.get(name)!).padEnd(col)).join('')
    console.log(`  ${name.padEnd(nameWidth)}${cells}${meanStd(fitMs.get(name)!).mean.toFixed(0)}`)
  }
  const numpyCells = (variant: 'procrustes_l2' | 'lstsq'): string => pairs.map(([s, t]) => formatMeanStd(numpy.results.map(r => r[pairName(s, t)][variant])).padEnd(col)).join('')
  console.log(`  ${'numpy procrustes l2'.padEnd(nameWidth)}${numpyCells('procrustes_l2')}`)
  console.log(`  ${'numpy lstsq'.padEnd(nameWidth)}${numpyCells('lstsq')}`)
  console.log(`  ${'issue reference'.padEnd(nameWidth)}${pairs.map(([s, t]) => (REFERENCE_TOP1[pairName(s, t)]?.toFixed(3) ?? '-').padEnd(col)).join('')}`)

  console.log('\n  goals')
  const mean = (pair: string, name: string): number | undefined => {
    const v = top1.get(pair)?.get(name)
    return v === undefined ? undefined : meanStd(v).mean
  }
  for (const [s, t] of pairs) {
    const pair = pairName(s, t)
    const parts: string[] = []
    const ours = mean(pair, 'procrustes l2')
    const reference = REFERENCE_TOP1[pair]
    const sameAnchors = meanStd(numpy.results.map(r => r[pair].procrustes_l2)).mean
    if (ours !== undefined) {
      const verdict = reference !== undefined && Math.abs(ours - reference) <= 0.01 ? 'within 0.01: met' : 'not within 0.01'
      parts.push(`procrustes l2 ${ours.toFixed(4)} vs issue ${reference?.toFixed(3) ?? '-'} (${verdict}), vs numpy on the same anchors ${sameAnchors.toFixed(4)} (diff ${(ours - sameAnchors).toFixed(4)})`)
    }
    const auto = mean(pair, 'auto')
    if (auto !== undefined) {
      const singles = names.filter(x => x !== 'auto').map(x => ({ name: x, score: mean(pair, x)! }))
      if (singles.length > 0) {
        const best = singles.reduce((a, b) => b.score > a.score ? b : a)
        const verdict = auto >= best.score - 0.5 / heldOut ? 'met' : `below by ${(best.score - auto).toFixed(4)} (${Math.round((best.score - auto) * heldOut)} words)`
        parts.push(`auto ${auto.toFixed(4)} vs best single ${best.name} ${best.score.toFixed(4)}: ${verdict}; auto chose ${autoChoice.get(pair)!.join(' | ')}`)
      }
    }
    console.log(`  ${s} -> ${t}: ${parts.join('; ')}`)
  }
  console.log(`  time: service ${serviceSeconds.toFixed(0)} s for ${candidates.length} fits per pair and seed, numpy ${numpy.seconds.toFixed(1)} s (numpy ${numpy.numpy}; both ran at once)`)
}

// ---------------------------------------------------------------------------------------------
// goals (issue 16): the fit a user gets, scored the way a vector index of the target model uses it

/** Spearman rank correlation (average ranks for ties). */
function spearman (a: number[], b: number[]): number {
  const ranks = (v: number[]): number[] => {
    const order = v.map((_, i) => i).sort((i, j) => v[i] - v[j])
    const out = new Array<number>(v.length)
    for (let i = 0; i < order.length;) {
      let j = i
      while (j < order.length && v[order[j]] === v[order[i]]) j++
      for (let m = i; m < j; m++) out[order[m]] = (i + j - 1) / 2
      i = j
    }
    return out
  }
  const [ra, rb] = [ranks(a), ranks(b)]
  const mean = (v: number[]): number => v.reduce((x, y) => x + y, 0) / v.length
  const [ma, mb] = [mean(ra), mean(rb)]
  let num = 0
  let da = 0
  let db = 0
  for (let i = 0; i < ra.length; i++) { num += (ra[i] - ma) * (rb[i] - mb); da += (ra[i] - ma) ** 2; db += (rb[i] - mb) ** 2 }
  return da === 0 || db === 0 ? 0 : num / Math.sqrt(da * db)
}

/**
 * The issue's goal protocol: per seed, `anchors` random parallel anchors; every other word is
 * unseen. Each method and scaling (ridge strengths as auto's cross-validation chose them for that
 * method and scaling: the same folds and scoring as a named fit's own search), `auto` and the
 * default (no method, no scaling) are fitted through fitTranslator (holdout 0, 5 folds, default
 * selection: raw top-1), the unseen source words translated by engine.translate, and top-1 counts
 * a word when its translation's most cosine-similar raw target vector, among all unseen words',
 * is its own. Goals: auto within 0.005 of the best single choice on every pair, the default
 * within 0.01 (means over seeds).
 *
 * With --gallery it also runs auto with the two plain gallery rules, 'fold' (each fold among its
 * own targets, no tie-break) and 'pool' (each fold among every pool target), beside the service's
 * 'paired' rule, and reports for each how well the candidates' cross-validated scores rank them as
 * unseen words do (Spearman against unseen top-1 on galleries of 200, 1,000 and all unseen words)
 * and the unseen top-1 lost by the rule's pick (regret).
 */
async function goalsSection (ctx: QualityContext): Promise<void> {
  const { words, engine, seeds } = ctx
  const anchorCount = ctx.anchors ?? 1000
  const compareGalleries = process.argv.includes('--gallery')
  const n = words.ids.length
  const pairs = orderedPairs(words)
  const byName = new Map(words.spaces.map(s => [s.name, s.matrix]))
  const singles: Array<{ method: FitMethod, scaling: Scaling }> = []
  for (const method of FIT_METHODS) for (const scaling of SCALINGS) singles.push({ method, scaling })
  const sizes = [200, 1000, n - anchorCount]
  console.log(`\ngoals: top-1 of each unseen word's translation among the raw target vectors of all ${(n - anchorCount).toLocaleString('en-US')} unseen words ` +
    `(${anchorCount} random parallel anchors, seeds ${seeds.join(',')}; mean over seeds)`)
  console.log('  service fits: fitTranslator (holdout 0, 5 folds, selection raw top1) + engine.translate; best single = the best method+scaling by its mean over seeds')
  type Row = { single: Map<string, number[]>, auto: number[], autoPick: string[], def: number[], defPick: string[], ms: Map<string, number[]> }
  const results = new Map<string, Row>()
  const rules = compareGalleries ? ['paired', 'fold', 'pool'] as const : ['paired'] as const
  // rule -> gallery size -> Spearman values; rule -> regrets
  const rankAgreement = new Map<string, number[][]>(rules.map(r => [r, sizes.map(() => [])]))
  const regrets = new Map<string, number[]>(rules.map(r => [r, []]))
  let key = 0
  const t0 = performance.now()
  for (const seed of seeds) {
    const anchors = randomAnchors(seed, n, anchorCount)
    const held = heldOutRows(anchors, n)
    // Nested galleries of unseen words (the first `size` of one seeded order).
    const order = sampleIndices(createRng(seed + 1000), held.length, held.length)
    for (const [s, t] of pairs) {
      const pair = pairName(s, t)
      const { xa, ya, xh, yh } = pairRows(byName, s, t, anchors, held)
      let row = results.get(pair)
      if (row === undefined) results.set(pair, row = { single: new Map(), auto: [], autoPick: [], def: [], defPick: [], ms: new Map() })
      const unseen = async (fitted: Awaited<ReturnType<typeof fitTranslator>>): Promise<number[]> => {
        const mapKey = `goals-${key++}`
        const translated = await engine.translate(xh, fitted.map, mapKey)
        await engine.forget(mapKey)
        const out: number[] = []
        for (const size of sizes) {
          const rows = size >= held.length ? Uint32Array.from(held.keys()) : Uint32Array.from(order.subarray(0, size)).sort()
          out.push(await top1Retrieval(takeRows(translated, rows), takeRows(yh, rows), engine))
        }
        return out
      }
      const record = (name: string, ms: number): void => {
        let times = row!.ms.get(name)
        if (times === undefined) row!.ms.set(name, times = [])
        times.push(ms)
      }
      // auto first: its candidates carry the ridge strength each ridge family's own search picks
      // (the same folds and scoring as a named fit's search), so the singles below reuse it.
      const autoFits = new Map<string, Awaited<ReturnType<typeof fitTranslator>>>()
      for (const rule of rules) {
        const started = performance.now()
        autoFits.set(rule, await fitTranslator(xa, ya, { method: 'auto', holdout: 0, folds: 5, seed, galleryRule: rule }, engine))
        if (rule === 'paired') record('auto', performance.now() - started)
      }
      const foldAuto = autoFits.get('paired')!
      const unseenBySingle = new Map<string, number[]>()
      for (const c of singles) {
        const name = `${c.method} ${c.scaling}`
        const searched = foldAuto.diagnostics.candidates?.find(x => x.method === c.method && x.scaling === c.scaling && x.pruned === undefined)?.ridge
        const started = performance.now()
        const fitted = await fitTranslator(xa, ya, { method: c.method, scaling: c.scaling, ridge: searched, holdout: 0, folds: 5, seed }, engine)
        record(name, performance.now() - started)
        const scores = await unseen(fitted)
        unseenBySingle.set(name, scores)
        let list = row.single.get(name)
        if (list === undefined) row.single.set(name, list = [])
        list.push(scores[scores.length - 1])
      }
      for (const rule of rules) {
        const auto = autoFits.get(rule)!
        const score = (await unseen(auto))[sizes.length - 1]
        const candidates = auto.diagnostics.candidates ?? []
        sizes.forEach((_, g) => rankAgreement.get(rule)![g].push(spearman(candidates.map(c => c.score), candidates.map(c => unseenBySingle.get(`${c.method} ${c.scaling}`)![g]))))
        const bestUnseen = Math.max(...[...unseenBySingle.values()].map(v => v[v.length - 1]))
        regrets.get(rule)!.push(bestUnseen - score)
        if (rule === 'paired') {
          row.auto.push(score)
          row.autoPick.push(`${auto.method} ${auto.scaling}${auto.ridge !== undefined ? ` ${auto.ridge}` : ''}`)
        }
      }
      const started = performance.now()
      const byDefault = await fitTranslator(xa, ya, { holdout: 0, folds: 5, seed }, engine)
      record('default', performance.now() - started)
      row.def.push((await unseen(byDefault))[sizes.length - 1])
      row.defPick.push(`${byDefault.method} ${byDefault.scaling}`)
      const bestNow = [...unseenBySingle].reduce((a, b) => b[1][b[1].length - 1] > a[1][a[1].length - 1] ? b : a)
      // One line per seed and pair as it finishes, so a partial run is readable.
      console.log(`  seed ${seed} ${`${s} -> ${t}`.padEnd(18)} best ${bestNow[0]} ${bestNow[1][bestNow[1].length - 1].toFixed(4)}, auto ${row.auto[row.auto.length - 1].toFixed(4)} (${row.autoPick[row.autoPick.length - 1]}), ` +
        `default ${row.def[row.def.length - 1].toFixed(4)} (${row.defPick[row.defPick.length - 1]}); auto ${(row.ms.get('auto')!.at(-1)! / 1000).toFixed(1)} s, default ${(row.ms.get('default')!.at(-1)! / 1000).toFixed(1)} s (${((performance.now() - t0) / 1000).toFixed(0)} s so far)`)
    }
  }
  const mean = (v: number[]): number => v.reduce((a, b) => a + b, 0) / v.length
  const col = 14
  console.log(`\n  ${'pair'.padEnd(18)}${'best single'.padEnd(26)}${'best'.padEnd(8)}${'auto'.padEnd(8)}${'auto−best'.padEnd(11)}${'default'.padEnd(9)}${'def−best'.padEnd(10)}${'auto ms'.padEnd(9)}${'default ms'.padEnd(12)}procrustes l2 ms`)
  let autoMet = true
  let defaultMet = true
  for (const [s, t] of pairs) {
    const row = results.get(pairName(s, t))!
    const best = [...row.single].map(([name, v]) => ({ name, score: mean(v) })).reduce((a, b) => b.score > a.score ? b : a)
    const auto = mean(row.auto)
    const def = mean(row.def)
    autoMet &&= auto >= best.score - 0.005
    defaultMet &&= def >= best.score - 0.01
    console.log(`  ${`${s} -> ${t}`.padEnd(18)}${best.name.padEnd(26)}${best.score.toFixed(4).padEnd(8)}${auto.toFixed(4).padEnd(8)}${(auto - best.score).toFixed(4).padEnd(11)}${def.toFixed(4).padEnd(9)}${(def - best.score).toFixed(4).padEnd(10)}` +
      `${mean(row.ms.get('auto')!).toFixed(0).padEnd(9)}${mean(row.ms.get('default')!).toFixed(0).padEnd(12)}${mean(row.ms.get('procrustes l2')!).toFixed(0)}`)
  }
  console.log(`\n  goals: auto within 0.005 of the best single on every pair: ${autoMet ? 'met' : 'NOT met'}; default within 0.01: ${defaultMet ? 'met' : 'NOT met'}`)
  console.log('  choices per seed:')
  for (const [s, t] of pairs) {
    const row = results.get(pairName(s, t))!
    console.log(`    ${`${s} -> ${t}`.padEnd(18)}auto: ${row.autoPick.join(' | ')}; default: ${row.defPick.join(' | ')}`)
  }
  console.log(`\n  ${'every single (mean top-1)'.padEnd(26)}${pairs.map(([s, t]) => `${s}->${t}`.padEnd(col + 3)).join('')}fit ms`)
  for (const c of singles) {
    const name = `${c.method} ${c.scaling}`
    console.log(`  ${name.padEnd(26)}${pairs.map(([s, t]) => mean(results.get(pairName(s, t))!.single.get(name)!).toFixed(4).padEnd(col + 3)).join('')}${mean(pairs.flatMap(([s, t]) => results.get(pairName(s, t))!.ms.get(name)!)).toFixed(0)}`)
  }
  console.log('\n  cross-validation gallery: Spearman of the candidates\' cross-validated scores against their unseen top-1, by unseen gallery size; regret = best unseen − the pick\'s')
  for (const rule of rules) {
    const agreement = rankAgreement.get(rule)!.map(v => `${mean(v).toFixed(3)} (min ${Math.min(...v).toFixed(3)})`)
    const r = regrets.get(rule)!
    console.log(`    rule ${rule.padEnd(5)} Spearman ${sizes.map((size, g) => `@${size}: ${agreement[g]}`).join(', ')}; regret mean ${mean(r).toFixed(4)}, max ${Math.max(...r).toFixed(4)}`)
  }
  console.log(`  time: ${((performance.now() - t0) / 1000).toFixed(0)} s in all (the machine is shared: times are this run's, not the machine's best)`)
}

/**
 * cv-gallery: why the cross-validation gallery matters, per candidate. For the first seed and each
 * pair (CV_PAIRS=glove-word2vec,... narrows them), every candidate auto lists, with: its
 * cross-validated raw top-1 under the fold rule (each fold among its own ~180 targets) and the pool
 * rule (among all 1,000 anchors' targets), an estimate extrapolated from the folds to a gallery of
 * all unseen words, and its top-1 on those unseen words. The estimate: in each fold, every query's
 * cosines with the other fold targets are standardised by their mean and std; the own target's
 * standardised cosine z_i is compared with the pooled standardised distractors of the fold, whose
 * share at or above z_i is q_i; the query would be retrieved among G − 1 unseen distractors with
 * probability (1 − q_i)^(G−1). Not used by the service (yet): a measurement of the rules.
 */
async function cvGallerySection (ctx: QualityContext): Promise<void> {
  const { words, engine } = ctx
  const seed = ctx.seeds[0]
  const anchorCount = ctx.anchors ?? 1000
  const n = words.ids.length
  const onlyPairs = process.env.CV_PAIRS?.split(',')
  const anchors = randomAnchors(seed, n, anchorCount)
  const held = heldOutRows(anchors, n)
  const g = held.length
  const folds = 5
  console.log(`\ncv-gallery: seed ${seed}, ${anchorCount} anchors, ${folds} folds; raw top-1 per candidate: fold rule, pool rule, the fold rule extrapolated to ${g.toLocaleString('en-US')} targets, and unseen (among all ${g.toLocaleString('en-US')} unseen words)`)
  const byName = new Map(words.spaces.map(sp => [sp.name, sp.matrix]))
  for (const [s, t] of orderedPairs(words)) {
    if (onlyPairs !== undefined && !onlyPairs.includes(`${s}-${t}`)) continue
    const rows = pairRows(byName, s, t, anchors, held)
    const { xa, ya, xh } = rows
    const yh = normalizeRows(rows.yh)
    const auto = await fitTranslator(xa, ya, { method: 'auto', holdout: 0, folds, seed }, engine)
    const pool = await fitTranslator(xa, ya, { method: 'auto', holdout: 0, folds, seed, galleryRule: 'pool' }, engine)
    // The service's folds (fit.ts makeFolds on a pool of every anchor row).
    const order = shuffle(createRng(seed), Int32Array.from({ length: anchorCount }, (_, i) => i))
    const parts: number[][] = Array.from({ length: folds }, () => [])
    order.forEach((row, i) => parts[i % folds].push(row))
    const lines: Array<{ name: string, fold: number, pool: number, extrapolated: number, unseen: number }> = []
    for (const c of auto.diagnostics.candidates ?? []) {
      const config = { method: c.method, scaling: c.scaling, ridge: c.ridge, holdout: 0, folds, seed }
      let estimate = 0
      for (const part of parts) {
        const fold = [...part].sort((a, b) => a - b)
        const inFold = new Set(fold)
        const train = Array.from({ length: anchorCount }, (_, i) => i).filter(i => !inFold.has(i))
        const fitted = await fitTranslator(takeRows(xa, train), takeRows(ya, train), config, engine)
        const q = normalizeRows(await applyMap(takeRows(xa, fold), fitted.map, engine))
        const targets = normalizeRows(takeRows(ya, fold))
        const m = fold.length
        const sims = await engine.matmul(q, { rows: targets.cols, cols: m, data: transposeData(targets) })
        const pooled: number[] = []
        const own: number[] = []
        for (let i = 0; i < m; i++) {
          let mean = 0
          let squares = 0
          for (let j = 0; j < m; j++) if (j !== i) { mean += sims.data[i * m + j]; squares += sims.data[i * m + j] ** 2 }
          mean /= m - 1
          const sd = Math.sqrt(Math.max(1e-12, squares / (m - 1) - mean * mean))
          for (let j = 0; j < m; j++) if (j !== i) pooled.push((sims.data[i * m + j] - mean) / sd)
          own.push((sims.data[i * m + i] - mean) / sd)
        }
        pooled.sort((a, b) => a - b)
        for (const z of own) {
          let lo = 0
          let hi = pooled.length
          while (lo < hi) { const mid = (lo + hi) >> 1; if (pooled[mid] < z) lo = mid + 1; else hi = mid }
          estimate += Math.pow(1 - (pooled.length - lo) / pooled.length, g - 1)
        }
      }
      const full = await fitTranslator(xa, ya, config, engine)
      const translated = normalizeRows(await applyMap(xh, full.map, engine))
      const best = await topNeighbours(translated, yh, 1, engine)
      let hits = 0
      for (let i = 0; i < best.length; i++) if (best[i] === i) hits++
      const poolScore = pool.diagnostics.candidates?.find(x => x.method === c.method && x.scaling === c.scaling)?.top1 ?? NaN
      lines.push({ name: `${c.method} ${c.scaling}${c.ridge !== undefined ? ` ${c.ridge}` : ''}`, fold: c.top1, pool: poolScore, extrapolated: estimate / anchorCount, unseen: hits / g })
    }
    const pick = (key: 'fold' | 'pool' | 'extrapolated'): typeof lines[number] => lines.reduce((a, b) => b[key] > a[key] ? b : a)
    const bestUnseen = lines.reduce((a, b) => b.unseen > a.unseen ? b : a)
    console.log(`\n  ${s} -> ${t}`)
    console.log(`    ${'candidate'.padEnd(32)}${'fold'.padEnd(8)}${'pool'.padEnd(8)}${'extrap.'.padEnd(9)}unseen`)
    for (const l of lines) console.log(`    ${l.name.padEnd(32)}${l.fold.toFixed(4).padEnd(8)}${l.pool.toFixed(4).padEnd(8)}${l.extrapolated.toFixed(4).padEnd(9)}${l.unseen.toFixed(4)}`)
    const rank = (key: 'fold' | 'pool' | 'extrapolated'): string => `${spearman(lines.map(l => l[key]), lines.map(l => l.unseen)).toFixed(3)}`
    console.log(`    Spearman with unseen: fold ${rank('fold')}, pool ${rank('pool')}, extrapolated ${rank('extrapolated')}`)
    for (const key of ['fold', 'pool', 'extrapolated'] as const) {
      const p = pick(key)
      console.log(`    ${key.padEnd(13)} picks ${p.name.padEnd(32)} unseen ${p.unseen.toFixed(4)} (best ${bestUnseen.name} ${bestUnseen.unseen.toFixed(4)}, regret ${(bestUnseen.unseen - p.unseen).toFixed(4)})`)
    }
  }
}

function transposeData (m: Matrix): Float32Array {
  const out = new Float32Array(m.rows * m.cols)
  for (let i = 0; i < m.rows; i++) for (let j = 0; j < m.cols; j++) out[j * m.rows + i] = m.data[i * m.cols + j]
  return out
}

// ---------------------------------------------------------------------------------------------
// refine (issue 8): self-learning refinement from unpaired words, and per-vector confidence.
// Self-contained: the protocol lives in bench/lib/refine.ts; this block only loops and prints.

const REFINE_COUNTS = [25, 50, 100, 300, 1000]

/** AUC of `score` separating hits from misses (rank-sum, ties half), 0.5 = no signal. */
function auc (score: Float64Array, hits: Uint8Array): number {
  const order = Array.from(score.keys()).sort((a, b) => score[a] - score[b])
  let rankSum = 0
  let positives = 0
  for (let i = 0; i < order.length;) {
    let j = i
    while (j < order.length && score[order[j]] === score[order[i]]) j++
    const midRank = (i + j + 1) / 2
    for (let m = i; m < j; m++) if (hits[order[m]] === 1) { rankSum += midRank; positives++ }
    i = j
  }
  const negatives = order.length - positives
  if (positives === 0 || negatives === 0) return 0.5
  return (rankSum - positives * (positives + 1) / 2) / (positives * negatives)
}

/** Top-1 within each quarter of the rows by confidence (lowest quarter first). */
function top1ByQuartile (score: Float64Array, hits: Uint8Array): number[] {
  const order = Array.from(score.keys()).sort((a, b) => score[a] - score[b])
  return [0, 1, 2, 3].map(q => {
    const part = order.slice(Math.floor(q * order.length / 4), Math.floor((q + 1) * order.length / 4))
    return part.reduce((sum, i) => sum + hits[i], 0) / Math.max(1, part.length)
  })
}

async function refineSection (ctx: QualityContext): Promise<void> {
  const { words, engine, seeds } = ctx
  const n = words.ids.length
  const counts = process.env.REFINE_COUNTS !== undefined ? process.env.REFINE_COUNTS.split(',').map(Number) : REFINE_COUNTS
  const onlyPairs = process.env.REFINE_PAIRS?.split(',')
  const opts = { iterations: 5, k: 10, holdout: 0.1, scaling: 'l2' as const }
  const pairs: Array<[typeof words.spaces[number], typeof words.spaces[number]]> = []
  for (const s of words.spaces) for (const t of words.spaces) if (s !== t && (onlyPairs === undefined || onlyPairs.includes(`${s.name}-${t.name}`))) pairs.push([s, t])
  console.log(`\nrefine: top-1 of every non-anchor word (${n.toLocaleString('en-US')} − k words, each uploaded to both spaces under per-space ids, i.e. unpaired),`)
  console.log(`  retrieved among all those words' target vectors (cosine, centred); k random parallel anchors; seeds ${seeds.join(',')}; mean ± std over seeds.`)
  console.log(`  plain = procrustes, scaling ${opts.scaling}, holdout ${opts.holdout}; refined = the same plus refine { iterations: ${opts.iterations}, k: ${opts.k} } (CSLS mutual pairs),`)
  console.log('  the map the service would store (it keeps the unrefined one when the criteria say so: "kept" counts refined maps).')
  const col = 17
  console.log(`\n  ${'pair'.padEnd(20)}${'anchors'.padEnd(9)}${'plain'.padEnd(col)}${'refined'.padEnd(col)}${'kept'.padEnd(8)}${'min refined−plain'.padEnd(19)}s/case`)
  const results = new Map<string, { plain: number[], refined: number[] }>()
  let worst = Infinity
  for (const [s, t] of pairs) {
    for (const count of counts) {
      const plain: number[] = []
      const refined: number[] = []
      let kept = 0
      let seconds = 0
      for (const seed of seeds) {
        const run = await runRefineCase(s.matrix, t.matrix, anchorRows(seed, n, count), { ...opts, seed }, engine)
        plain.push(run.plain)
        refined.push(run.refined)
        if (run.report.kept === 'refined') kept++
        seconds += run.seconds
      }
      const gap = Math.min(...refined.map((r, i) => r - plain[i]))
      worst = Math.min(worst, gap)
      results.set(`${s.name}->${t.name}@${count}`, { plain, refined })
      console.log(`  ${`${s.name} -> ${t.name}`.padEnd(20)}${String(count).padEnd(9)}${formatMeanStd(plain).padEnd(col)}${formatMeanStd(refined).padEnd(col)}` +
        `${`${kept}/${seeds.length}`.padEnd(8)}${(gap >= 0 ? '+' : '') + gap.toFixed(4).padEnd(18)}${(seconds / seeds.length).toFixed(1)}`)
    }
  }
  const goal = (key: string, at: number, label: string): void => {
    const r = results.get(key)
    if (r === undefined) return
    const mean = meanStd(r.refined).mean
    console.log(`  goal ${label}: refined ${mean.toFixed(4)} (target ≥ ${at}) ${mean >= at ? 'met' : `missed by ${(at - mean).toFixed(4)}`}; per seed ${r.refined.map(v => v.toFixed(4)).join(', ')}`)
  }
  console.log('')
  goal('glove->word2vec@25', 0.94, 'GloVe -> word2vec, 25 anchors')
  goal('word2vec->use@100', 0.41, 'word2vec -> USE, 100 anchors')
  console.log(`  never worse: the smallest refined − plain over every pair, count and seed is ${worst.toFixed(4)} ${worst >= 0 ? '(never worse)' : '(WORSE somewhere)'}`)

}


/**
 * refine-confidence: does withConfidence's score predict whether a translation retrieves its
 * word? 100 anchors (seed = the first seed), for every pair, the unrefined and the refined map.
 * The confidence model sees the anchors and a random half of the other words (as the set's
 * source and target rows would be); it is scored on the other half, words it never saw.
 */
async function confidenceSection (ctx: QualityContext): Promise<void> {
  const { words, engine } = ctx
  const n = words.ids.length
  const seed = ctx.seeds[0]
  const count = 100
  const onlyPairs = process.env.REFINE_PAIRS?.split(',')
  console.log(`\nrefine-confidence: ${count} anchors, seed ${seed}; the confidence model is built on the anchors plus a random half of the other words,`)
  console.log('  and scored on the other half (held out). AUC = P(a retrieved word scores higher than a missed one; 0.5 = no signal);')
  console.log('  then top-1 within each quarter of the held-out words by confidence, lowest quarter first.')
  console.log(`\n  ${'pair'.padEnd(20)}${'map'.padEnd(10)}${'top-1'.padEnd(8)}${'AUC'.padEnd(8)}top-1 by confidence quartile (Q1 lowest … Q4 highest)`)
  for (const s of words.spaces) {
    for (const t of words.spaces) {
      if (s === t || (onlyPairs !== undefined && !onlyPairs.includes(`${s.name}-${t.name}`))) continue
      const anchors = anchorRows(seed, n, count)
      const run = await runRefineCase(s.matrix, t.matrix, anchors, { iterations: 5, k: 10, holdout: 0.1, scaling: 'l2', seed }, engine)
      // run.queries are the other words in ascending row order; split them in two halves at random.
      const others = otherRows(anchors, n)
      const inSupport = new Uint8Array(others.length)
      for (const i of sampleIndices(createRng(seed + 7), others.length, Math.floor(others.length / 2))) inSupport[i] = 1
      const supportRows = [...anchors, ...others.filter((_, i) => inSupport[i] === 1)]
      const held = Uint32Array.from(others.keys()).filter(i => inSupport[i] === 0)
      for (const variant of ['plain', 'refined'] as const) {
        const map = variant === 'plain' ? run.plainMap : run.refinedMap
        const allHits = variant === 'plain' ? run.plainHits : run.refinedHits
        const model = await buildConfidence(takeRows(s.matrix, supportRows), takeRows(t.matrix, supportRows), map, engine, { seed })
        const score = await confidenceOf(takeRows(run.queries, held), model, engine)
        const hits = Uint8Array.from(held, i => allHits[i])
        const top1 = hits.reduce((a, b) => a + b, 0) / hits.length
        console.log(`  ${`${s.name} -> ${t.name}`.padEnd(20)}${variant.padEnd(10)}${top1.toFixed(3).padEnd(8)}${auc(score, hits).toFixed(3).padEnd(8)}${top1ByQuartile(score, hits).map(v => v.toFixed(3)).join('  ')}`)
      }
    }
  }
}

// ---------------------------------------------------------------------------------------------

export const SECTIONS: Section[] = [
  { name: 'relative', describe: 'relative vectors of two models on shared anchors retrieve the right word (engine vs numpy)', run: relativeSection },
  { name: 'translators', describe: 'every fit method and scaling, and auto, translate held-out words to their own target (service vs numpy)', run: translatorsSection },
  { name: 'goals', describe: 'issue 16: best single method+scaling, auto and the default by raw top-1 on unseen words, with fit times (--gallery: both CV gallery rules)', run: goalsSection },
  { name: 'cv-gallery', describe: 'issue 16: cross-validation gallery rules (fold, pool, extrapolated) against unseen top-1, per candidate', run: cvGallerySection },
  { name: 'refine', describe: 'self-learning refinement from unpaired words: anchor-count sweep with and without', run: refineSection },
  { name: 'refine-confidence', describe: 'per-vector confidence of translations against whether they retrieve their word', run: confidenceSection }
]

function parseArgs (argv: string[]): { sections: Section[], seeds: number[], anchors?: number } {
  let seeds = [0, 1, 2, 3, 4]
  let anchors: number | undefined
  const names: string[] = []
  for (const arg of argv) {
    if (arg.startsWith('--seeds=')) {
      seeds = arg.slice('--seeds='.length).split(',').map(Number)
      if (seeds.length === 0 || !seeds.every(Number.isSafeInteger)) throw new Error(`--seeds takes integers separated by commas, got ${arg}`)
    } else if (arg.startsWith('--anchors=')) {
      anchors = Number(arg.slice('--anchors='.length))
      if (!Number.isInteger(anchors) || anchors < 1) throw new Error(`--anchors takes a positive integer, got ${arg}`)
    } else if (arg === 'all') {
      names.push(...SECTIONS.map(s => s.name))
    } else if (arg.startsWith('--methods=') || arg === '--gallery') {
      // read by the translators and goals sections
    } else if (arg.startsWith('-')) {
      throw new Error(`unknown option ${arg}; options: --seeds=0,1,2,3,4 --anchors=N (default: relative 300, translators 1000)`)
    } else {
      names.push(arg)
    }
  }
  const chosen = names.length === 0 ? SECTIONS : names.map(name => {
    const section = SECTIONS.find(s => s.name === name)
    if (section === undefined) throw new Error(`unknown section "${name}"; sections: ${SECTIONS.map(s => s.name).join(', ')}, all`)
    return section
  })
  return { sections: [...new Set(chosen)], seeds, anchors }
}

async function main (): Promise<void> {
  const { sections, seeds, anchors } = parseArgs(process.argv.slice(2))
  const dir = wordsDir()
  const missing = missingWordFile(dir)
  if (missing !== undefined) {
    console.log(`bench/quality: skipped, the word data set is not here (${missing} is missing). ` +
      'It is read from ../shared/data/words next to the repository, or from $WORDS_DIR.')
    return
  }
  const words = loadWords(dir)
  if (anchors !== undefined && anchors >= words.ids.length) throw new Error(`--anchors=${anchors} leaves no held-out word among ${words.ids.length}`)
  console.log(`bench/quality: ${words.ids.length.toLocaleString('en-US')} words from ${dir}: ${words.spaces.map(s => s.label).join(', ')}`)
  const engine = await createEngine(defaultEngineConfig())
  try {
    for (const section of sections) await section.run({ words, engine, seeds, anchors })
  } finally {
    await engine.close()
  }
}

await main()
