/**
 * POST /v1/similarity through the real app: linear CKA and kNN Jaccard on the anchors both spaces
 * hold. A rotated (and scaled) copy of a space is the same space to both scores; unrelated random
 * spaces are not; rows are paired by id, whatever order they were uploaded in.
 */
import t from 'tap'
import type { FastifyInstance } from 'fastify'
import { takeRows, type Matrix } from '../../src/math/matrix.js'
import { isProblem, json, testApp } from '../helpers/app.js'
import { randomMatrix, randomOrthogonal, rng, transform } from '../engine/fixtures/reference.js'

const N = 200
const DIM = 16
const ids = Array.from({ length: N }, (_, i) => `item-${i}`)

function rowsOf (m: Matrix): number[][] {
  const out: number[][] = []
  for (let r = 0; r < m.rows; r++) out.push(Array.from(m.data.subarray(r * m.cols, (r + 1) * m.cols)))
  return out
}

async function put (app: FastifyInstance, url: string, payload: unknown): Promise<void> {
  const res = await app.inject({ method: 'PUT', url, payload: payload as Record<string, unknown> })
  if (res.statusCode !== 200 && res.statusCode !== 201) throw new Error(`PUT ${url}: ${res.statusCode} ${res.body}`)
}

async function upload (app: FastifyInstance, space: string, m: Matrix, rowIds: string[] = ids, set = 'sim'): Promise<void> {
  await put(app, `/v1/spaces/${space}`, { dim: m.cols })
  await put(app, `/v1/anchor-sets/${set}/embeddings/${space}`, { vectors: rowsOf(m), ids: rowIds })
}

async function similarity (app: FastifyInstance, body: Record<string, unknown>): Promise<{ statusCode: number, headers: Record<string, unknown>, body: string }> {
  return await app.inject({ method: 'POST', url: '/v1/similarity', payload: { anchorSet: 'sim', ...body } })
}

/** Linear CKA in float64, feature form, as a check on the route's figure. */
function ckaReference (x: Matrix, y: Matrix): number {
  const centred = (m: Matrix): Float64Array => {
    const out = Float64Array.from(m.data)
    for (let j = 0; j < m.cols; j++) {
      let mean = 0
      for (let i = 0; i < m.rows; i++) mean += out[i * m.cols + j]
      mean /= m.rows
      for (let i = 0; i < m.rows; i++) out[i * m.cols + j] -= mean
    }
    return out
  }
  const cross = (a: Float64Array, ca: number, b: Float64Array, cb: number, rows: number): number => {
    let sum = 0
    for (let p = 0; p < ca; p++) {
      for (let q = 0; q < cb; q++) {
        let dot = 0
        for (let i = 0; i < rows; i++) dot += a[i * ca + p] * b[i * cb + q]
        sum += dot * dot
      }
    }
    return sum
  }
  const xc = centred(x)
  const yc = centred(y)
  return cross(yc, y.cols, xc, x.cols, x.rows) / Math.sqrt(cross(xc, x.cols, xc, x.cols, x.rows) * cross(yc, y.cols, yc, y.cols, y.rows))
}

t.test('identical, rotated and unrelated spaces', async t => {
  const app = await testApp(t)
  await put(app, '/v1/anchor-sets/sim', { ids })
  const p = randomMatrix(N, DIM, rng(1))
  const rotated = transform(p, randomOrthogonal(DIM, rng(2)), 3.7, undefined)
  const unrelated = randomMatrix(N, 12, rng(3))
  // Each copy is uploaded in its own shuffled row order: the route must pair rows by id.
  const order = Array.from({ length: N }, (_, i) => (i * 37) % N)
  await upload(app, 'P', p)
  await upload(app, 'same', takeRows(p, order), order.map(i => ids[i]))
  await upload(app, 'rotated', takeRows(rotated, order), order.map(i => ids[i]))
  await upload(app, 'unrelated', unrelated)

  const same = json(await similarity(app, { spaces: ['P', 'same'] }))
  t.equal(same.count, N)
  t.ok(Math.abs(same.cka - 1) <= 1e-6, `identical: cka ${same.cka}`)
  t.equal(same.knnJaccard, 1, 'identical: knnJaccard 1')

  const rot = json(await similarity(app, { spaces: ['P', 'rotated'], k: 5 }))
  t.equal(rot.count, N)
  t.ok(Math.abs(rot.cka - 1) <= 1e-5, `rotated and scaled copy: cka ${rot.cka}`)
  t.equal(rot.knnJaccard, 1, 'rotated and scaled copy: the same neighbours')
  t.same(json(await similarity(app, { spaces: ['rotated', 'P'], k: 5 })), rot, 'symmetric')

  const far = json(await similarity(app, { spaces: ['P', 'unrelated'] }))
  t.equal(far.count, N)
  t.ok(far.cka < 0.5, `unrelated: cka ${far.cka} is clearly below 1`)
  t.ok(far.cka > 0, 'unrelated: cka is still positive (finite-sample bias)')
  t.ok(Math.abs(far.cka - ckaReference(p, unrelated)) <= 1e-5, `unrelated: cka ${far.cka} matches a float64 reference ${ckaReference(p, unrelated)}`)
  t.ok(far.knnJaccard < 0.2, `unrelated: knnJaccard ${far.knnJaccard} is clearly below 1`)
  t.ok(far.knnJaccard >= 0, 'knnJaccard is not negative')

  const k1 = json(await similarity(app, { spaces: ['P', 'unrelated'], k: 1 }))
  const k50 = json(await similarity(app, { spaces: ['P', 'unrelated'], k: 50 }))
  t.equal(k1.cka, far.cka, 'k does not change cka')
  t.ok(k50.knnJaccard > far.knnJaccard, 'a larger k shares more neighbours by chance')
})

t.test('count is the ids both spaces hold; scores are on those rows only', async t => {
  const app = await testApp(t)
  await put(app, '/v1/anchor-sets/sim', { ids })
  const p = randomMatrix(N, DIM, rng(4))
  await upload(app, 'P', p)
  // Q holds 150 of the ids: a rotated copy of P's rows for them.
  const held = Array.from({ length: N }, (_, i) => i).filter(i => i % 4 !== 1)
  const q = transform(takeRows(p, held), randomOrthogonal(DIM, rng(5)), 1, undefined)
  await upload(app, 'Q', q, held.map(i => ids[i]))
  // R holds 120 ids, 90 of them shared with Q.
  const rHeld = Array.from({ length: N }, (_, i) => i).filter(i => i % 5 !== 0)
  await upload(app, 'R', randomMatrix(rHeld.length, 8, rng(6)), rHeld.map(i => ids[i]))
  const both = held.filter(i => rHeld.includes(i)).length

  const pq = json(await similarity(app, { spaces: ['P', 'Q'] }))
  t.equal(pq.count, held.length)
  t.ok(Math.abs(pq.cka - 1) <= 1e-5, `the common rows line up: cka ${pq.cka}`)
  t.equal(pq.knnJaccard, 1)
  const qr = json(await similarity(app, { spaces: ['Q', 'R'] }))
  t.equal(qr.count, both, `count ${qr.count} = ids both hold (${both})`)
  t.ok(qr.cka < 0.5)
})

t.test('errors', async t => {
  const app = await testApp(t)
  await put(app, '/v1/anchor-sets/sim', { ids })
  await upload(app, 'P', randomMatrix(N, DIM, rng(7)))
  await put(app, '/v1/spaces/empty', { dim: DIM })
  await upload(app, 'few', randomMatrix(4, DIM, rng(8)), ['item-0', 'item-1', 'item-2', 'item-3'])
  await upload(app, 'pair', randomMatrix(3, DIM, rng(9)), ['item-2', 'item-3', 'item-150'])

  t.match(isProblem(t, await similarity(app, { spaces: ['P', 'empty'] }), 'not-found', 'no embeddings of a space').detail, /"empty"/)
  t.match(isProblem(t, await similarity(app, { spaces: ['nope', 'P'] }), 'not-found', 'unknown space').detail, /"nope"/)
  isProblem(t, await similarity(app, { spaces: ['P', 'few'], anchorSet: 'none' }), 'not-found', 'unknown anchor set')
  const two = isProblem(t, await similarity(app, { spaces: ['few', 'pair'] }), 'unprocessable', 'two common anchors')
  t.match(two.detail, /2 anchors in common/)
  t.match(two.detail, /at least 3/)

  t.equal((await similarity(app, { spaces: ['P', 'few'], k: 3 })).statusCode, 200, 'k = count - 1 is allowed')
  t.match(isProblem(t, await similarity(app, { spaces: ['P', 'few'], k: 4 }), 'unprocessable', 'k = count').detail, /k 4/)
  isProblem(t, await similarity(app, { spaces: ['P', 'few'], k: 10 }), 'unprocessable', 'k > count (default k 10)')
  isProblem(t, await similarity(app, { spaces: ['P'] }), 'invalid-request', 'one space')
  isProblem(t, await similarity(app, { spaces: ['P', 'few'], k: 0 }), 'invalid-request', 'k 0')
  isProblem(t, await similarity(app, { spaces: ['P', 'few'], k: 2.5 }), 'invalid-request', 'k not an integer')
})
