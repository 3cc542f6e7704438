/**
 * Quality of what the service computes, on real embeddings of the same words by three models
 * (../shared/data/words; the bench says so and stops when it is absent). Figures, not tests.
 *
 *   npx tsx bench/quality.ts                 every section
 *   npx tsx bench/quality.ts relative        one section (several may be named)
 *   options: --seeds=0,1,2,3,4  --anchors=300
 *
 * Sections:
 *   relative   relative vectors of two models on the same random anchors retrieve the right word
 *              (methods.md §2.4): top-1 by cosine among all held-out words, for every ordered pair
 *              of models, through the service's engine next to a numpy float64 baseline of the
 *              same protocol on the same anchors (bench/numpy_quality.py).
 *
 * A section is one entry of SECTIONS: a name, a one-line description, and run(context). The
 * context holds the words, the engine and the options, so further sections (e.g. translators:
 * fit on the anchors, retrieve the held-out words in the target space) only add an entry.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { normalizeRows, topNeighbours } from '../src/analysis/similarity.js'
import { createEngine, defaultEngineConfig, type Engine } from '../src/engine/index.js'
import { takeRows, type Matrix } from '../src/math/matrix.js'
import { createRng, sampleIndices } from '../src/math/random.js'
import { lastJsonLine, runPython } from './lib/python.js'
import { formatMeanStd, meanStd } from './lib/stats.js'
import { loadWords, missingWordFile, wordsDir, type Words } from './lib/words.js'

export interface QualityContext {
  words: Words
  engine: Engine
  seeds: number[]
  anchors: number
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
  const n = words.ids.length
  const anchorsBySeed = seeds.map(seed => randomAnchors(seed, n, ctx.anchors))
  const heldOut = n - ctx.anchors
  console.log(`\nrelative: top-1 retrieval of the right word among all ${heldOut.toLocaleString('en-US')} held-out words ` +
    `(${ctx.anchors} random anchors, seeds ${seeds.join(',')}; mean ± std over seeds, std with n − 1)`)
  console.log('  engine = createEngine + engine.relative (cosine, float32) and retrieval through the engine\'s products;')
  console.log('  numpy  = the same protocol in float64 on the same anchors (bench/numpy_quality.py, no OpenBLAS overrides)')

  // The numpy baseline runs in its own process, at the same time as the engine's part.
  const dir = mkdtempSync(join(tmpdir(), 'bench-quality-'))
  const specPath = join(dir, 'spec.json')
  writeFileSync(specPath, JSON.stringify({
    dir: words.dir,
    spaces: words.spaces.map(s => ({ name: s.name, file: s.file, dim: s.dim })),
    anchors: anchorsBySeed.map(a => Array.from(a))
  }))
  const script = fileURLToPath(new URL('./numpy_quality.py', import.meta.url))
  const numpyRun = (async () => {
    try {
      return lastJsonLine<NumpyRelative>(await runPython(script, ['relative', specPath]))
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })()
  numpyRun.catch(() => {}) // awaited below; keeps an early failure from being unhandled meanwhile

  const pairs: Array<[string, string]> = []
  for (const s of words.spaces) for (const t of words.spaces) if (s !== t) pairs.push([s.name, t.name])
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
    console.log(`\n  issue 3 quotes about 0.82 to 0.84 for GloVe to word2vec with ${ctx.anchors} random anchors. Engine: ${summary('glove', 'word2vec')}; ${summary('word2vec', 'glove')}.`)
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

export const SECTIONS: Section[] = [
  { name: 'relative', describe: 'relative vectors of two models on shared anchors retrieve the right word (engine vs numpy)', run: relativeSection }
]

function parseArgs (argv: string[]): { sections: Section[], seeds: number[], anchors: number } {
  let seeds = [0, 1, 2, 3, 4]
  let anchors = 300
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
    } else if (arg.startsWith('-')) {
      throw new Error(`unknown option ${arg}; options: --seeds=0,1,2,3,4 --anchors=300`)
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
  if (anchors >= words.ids.length) throw new Error(`--anchors=${anchors} leaves no held-out word among ${words.ids.length}`)
  console.log(`bench/quality: ${words.ids.length.toLocaleString('en-US')} words from ${dir}: ${words.spaces.map(s => s.label).join(', ')}`)
  const engine = await createEngine(defaultEngineConfig())
  try {
    for (const section of sections) await section.run({ words, engine, seeds, anchors })
  } finally {
    await engine.close()
  }
}

await main()
