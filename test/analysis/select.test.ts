import t, { type Test } from 'tap'
import type { Matrix } from '../../src/math/matrix.js'
import { createRng, shuffle } from '../../src/math/random.js'
import { normalizeRows } from '../../src/analysis/neighbours.js'
import { kmeans, selectAnchorIndices, selectAnchors, type AnchorStrategy } from '../../src/analysis/select.js'
import { float64MatMul as mm, fromRows, recording } from './fixtures/matmul.js'
import { gaussian, gaussianMatrix } from './fixtures/data.js'

const STRATEGIES: AnchorStrategy[] = ['fps', 'kmeans', 'random']

const idsFor = (n: number): string[] => Array.from({ length: n }, (_, i) => `item-${i}`)

/**
 * 5 tight clusters around orthogonal directions, at very different lengths (normalisation must
 * make them irrelevant), rows shuffled. Returns the vectors and each row's cluster.
 */
function clusteredData (seed: number, perCluster = 20, d = 8): { vectors: Matrix, cluster: number[] } {
  const rng = createRng(seed)
  const lengths = [1, 10, 0.1, 3, 50]
  const order = shuffle(rng, Array.from({ length: 5 * perCluster }, (_, i) => i))
  const data = new Float32Array(order.length * d)
  const cluster: number[] = []
  order.forEach((source, row) => {
    const c = Math.floor(source / perCluster)
    cluster.push(c)
    for (let j = 0; j < d; j++) {
      const direction = j === c ? 1 : 0
      data[row * d + j] = lengths[c] * (direction + 0.01 * gaussian(rng))
    }
  })
  return { vectors: { rows: order.length, cols: d, data }, cluster }
}

t.test('each strategy returns k distinct ids and is reproducible per seed', async t => {
  const vectors = gaussianMatrix(120, 12, 11)
  const ids = idsFor(120)
  for (const strategy of STRATEGIES) {
    for (const k of [1, 7, 60, 120]) {
      const picked = await selectAnchors(vectors, ids, { k, strategy, seed: 3 }, mm)
      t.equal(picked.length, k, `${strategy} k=${k} length`)
      t.equal(new Set(picked).size, k, `${strategy} k=${k} distinct`)
      t.ok(picked.every(id => ids.includes(id)), `${strategy} k=${k} ids from the input`)
      t.same(await selectAnchors(vectors, ids, { k, strategy, seed: 3 }, mm), picked, `${strategy} k=${k} same seed, same ids`)
    }
    const bySeed = new Set<string>()
    for (let seed = 0; seed < 6; seed++) {
      bySeed.add((await selectAnchors(vectors, ids, { k: 10, strategy, seed }, mm)).join())
    }
    t.ok(bySeed.size >= 5, `${strategy}: different seeds give different selections (${bySeed.size} of 6)`)
  }
})

t.test('fps and kmeans pick one id per well-separated cluster', async t => {
  for (let seed = 0; seed < 10; seed++) {
    const { vectors, cluster } = clusteredData(100 + seed)
    const ids = idsFor(vectors.rows)
    for (const strategy of ['fps', 'kmeans'] as const) {
      const picked = await selectAnchors(vectors, ids, { k: 5, strategy, seed }, mm)
      const clusters = new Set(picked.map(id => cluster[ids.indexOf(id)]))
      t.equal(clusters.size, 5, `${strategy} seed ${seed}: clusters ${[...clusters].join(',')}`)
    }
  }
})

t.test('kmeans anchors are the items nearest their cluster centre', async t => {
  const { vectors, cluster } = clusteredData(7)
  const unit = normalizeRows(vectors)
  const d = vectors.cols
  const picked = await selectAnchorIndices(vectors, { k: 5, strategy: 'kmeans', seed: 1 }, mm)
  for (const item of picked) {
    const c = cluster[item]
    // The centroid of a recovered cluster is the mean of its unit vectors.
    const members = cluster.flatMap((label, i) => label === c ? [i] : [])
    const centre = new Float64Array(d)
    for (const i of members) for (let j = 0; j < d; j++) centre[j] += unit.data[i * d + j] / members.length
    const cosine = (i: number): number => {
      let dot = 0
      for (let j = 0; j < d; j++) dot += unit.data[i * d + j] * centre[j]
      return dot
    }
    const best = members.reduce((a, b) => cosine(b) > cosine(a) ? b : a)
    t.equal(item, best, `cluster ${c}: item ${item} is the nearest to its centroid`)
  }
})

/** Checks every fps pick after the first against a brute-force farthest point (ties: lowest index). */
async function checkFarthestPoints (t: Test, vectors: Matrix, k: number, seed: number): Promise<void> {
  const unit = normalizeRows(vectors)
  const d = vectors.cols
  const distance = (a: number, b: number): number => {
    let sum = 0
    for (let j = 0; j < d; j++) sum += (unit.data[a * d + j] - unit.data[b * d + j]) ** 2
    return sum
  }
  const picked = Array.from(await selectAnchorIndices(vectors, { k, strategy: 'fps', seed }, mm))
  for (let step = 1; step < picked.length; step++) {
    const earlier = picked.slice(0, step)
    const gap = (i: number): number => Math.min(...earlier.map(p => distance(i, p)))
    let best = -1
    for (let i = 0; i < vectors.rows; i++) {
      if (earlier.includes(i)) continue
      if (best === -1 || gap(i) > gap(best)) best = i
    }
    t.equal(picked[step], best, `seed ${seed}, pick ${step} of ${picked.join(',')}`)
  }
}

t.test('each fps pick maximises the distance to the earlier picks', async t => {
  await checkFarthestPoints(t, gaussianMatrix(60, 5, 21), 15, 9)
  // Zero rows stay at the origin: distance 1 to every unit row, 0 to each other. The seeds
  // cover a first pick on a unit row and on a zero row.
  const withZeros = fromRows([[0, 0], [1, 0], [0, 0], [0, 1], [-1, 0], [0, 0]])
  const firstPicks = new Set<number>()
  for (let seed = 0; seed < 12; seed++) {
    await checkFarthestPoints(t, withZeros, 6, seed)
    firstPicks.add((await selectAnchorIndices(withZeros, { k: 1, strategy: 'fps', seed }, mm))[0])
  }
  t.ok([0, 2, 5].some(i => firstPicks.has(i)) && [1, 3, 4].some(i => firstPicks.has(i)), 'both kinds of first pick seen')
})

t.test('random covers the whole range uniformly', async t => {
  const n = 10
  const vectors = gaussianMatrix(n, 3, 1)
  const ids = idsFor(n)
  const counts = new Map<string, number>()
  for (let seed = 0; seed < 2000; seed++) {
    const [id] = await selectAnchors(vectors, ids, { k: 1, strategy: 'random', seed }, mm)
    counts.set(id, (counts.get(id) ?? 0) + 1)
  }
  t.equal(counts.size, n, 'every id is drawn')
  // Expected 200 each, standard deviation about 13.4.
  t.ok([...counts.values()].every(c => c > 140 && c < 260), `counts ${[...counts.values()].join(',')}`)
  const all = await selectAnchors(vectors, ids, { k: n, strategy: 'random', seed: 5 }, mm)
  t.same([...all].sort(), [...ids].sort(), 'k = N is a permutation')
})

t.test('degenerate data still gives k distinct ids', async t => {
  const identical = fromRows(Array.from({ length: 8 }, () => [1, 2, 3]))
  const withZeros = fromRows([[0, 0], [1, 0], [0, 0], [0, 1], [-1, 0], [0, 0]])
  const withNaN = fromRows([[1, 0], [Number.NaN, 1], [0, 1], [-1, 0]])
  for (const strategy of STRATEGIES) {
    for (const [name, vectors] of [['identical rows', identical], ['zero rows', withZeros], ['a NaN row', withNaN]] as const) {
      for (const k of [1, 3, vectors.rows]) {
        const picked = await selectAnchors(vectors, idsFor(vectors.rows), { k, strategy, seed: 2 }, mm)
        t.equal(new Set(picked).size, k, `${strategy}, ${name}, k=${k}`)
      }
    }
  }
})

t.test('k-means converges to a Lloyd fixed point', async t => {
  for (const [seed, k] of [[1, 3], [2, 8], [3, 20]]) {
    const points = normalizeRows(gaussianMatrix(150, 4, seed))
    const { rows, cols: d } = points
    const result = await kmeans(points, k, createRng(seed), 100, mm)
    t.ok(result.converged, `seed ${seed}, k ${k}: converged in ${result.iterations} iterations`)
    const { centroids, assignment } = result
    const distance = (i: number, c: number): number => {
      let sum = 0
      for (let j = 0; j < d; j++) sum += (points.data[i * d + j] - centroids.data[c * d + j]) ** 2
      return sum
    }
    let misassigned = 0
    for (let i = 0; i < rows; i++) {
      let nearest = Infinity
      for (let c = 0; c < k; c++) nearest = Math.min(nearest, distance(i, c))
      // Products come back in float32: allow their rounding, nothing more.
      if (distance(i, assignment[i]) > nearest + 1e-6) misassigned++
    }
    t.equal(misassigned, 0, 'every point sits with its nearest centroid')
    let worstMeanError = 0
    for (let c = 0; c < k; c++) {
      const members = Array.from(assignment.keys()).filter(i => assignment[i] === c)
      t.ok(members.length > 0, `cluster ${c} is not empty`)
      for (let j = 0; j < d; j++) {
        const mean = members.reduce((sum, i) => sum + points.data[i * d + j], 0) / members.length
        worstMeanError = Math.max(worstMeanError, Math.abs(mean - centroids.data[c * d + j]))
      }
    }
    t.ok(worstMeanError < 1e-6, `centroids are their members' means (error ${worstMeanError})`)
  }
  await t.rejects(kmeans(gaussianMatrix(3, 2, 0), 4, createRng(0), 10, mm), RangeError)
})

t.test('kmeans products go through mm in blocks of rows x k', async t => {
  const vectors = gaussianMatrix(80, 6, 4)
  const rec = recording()
  await selectAnchors(vectors, idsFor(80), { k: 4, strategy: 'kmeans', seed: 0 }, rec)
  t.ok(rec.calls.length >= 2, `${rec.calls.length} products`)
  t.ok(rec.calls.slice(0, -1).every(([rows, cols]) => rows === 80 && cols === 4), 'assignments: N x k')
  t.same(rec.calls.at(-1), [4, 80], 'final pick: k x N')
  const capped = recording()
  await selectAnchors(vectors, idsFor(80), { k: 4, strategy: 'kmeans', seed: 0, maxIterations: 1 }, capped)
  t.equal(capped.calls.length, 2, 'maxIterations bounds the Lloyd steps')
})

t.test('invalid requests throw RangeError', async t => {
  const vectors = gaussianMatrix(5, 2, 0)
  const ids = idsFor(5)
  for (const strategy of STRATEGIES) {
    await t.rejects(selectAnchors(vectors, ids, { k: 0, strategy, seed: 1 }, mm), { name: 'RangeError', message: /k must be an integer from 1 to 5/ })
    await t.rejects(selectAnchors(vectors, ids, { k: 6, strategy, seed: 1 }, mm), RangeError, `${strategy} k > N`)
    await t.rejects(selectAnchors(vectors, ids, { k: 1.5, strategy, seed: 1 }, mm), RangeError)
    await t.rejects(selectAnchors(vectors, ids, { k: 2, strategy, seed: 0.5 }, mm), { name: 'RangeError', message: /seed/ })
  }
  await t.rejects(selectAnchors(vectors, ids.slice(1), { k: 2, strategy: 'fps', seed: 1 }, mm), RangeError, 'ids must match rows')
  await t.rejects(selectAnchors(vectors, ids, { k: 2, strategy: 'nope' as AnchorStrategy, seed: 1 }, mm), RangeError)
  await t.rejects(selectAnchors(fromRows([]), [], { k: 1, strategy: 'random', seed: 1 }, mm), RangeError, 'nothing to select from')
  await t.rejects(selectAnchors(vectors, ids, { k: 2, strategy: 'kmeans', seed: 1, maxIterations: 0 }, mm), RangeError)
})

t.test('long selections let the event loop run', async t => {
  // 20,000 x 16 rows and 64 picks: about 2e7 element operations, past one yield interval.
  const vectors = gaussianMatrix(20000, 16, 8)
  const ids = idsFor(vectors.rows)
  for (const strategy of ['fps', 'kmeans'] as const) {
    let ticks = 0
    let running = true
    const tick = (): void => {
      ticks++
      if (running) setImmediate(tick)
    }
    setImmediate(tick)
    const picked = await selectAnchors(vectors, ids, { k: 64, strategy, seed: 1, maxIterations: 2 }, mm)
    running = false
    t.equal(new Set(picked).size, 64)
    t.ok(ticks > 0, `${strategy}: ${ticks} event-loop turns during the selection`)
  }
})
