import t from 'tap'
import fc from 'fast-check'
import type { Matrix } from '../../src/math/matrix.js'
import { knnJaccard, linearCka, retrievalScores } from '../../src/analysis/similarity.js'
import { normalizeRows, topNeighbours } from '../../src/analysis/neighbours.js'
import { float64MatMul as mm, fromRows, readGoldenJson, readGoldenMatrix, recording } from './fixtures/matmul.js'
import { gaussianMatrix, orthogonal, scaledProduct } from './fixtures/data.js'

// Golden CKA values are numpy float64 on the same float32 inputs. Here the centred matrices and
// the Gram entries are rounded to float32 once each (relative 6e-8); the ratio then carries a few
// 1e-7 at most, so 1e-6 is tight enough to catch any formula slip (those move CKA by 1e-2).
const CKA_TOLERANCE = 1e-6

/** Row indices of row i's neighbours, k per row, as arrays. */
function rowsOf (flat: Int32Array, k: number): number[][] {
  const out: number[][] = []
  for (let i = 0; i < flat.length; i += k) out.push(Array.from(flat.subarray(i, i + k)))
  return out
}

function shared (a: number[], b: number[]): number {
  const inA = new Set(a)
  return b.filter(j => inA.has(j)).length
}

t.test('linear CKA matches the golden values', async t => {
  const toy = readGoldenJson<{ x: number[][], z: number[][], cka: number }>('cka-toy.json')
  const toyCka = await linearCka(fromRows(toy.x), fromRows(toy.z), mm)
  t.ok(Math.abs(toyCka - toy.cka) < CKA_TOLERANCE, `toy CKA ${toyCka} vs ${toy.cka}`)
  t.equal(toyCka.toFixed(6), '0.443016', 'the value quoted in docs/methods.md §17')

  const golden = readGoldenJson<{ rows: number, xCols: number, yCols: number, x: string, y: string, cka: number, ckaGram: number }>('cka-random.json')
  const x = readGoldenMatrix(golden.x, golden.rows, golden.xCols)
  const y = readGoldenMatrix(golden.y, golden.rows, golden.yCols)
  const cka = await linearCka(x, y, mm)
  t.ok(Math.abs(cka - golden.cka) < CKA_TOLERANCE, `feature form ${cka} vs numpy ${golden.cka}`)
  t.ok(Math.abs(cka - golden.ckaGram) < CKA_TOLERANCE, `feature form ${cka} vs the N x N Gram form ${golden.ckaGram}`)
})

t.test('linear CKA uses only d x d products', async t => {
  const x = gaussianMatrix(50, 6, 1)
  const y = gaussianMatrix(50, 4, 2)
  const rec = recording()
  await linearCka(x, y, rec)
  t.same(rec.calls.map(c => c.join('x')).sort(), ['4x4', '4x6', '6x6'])
})

t.test('CKA is invariant to orthogonal maps and isotropic scaling', async t => {
  await fc.assert(fc.asyncProperty(
    fc.integer({ min: 0, max: 2 ** 31 }), fc.integer({ min: 3, max: 40 }), fc.integer({ min: 1, max: 12 }),
    async (seed, rows, cols) => {
      const x = gaussianMatrix(rows, cols, seed)
      const rotated = scaledProduct(x, orthogonal(cols, seed + 1), 3.7)
      const cka = await linearCka(x, rotated, mm)
      return Math.abs(cka - 1) < 1e-5
    }
  ), { numRuns: 60 })
  t.pass('CKA(X, 3.7·X·Q) = 1')
})

t.test('CKA is symmetric, within [0, 1] and ignores column offsets', async t => {
  await fc.assert(fc.asyncProperty(
    fc.integer({ min: 0, max: 2 ** 31 }), fc.integer({ min: 2, max: 60 }),
    fc.integer({ min: 1, max: 10 }), fc.integer({ min: 1, max: 10 }),
    async (seed, rows, d1, d2) => {
      const x = gaussianMatrix(rows, d1, seed)
      const y = gaussianMatrix(rows, d2, seed + 1)
      const xy = await linearCka(x, y, mm)
      const yx = await linearCka(y, x, mm)
      const shifted = { ...y, data: y.data.map((v, i) => v + 0.5 * (i % d2)) }
      const xShifted = await linearCka(x, shifted, mm)
      return xy >= 0 && xy <= 1 && Math.abs(xy - yx) < 1e-9 && Math.abs(xy - xShifted) < 1e-5
    }
  ), { numRuns: 60 })
  t.pass('symmetric, bounded, translation invariant')
})

t.test('CKA of a space without variance is 0, not NaN', async t => {
  const x = gaussianMatrix(10, 3, 5)
  const constant = fromRows(Array.from({ length: 10 }, () => [1.5, -2, 7]))
  t.equal(await linearCka(x, constant, mm), 0)
  t.equal(await linearCka(constant, x, mm), 0)
  t.equal(await linearCka(fromRows([[1, 2]]), fromRows([[3]]), mm), 0, 'one row')
  t.ok(Math.abs(await linearCka(x, x, mm) - 1) < 1e-12, 'CKA(X, X) = 1')
  await t.rejects(linearCka(x, gaussianMatrix(9, 3, 5), mm), RangeError)
})

t.test('topNeighbours ranks by dot product, ties to the lower index', async t => {
  const index = fromRows([[0, 1], [1, 0], [1, 0], [2, 0], [-1, 0]])
  const queries = fromRows([[1, 0], [0, 1]])
  t.same(Array.from(await topNeighbours(queries, index, 3, mm)), [3, 1, 2, 0, 1, 2])
  const self = fromRows([[1, 0], [1, 0], [1, 0], [0, 1]])
  t.same(rowsOf(await topNeighbours(self, self, 2, mm, { excludeSelf: true }), 2), [[1, 2], [0, 2], [0, 1], [0, 1]])
  await t.rejects(topNeighbours(self, self, 4, mm, { excludeSelf: true }), RangeError, 'k above N - 1 without self')
  await t.rejects(topNeighbours(self, self, 0, mm), RangeError)
  await t.rejects(topNeighbours(queries, fromRows([[1, 0, 0]]), 1, mm), RangeError)
  await t.rejects(topNeighbours(queries, self, 1, mm, { excludeSelf: true }), RangeError, 'excludeSelf needs queries = index rows')
  await t.rejects(topNeighbours(self, self, 1, mm, { blockRows: 0 }), RangeError)
})

t.test('topNeighbours equals a full stable sort, for any block size', async t => {
  await fc.assert(fc.asyncProperty(
    fc.integer({ min: 0, max: 2 ** 31 }), fc.integer({ min: 2, max: 40 }), fc.integer({ min: 1, max: 45 }),
    fc.integer({ min: 1, max: 50 }), fc.boolean(), fc.boolean(),
    async (seed, n, blockRows, kWanted, excludeSelf, coarse) => {
      let data = gaussianMatrix(n, 3, seed)
      // Coarse values make many exact ties.
      if (coarse) data = { ...data, data: data.data.map(v => Math.round(v)) }
      const k = Math.min(kWanted, excludeSelf ? n - 1 : n)
      const got = rowsOf(await topNeighbours(data, data, k, mm, { excludeSelf, blockRows }), k)
      const sims = (await mm.matmul(data, data, { transposeB: true })).data
      for (let i = 0; i < n; i++) {
        const order = Array.from({ length: n }, (_, j) => j)
          .filter(j => !(excludeSelf && j === i))
          .sort((a, b) => sims[i * n + b] - sims[i * n + a] || a - b)
        if (order.slice(0, k).join() !== got[i].join()) return false
      }
      return true
    }
  ), { numRuns: 150 })
  t.pass('heap selection matches sorting')
})

t.test('kNN Jaccard matches the golden values exactly', async t => {
  const golden = readGoldenJson<{ rows: number, xCols: number, yCols: number, k: number, x: string, y: string, intersections: number[], jaccard: number }>('knn.json')
  const x = readGoldenMatrix(golden.x, golden.rows, golden.xCols)
  const y = readGoldenMatrix(golden.y, golden.rows, golden.yCols)
  const { k } = golden
  const inX = rowsOf(await topNeighbours(normalizeRows(x), normalizeRows(x), k, mm, { excludeSelf: true }), k)
  const inY = rowsOf(await topNeighbours(normalizeRows(y), normalizeRows(y), k, mm, { excludeSelf: true }), k)
  t.same(inX.map((row, i) => shared(row, inY[i])), golden.intersections, 'per-item shared neighbours')
  const jaccard = await knnJaccard(x, y, k, mm)
  t.ok(Math.abs(jaccard - golden.jaccard) < 1e-12, `${jaccard} vs ${golden.jaccard}`)

  const rec = recording()
  t.equal(await knnJaccard(x, y, k, rec, { blockRows: 16 }), jaccard, 'blockwise gives the same result')
  t.ok(rec.calls.every(([rows, cols]) => rows <= 16 && cols === golden.rows), 'similarity blocks are at most 16 x N')
  t.equal(rec.calls.length, 2 * Math.ceil(golden.rows / 16))
})

t.test('kNN Jaccard of a space with itself is 1', async t => {
  await fc.assert(fc.asyncProperty(
    fc.integer({ min: 0, max: 2 ** 31 }), fc.integer({ min: 2, max: 50 }), fc.integer({ min: 1, max: 12 }), fc.integer({ min: 1, max: 20 }),
    async (seed, n, d, kWanted) => {
      const x = gaussianMatrix(n, d, seed)
      return await knnJaccard(x, x, Math.min(kWanted, n - 1), mm) === 1
    }
  ), { numRuns: 60 })
  const x = gaussianMatrix(30, 5, 3)
  await t.rejects(knnJaccard(x, x, 30, mm), RangeError, 'k must leave room for excluding the item itself')
  await t.rejects(knnJaccard(x, gaussianMatrix(29, 5, 3), 3, mm), RangeError)
})

t.test('retrieval scores match the golden values', async t => {
  const golden = readGoldenJson<{
    rows: number, cols: number, k: number, translated: string, target: string, ranks: number[], jaccardIntersections: number[],
    expected: { top1: number, topK: number, mrr: number, jaccard: number, meanCosine: number, mse: number }
  }>('retrieval.json')
  const translated = readGoldenMatrix(golden.translated, golden.rows, golden.cols)
  const target = readGoldenMatrix(golden.target, golden.rows, golden.cols)
  const { k } = golden
  const fromTranslated = rowsOf(await topNeighbours(normalizeRows(translated), normalizeRows(target), k, mm), k)
  const fromTarget = rowsOf(await topNeighbours(normalizeRows(target), normalizeRows(target), k, mm), k)
  t.same(fromTranslated.map((row, i) => row.indexOf(i) + 1), golden.ranks, 'rank of the own target (0 = miss)')
  t.same(fromTranslated.map((row, i) => shared(row, fromTarget[i])), golden.jaccardIntersections)

  const scores = await retrievalScores(translated, target, k, mm)
  for (const key of Object.keys(golden.expected) as Array<keyof typeof golden.expected>) {
    t.ok(Math.abs(scores[key] - golden.expected[key]) < 1e-12, `${key} ${scores[key]} vs ${golden.expected[key]}`)
  }
  t.same(await retrievalScores(translated, target, k, mm, { blockRows: 7 }), scores, 'blockwise gives the same scores')
})

t.test('retrieving a space from itself is perfect', async t => {
  // d ≥ 6: in 2-D two random rows can be so nearly parallel that their float32 cosine ties the
  // row's cosine with itself (both round to 1 − 6e-8); in 6-D that has probability ~1e-17.
  await fc.assert(fc.asyncProperty(
    fc.integer({ min: 0, max: 2 ** 31 }), fc.integer({ min: 1, max: 50 }), fc.integer({ min: 6, max: 12 }), fc.integer({ min: 1, max: 20 }),
    async (seed, n, d, kWanted) => {
      const y = gaussianMatrix(n, d, seed)
      const s = await retrievalScores(y, y, Math.min(kWanted, n), mm)
      return s.top1 === 1 && s.topK === 1 && s.mrr === 1 && s.jaccard === 1 && s.mse === 0 && Math.abs(s.meanCosine - 1) < 1e-12
    }
  ), { numRuns: 60 })
  t.pass('top1 = mrr = jaccard = 1')
})

t.test('retrieval scores: small hand-checked case and errors', async t => {
  // Targets on the axes; translated row 2 is a zero row, whose cosine with everything is 0.
  const target: Matrix = fromRows([[1, 0], [0, 1], [-1, 0]])
  const translated: Matrix = fromRows([[0.1, 1], [0, 2], [0, 0]])
  const s = await retrievalScores(translated, target, 2, mm)
  // Row 0: order [1, 0] → rank 2. Row 1: [1, 0] → rank 1. Row 2 (zero): all 0, order [0, 1] → miss.
  t.equal(s.top1, 1 / 3)
  t.equal(s.topK, 2 / 3)
  t.equal(s.mrr, (1 / 2 + 1) / 3)
  // Target neighbourhoods (self included): 0 → [0, 1], 1 → [1, 0], 2 → [2, 1].
  // Jaccards: {1,0} vs {0,1} = 1; {1,0} vs {1,0} = 1; {0,1} vs {2,1} = 1/3.
  t.ok(Math.abs(s.jaccard - (1 + 1 + 1 / 3) / 3) < 1e-15)
  t.ok(Math.abs(s.meanCosine - (0.1 / Math.hypot(0.1, 1) + 1 + 0) / 3) < 1e-7)
  t.ok(Math.abs(s.mse - ((0.1 - 1) ** 2 + 1 + 0 + 1 + 1 + 0) / 6) < 1e-7)
  await t.rejects(retrievalScores(translated, target, 4, mm), RangeError)
  await t.rejects(retrievalScores(fromRows([[1, 0, 0]]), fromRows([[1, 0]]), 1, mm), RangeError)
})
