/**
 * Zero-anchor alignment on the word data set (issue 19's goal table): per seed, two pools of
 * POOL words per side drawn from the 7,898; in the "half" case they share POOL/2 words (the same
 * items under no common id: the target pool is shuffled), in "disjoint" none; "glove-word2vec-all"
 * puts every word in both pools (the issue's 7,898 × 7,898 case, beyond inductionRows). alignUnsupervised
 * runs once per case and seed (its dictionary does not depend on the direction); the stored map
 * is then fitted both ways on the kept pairs (procrustes, centred) exactly as the service does, and
 * top-1 is measured on the shared words: each translated source word retrieves among the whole
 * target pool by cosine after centring on the pool's mean. "Outside" checks the same map on up to
 * 1,500 words in neither pool (each retrieved among those words' target rows): the only check of a
 * map found on pools that share nothing. VERBOSE=1 traces the objective every 25 iterations.
 * Prints one line per run and the table.
 *
 *   WORDS_DIR=/path/to/words npx tsx bench/unsupervised.ts
 *   SEEDS=0,1,2 CASES=glove-word2vec,disjoint,word2vec-use POOL=3000 RESTARTS=3 npx tsx bench/unsupervised.ts
 *   SEEDS=0 CASES=glove-word2vec-all INDUCTION_ROWS=4000 npx tsx bench/unsupervised.ts
 */
import { normalizeRows, topNeighbours } from '../src/analysis/neighbours.js'
import { createEngine, defaultEngineConfig } from '../src/engine/index.js'
import type { Engine } from '../src/engine/types.js'
import { fitConfig } from '../src/fit/fit.js'
import { alignUnsupervised, judge, UNSUPERVISED_DEFAULTS, type UnsupervisedVerdict } from '../src/fit/unsupervised.js'
import { Ticker } from '../src/math/linalg.js'
import { takeRows, type Matrix } from '../src/math/matrix.js'
import { createRng, shuffle } from '../src/math/random.js'
import { applyMap } from '../src/translators/map.js'
import { loadWords, missingWordFile, wordsDir } from './lib/words.js'

const POOL = Number(process.env.POOL ?? 3000)
const SEEDS = (process.env.SEEDS ?? '0,1,2').split(',').map(Number)
const CASES = (process.env.CASES ?? 'glove-word2vec,disjoint,word2vec-use').split(',')
const RESTARTS = Number(process.env.RESTARTS ?? UNSUPERVISED_DEFAULTS.restarts)
const VERBOSE = process.env.VERBOSE === '1'
const INIT_ROWS = Number(process.env.INIT_ROWS ?? UNSUPERVISED_DEFAULTS.initRows)
const INDUCTION_ROWS = Number(process.env.INDUCTION_ROWS ?? UNSUPERVISED_DEFAULTS.inductionRows)
const PATIENCE = Number(process.env.PATIENCE ?? UNSUPERVISED_DEFAULTS.patience)
const MAX_ITERATIONS = Number(process.env.MAX_ITERATIONS ?? UNSUPERVISED_DEFAULTS.maxIterations)

interface Pools {
  x: Matrix
  z: Matrix
  /** Shared words: row in x, row in z. */
  sharedX: Int32Array
  sharedZ: Int32Array
  /** Up to OUTSIDE words in neither pool: their rows in each space, for a check that needs no shared word. */
  outsideX: Matrix
  outsideZ: Matrix
}

/** Words outside both pools that translate the map's check on any pools (disjoint ones included). */
const OUTSIDE = 1500

/** Pools of `pool` rows; `shared` words common to both, the target pool shuffled. */
function pools (a: Matrix, b: Matrix, words: number, pool: number, shared: number, seed: number): Pools {
  const order = shuffle(createRng(seed), Int32Array.from({ length: words }, (_, i) => i))
  const common = order.subarray(0, shared)
  const onlyX = order.subarray(shared, pool)
  const onlyZ = order.subarray(pool, 2 * pool - shared)
  const xRows = Int32Array.from([...common, ...onlyX])
  const zRows = shuffle(createRng(seed + 1000), Int32Array.from([...common, ...onlyZ]))
  const where = new Map<number, number>()
  zRows.forEach((w, j) => where.set(w, j))
  const outside = order.subarray(2 * pool - shared, Math.min(words, 2 * pool - shared + OUTSIDE))
  return {
    outsideX: takeRows(a, outside),
    outsideZ: takeRows(b, outside),
    x: takeRows(a, xRows),
    z: takeRows(b, zRows),
    sharedX: Int32Array.from({ length: shared }, (_, i) => i),
    sharedZ: Int32Array.from(common, w => where.get(w) as number)
  }
}

/**
 * Top-1 of the map fitted on `pairs` (rows of x and z): source rows `sharedX` translated, retrieved
 * among the whole target pool; or, with `outside`, its source rows retrieved among its target rows.
 */
async function top1 (engine: Engine, x: Matrix, z: Matrix, pairs: { source: Int32Array, target: Int32Array }, sharedX: Int32Array, sharedZ: Int32Array, outside?: { x: Matrix, z: Matrix }): Promise<number> {
  if (outside !== undefined) {
    if (outside.x.rows === 0) return NaN
    const all = Int32Array.from({ length: outside.x.rows }, (_, i) => i)
    const { map } = await fitConfig(engine, takeRows(x, pairs.source), takeRows(z, pairs.target), undefined, { method: 'procrustes', scaling: 'center', ridge: 0 }, false, new Ticker())
    return await retrieval(engine, outside.x, outside.z, map, all, all)
  }
  if (sharedX.length === 0) return NaN
  const { map } = await fitConfig(engine, takeRows(x, pairs.source), takeRows(z, pairs.target), undefined, { method: 'procrustes', scaling: 'center', ridge: 0 }, false, new Ticker())
  return await retrieval(engine, x, z, map, sharedX, sharedZ)
}

async function retrieval (engine: Engine, x: Matrix, z: Matrix, map: Awaited<ReturnType<typeof fitConfig>>['map'], sharedX: Int32Array, sharedZ: Int32Array): Promise<number> {
  const translated = await applyMap(takeRows(x, sharedX), map, engine)
  const mean = new Float64Array(z.cols)
  for (let i = 0; i < z.rows; i++) for (let j = 0; j < z.cols; j++) mean[j] += z.data[i * z.cols + j] / z.rows
  const centred = (m: Matrix): Matrix => normalizeRows({ rows: m.rows, cols: m.cols, data: m.data.map((v, i) => v - mean[i % m.cols]) })
  const nearest = await topNeighbours(centred(translated), centred(z), 1, engine)
  let hits = 0
  for (let i = 0; i < sharedX.length; i++) if (nearest[i] === sharedZ[i]) hits++
  return hits / sharedX.length
}

function swapPairs (p: { source: Int32Array, target: Int32Array }): { source: Int32Array, target: Int32Array } {
  return { source: p.target, target: p.source }
}

async function main (): Promise<void> {
  const dir = wordsDir()
  const missing = missingWordFile(dir)
  if (missing !== undefined) { console.log(`skipped: ${missing} not found (set WORDS_DIR)`); return }
  const words = loadWords(dir)
  const space = (name: string): Matrix => (words.spaces.find(s => s.name === name) as { matrix: Matrix }).matrix
  const engine = await createEngine(defaultEngineConfig())
  const rows: string[] = []
  try {
    for (const name of CASES) {
      // glove-word2vec-all: every word in both pools (the same items, shuffled), as the issue's
      // 7,898 × 7,898 measurement; its pools hold more rows than inductionRows.
      const all = words.ids.length
      const [a, b, pool, shared] = name === 'glove-word2vec'
        ? ['glove', 'word2vec', POOL, POOL / 2]
        : name === 'glove-word2vec-all' ? ['glove', 'word2vec', all, all] : name === 'disjoint' ? ['glove', 'word2vec', POOL, 0] : ['word2vec', 'use', POOL, POOL / 2]
      for (const seed of SEEDS) {
        const p = pools(space(a), space(b), all, pool, shared, seed)
        const started = performance.now()
        const trace = (step: { restart: number, iteration: number, keep: number, objective: number }): void => {
          if (step.iteration % 25 === 0) console.error(`    ${name} seed ${seed} run ${step.restart} it ${step.iteration} keep ${step.keep.toFixed(2)} objective ${step.objective.toFixed(4)} (${((performance.now() - started) / 1000).toFixed(0)} s)`)
        }
        const result = await alignUnsupervised(p.x, p.z, { ...UNSUPERVISED_DEFAULTS, restarts: RESTARTS, initRows: INIT_ROWS, inductionRows: INDUCTION_ROWS, patience: PATIENCE, maxIterations: MAX_ITERATIONS, seed, ...(VERBOSE ? { trace } : {}) }, engine)
        const forward = await top1(engine, p.x, p.z, result.pairs, p.sharedX, p.sharedZ)
        const backward = await top1(engine, p.z, p.x, swapPairs(result.pairs), p.sharedZ, p.sharedX)
        const outsideForward = await top1(engine, p.x, p.z, result.pairs, p.sharedX, p.sharedZ, { x: p.outsideX, z: p.outsideZ })
        const outsideBackward = await top1(engine, p.z, p.x, swapPairs(result.pairs), p.sharedZ, p.sharedX, { x: p.outsideZ, z: p.outsideX })
        const verdict: UnsupervisedVerdict = judge(result.evidence)
        const s = (performance.now() - started) / 1000
        const truth = new Map<number, number>()
        p.sharedX.forEach((i, n) => truth.set(i, p.sharedZ[n]))
        for (const run of [...verdict.runs, verdict.null]) {
          const pairs = run.restart >= 0 ? result.runPairs[run.restart] : undefined
          let right = 0
          if (pairs !== undefined) for (let i = 0; i < pairs.source.length; i++) if (truth.get(pairs.source[i]) === pairs.target[i]) right++
          const recall = pairs === undefined || truth.size === 0 ? '' : `, shared words paired right ${(right / truth.size).toFixed(3)}`
          console.log(`  ${name} seed ${seed} run ${run.restart} (${run.start}): ${run.iterations} it, converged ${String(run.converged)}, objective ${run.objective.toFixed(3)}, meanCsls ${run.meanCsls.toFixed(3)}, mutual ${(run.mutualRate * 100).toFixed(1)}%, held-out ${(run.heldOut * 100).toFixed(0)}%${recall}, ${(run.ms / 1000).toFixed(0)} s`)
        }
        const line = `| ${name} | ${seed} | ${pool} / ${shared} | ${forward.toFixed(3)} | ${backward.toFixed(3)} | ${Number.isNaN(outsideForward) ? '–' : `${outsideForward.toFixed(3)} / ${outsideBackward.toFixed(3)}`} | ${String(verdict.reliable)} | ${verdict.runs[verdict.best].meanCsls.toFixed(3)} / ${verdict.null.meanCsls.toFixed(3)} | ${(verdict.runs[verdict.best].heldOut * 100).toFixed(0)}% / ${(verdict.null.heldOut * 100).toFixed(0)}% | ${verdict.agreement === null ? '–' : `${(verdict.agreement * 100).toFixed(0)}%`} | ${verdict.runs.length} / ${RESTARTS} | ${s.toFixed(0)} s |`
        console.log(line)
        console.log(`    ${verdict.reasons.join('; ')}`)
        rows.push(line)
      }
    }
  } finally {
    await engine.close()
  }
  console.log(`\npools of ${POOL} per side (every word in glove-word2vec-all), the null + up to ${RESTARTS} restarts each (until one is confirmed), initRows ${INIT_ROWS}, inductionRows ${INDUCTION_ROWS}, patience ${PATIENCE}, maxIterations ${MAX_ITERATIONS}; top-1 on the shared words among the whole target pool; outside: ${OUTSIDE} words in neither pool, each retrieved among the others' target rows\n`)
  console.log(`| case | seed | pool / shared | top-1 a→b | top-1 b→a | outside a→b / b→a | reliable | mean CSLS kept / null | held-out kept / null | agreement | restarts run | time |`)
  console.log('| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |')
  for (const line of rows) console.log(line)
}

await main()
