import t, { type Test } from 'tap'
import type { FastifyInstance } from 'fastify'
import { buildApp } from '../../src/app.js'
import { loadConfig } from '../../src/config.js'
import { createRng, shuffle } from '../../src/math/random.js'
import { isProblem, json, testApp, testEngine } from '../helpers/app.js'
import { redisForTests, redisSkipReason } from '../helpers/redis-server.js'
import { gaussianMatrix, orthogonal } from '../analysis/fixtures/data.js'

const D = 16
const PARALLEL = 10
const UNPAIRED = 300

/**
 * One anchor set: 10 items embedded by both spaces (ids p-i), 300 more embedded by each space
 * under its own ids (a-i in the source, b-i in the target, in another order): the unpaired rows.
 * The target is the source under a random orthogonal map plus noise, so the test knows each
 * unpaired item's true target.
 */
function world (): { x: number[][], y: number[][], ids: string[], sourceIds: string[], targetIds: string[], sourceRows: number[][], targetRows: number[][] } {
  const n = PARALLEL + UNPAIRED
  const x = gaussianMatrix(n, D, 31)
  const q = orthogonal(D, 32)
  const noise = gaussianMatrix(n, D, 33)
  const rows = (m: { data: Float32Array }, i: number): number[] => Array.from(m.data.subarray(i * D, (i + 1) * D))
  const xs: number[][] = []
  const ys: number[][] = []
  for (let i = 0; i < n; i++) {
    xs.push(rows(x, i))
    ys.push(Array.from({ length: D }, (_, j) => {
      let v = 0.05 * noise.data[i * D + j]
      for (let k = 0; k < D; k++) v += x.data[i * D + k] * q[k * D + j]
      return Math.fround(v)
    }))
  }
  const parallelIds = Array.from({ length: PARALLEL }, (_, i) => `p-${i}`)
  const order = Array.from(shuffle(createRng(3), Int32Array.from({ length: UNPAIRED }, (_, i) => i)))
  const sourceIds = [...parallelIds, ...Array.from({ length: UNPAIRED }, (_, i) => `a-${i}`)]
  const targetIds = [...parallelIds, ...order.map(i => `b-${i}`)]
  return {
    x: xs,
    y: ys,
    ids: [...sourceIds, ...targetIds.slice(PARALLEL)],
    sourceIds,
    targetIds,
    sourceRows: xs,
    targetRows: [...ys.slice(0, PARALLEL), ...order.map(i => ys[PARALLEL + i])]
  }
}

async function setUp (t: Test, app: FastifyInstance): Promise<ReturnType<typeof world>> {
  const w = world()
  const ok = async (url: string, payload: object): Promise<void> => {
    const res = await app.inject({ method: 'PUT', url, payload })
    t.ok(res.statusCode < 300, `PUT ${url}: ${res.statusCode} ${res.statusCode >= 300 ? res.body : ''}`)
  }
  await ok('/v1/spaces/src', { dim: D })
  await ok('/v1/spaces/tgt', { dim: D })
  await ok('/v1/anchor-sets/words', { ids: w.ids })
  await ok('/v1/anchor-sets/words/embeddings/src', { ids: w.sourceIds, vectors: w.sourceRows })
  await ok('/v1/anchor-sets/words/embeddings/tgt', { ids: w.targetIds, vectors: w.targetRows })
  return w
}

const fit = async (app: FastifyInstance, body: object): Promise<any> => {
  const res = await app.inject({ method: 'POST', url: '/v1/translators', payload: { source: 'src', target: 'tgt', anchorSet: 'words', method: 'procrustes', scaling: 'center', holdout: 0.2, ...body } })
  if (res.statusCode !== 201) throw new Error(`fit failed: ${res.statusCode} ${res.body}`)
  return json(res)
}

function flows (t: Test, makeApp: (t: Test) => Promise<FastifyInstance>): void {
  t.test('refine: fitted, reported, stored, and better on the unpaired items than the plain fit', async t => {
    const app = await makeApp(t)
    const w = await setUp(t, app)
    const plain = await fit(app, {})
    t.equal(plain.diagnostics.refinement, undefined, 'no refinement asked, none reported')
    t.equal(plain.anchorsUsed, PARALLEL)
    const refined = await fit(app, { refine: { iterations: 4, k: 10 } })
    t.equal(refined.anchorsUsed, PARALLEL, 'anchorsUsed counts the parallel anchors')
    const report = refined.diagnostics.refinement
    t.match(report, { iterations: 4, k: 10, unpaired: { source: UNPAIRED, target: UNPAIRED }, heldOutCount: 2, gallery: PARALLEL + UNPAIRED, kept: 'refined' })
    t.ok(report.rounds.length >= 2 && report.rounds[0].round === 0 && report.rounds[0].pairs === 0)
    for (const round of report.rounds) {
      t.type(round.meanCsls, 'number')
      t.type(round.mutualPairs, 'number')
      t.match(round.heldOut, { count: 2 })
    }
    t.ok(report.pairsUsed > 0.9 * UNPAIRED, `pairs used ${report.pairsUsed}`)
    t.match(report.reason, /highest mean CSLS/)
    const stored = json(await app.inject({ method: 'GET', url: `/v1/translators/${refined.id}` }))
    t.same(stored.diagnostics.refinement, report, 'the stored record carries the refinement report')

    // Score both on the unpaired items, whose true targets only the test knows.
    const vectors = w.x.slice(PARALLEL)
    const targetVectors = w.y.slice(PARALLEL)
    const evaluate = async (id: string, extra: object = {}): Promise<any> => {
      const res = await app.inject({ method: 'POST', url: `/v1/translators/${id}/evaluate`, payload: { vectors, targetVectors, ...extra } })
      t.equal(res.statusCode, 200, res.body)
      return json(res)
    }
    const before = await evaluate(plain.id)
    const after = await evaluate(refined.id)
    t.equal(after.retrieval, 'cosine')
    t.equal(after.cslsK, undefined)
    t.ok(after.top1 > 0.99 && before.top1 < 0.8, `top-1 on the unpaired items: plain ${before.top1}, refined ${after.top1}`)
    const csls = await evaluate(refined.id, { retrieval: 'csls' })
    t.match(csls, { retrieval: 'csls', cslsK: 10 })
    t.ok(csls.top1 > 0.99)
    t.equal(csls.meanCosine, after.meanCosine)
    t.match(await evaluate(plain.id, { retrieval: 'csls', cslsK: 3 }), { retrieval: 'csls', cslsK: 3 })
  })

  t.test('withConfidence: one score per row in JSON, a clear 406 for binary responses', async t => {
    const app = await makeApp(t)
    const w = await setUp(t, app)
    await fit(app, { refine: { iterations: 2 } })
    const vectors = w.x.slice(PARALLEL, PARALLEL + 5)
    const res = await app.inject({ method: 'POST', url: '/v1/translate', payload: { source: 'src', target: 'tgt', vectors, withConfidence: true } })
    t.equal(res.statusCode, 200)
    const body = json(res)
    t.equal(body.confidence.length, 5)
    t.ok(body.confidence.every((c: number) => c >= 0 && c <= 1), `scores in [0, 1]: ${body.confidence}`)
    const without = json(await app.inject({ method: 'POST', url: '/v1/translate', payload: { source: 'src', target: 'tgt', vectors } }))
    t.equal(without.confidence, undefined, 'no confidence unless asked')
    t.same(without.vectors, body.vectors, 'asking for confidence does not change the vectors')
    const b64 = json(await app.inject({ method: 'POST', url: '/v1/translate', payload: { source: 'src', target: 'tgt', vectors, withConfidence: true, encodingFormat: 'base64' } }))
    t.same(b64.confidence, body.confidence, 'base64 vectors, same scores')

    const binaryAccept = await app.inject({ method: 'POST', url: '/v1/translate', headers: { accept: 'application/octet-stream' }, payload: { source: 'src', target: 'tgt', vectors, withConfidence: true } })
    isProblem(t, binaryAccept, 'not-acceptable')
    t.equal(binaryAccept.headers['content-type'], 'application/problem+json; charset=utf-8')
    t.match(json(binaryAccept).detail, /JSON.*Accept: application\/json/)
    const raw = Buffer.from(new Float32Array(vectors.flat()).buffer)
    const npyBack = await app.inject({ method: 'POST', url: '/v1/translate?source=src&target=tgt&withConfidence=true', headers: { 'content-type': 'application/octet-stream', accept: 'application/x-npy' }, payload: raw })
    isProblem(t, npyBack, 'not-acceptable')
    const jsonBack = await app.inject({ method: 'POST', url: '/v1/translate?source=src&target=tgt&withConfidence=true', headers: { 'content-type': 'application/octet-stream', accept: 'application/json' }, payload: raw })
    t.equal(jsonBack.statusCode, 200)
    t.same(json(jsonBack).confidence, body.confidence, 'a binary body with a JSON response gets the same scores')
  })

  t.test('refine and evaluate errors name what is wrong and how to fix it', async t => {
    const app = await makeApp(t)
    await setUp(t, app)
    // Only the parallel rows: nothing unpaired to learn from.
    await app.inject({ method: 'PUT', url: '/v1/anchor-sets/few', payload: { ids: ['p-0', 'p-1', 'p-2', 'p-3'] } })
    const four = world().x.slice(0, 4)
    await app.inject({ method: 'PUT', url: '/v1/anchor-sets/few/embeddings/src', payload: { vectors: four } })
    await app.inject({ method: 'PUT', url: '/v1/anchor-sets/few/embeddings/tgt', payload: { vectors: four } })
    const none = await app.inject({ method: 'POST', url: '/v1/translators', payload: { source: 'src', target: 'tgt', anchorSet: 'few', refine: {} } })
    isProblem(t, none, 'unprocessable')
    t.match(json(none).detail, /"src" holds 0 such ids and "tgt" 0.*or fit without refine/)
    const badRefine = await app.inject({ method: 'POST', url: '/v1/translators', payload: { source: 'src', target: 'tgt', anchorSet: 'words', refine: { iterations: 2, rounds: 3 } } })
    isProblem(t, badRefine, 'invalid-request', 'unknown refine fields are refused')
    const tr = await fit(app, {})
    const rows = world()
    const evaluate = async (extra: object): Promise<any> => await app.inject({ method: 'POST', url: `/v1/translators/${tr.id}/evaluate`, payload: { vectors: rows.x.slice(0, 4), targetVectors: rows.y.slice(0, 4), k: 2, ...extra } })
    const kWithout = await evaluate({ cslsK: 3 })
    isProblem(t, kWithout, 'unprocessable')
    t.match(json(kWithout).detail, /cslsK applies to "retrieval": "csls"/)
    const kBig = await evaluate({ retrieval: 'csls', cslsK: 5 })
    isProblem(t, kBig, 'unprocessable')
    t.match(json(kBig).detail, /cslsK 5 is more than the 4 rows/)
  })
}

t.test('on the memory store', async t => {
  flows(t, async t => await testApp(t))
})

t.test('on Redis', { skip: redisSkipReason() }, async t => {
  const redis = await redisForTests(t)
  const engine = await testEngine(t)
  const appOn = async (t: Test, prefix: string): Promise<FastifyInstance> => {
    const app = await buildApp(loadConfig({ REDIS_URL: redis.url, REDIS_KEY_PREFIX: prefix }), { engine, logger: false })
    await app.ready()
    t.teardown(async () => { await app.close() })
    return app
  }
  flows(t, async t => {
    const prefix = redis.newPrefix()
    t.teardown(async () => { await redis.deletePrefix(prefix) })
    return await appOn(t, prefix)
  })

  t.test('the refinement report and the confidence model survive the store: another replica reads them', async t => {
    const prefix = redis.newPrefix()
    t.teardown(async () => { await redis.deletePrefix(prefix) })
    const one = await appOn(t, prefix)
    const w = await setUp(t, one)
    const fitted = await fit(one, { refine: { iterations: 2 } })
    const two = await appOn(t, prefix)
    const read = json(await two.inject({ method: 'GET', url: `/v1/translators/${fitted.id}` }))
    t.same(read.diagnostics.refinement, fitted.diagnostics.refinement)
    const payload = { source: 'src', target: 'tgt', vectors: w.x.slice(0, 20), withConfidence: true }
    const a = json(await one.inject({ method: 'POST', url: '/v1/translate', payload }))
    const b = json(await two.inject({ method: 'POST', url: '/v1/translate', payload }))
    t.same(b.confidence, a.confidence, 'the same scores from the stored model')
    t.same(b.vectors, a.vectors)
  })
})
