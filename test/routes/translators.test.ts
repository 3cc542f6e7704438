import * as ort from 'onnxruntime-node'
import t, { type Test } from 'tap'
import type { FastifyInstance } from 'fastify'
import { buildApp } from '../../src/app.js'
import { loadConfig } from '../../src/config.js'
import { isProblem, json, testApp, testEngine } from '../helpers/app.js'
import { redisForTests, redisSkipReason } from '../helpers/redis-server.js'
import { values } from '../helpers/data.js'

type Tap = Test

const SOURCE_DIM = 8
const TARGET_DIM = 6
const ANCHORS = 80


/** Source anchors X, and target anchors Y = X·M + c + small noise, as number[][]. */
function anchorData (): { x: number[][], y: number[][] } {
  const xs = values(ANCHORS * SOURCE_DIM, 11)
  const m = values(SOURCE_DIM * TARGET_DIM, 12)
  const noise = values(ANCHORS * TARGET_DIM, 13)
  const x: number[][] = []
  const y: number[][] = []
  for (let i = 0; i < ANCHORS; i++) {
    x.push(Array.from(xs.subarray(i * SOURCE_DIM, (i + 1) * SOURCE_DIM)))
    const row: number[] = []
    for (let j = 0; j < TARGET_DIM; j++) {
      let v = 0.5 + 0.01 * noise[i * TARGET_DIM + j]
      for (let k = 0; k < SOURCE_DIM; k++) v += xs[i * SOURCE_DIM + k] * m[k * TARGET_DIM + j]
      row.push(Math.fround(v))
    }
    y.push(row)
  }
  return { x, y }
}

async function setUp (t: Tap, app: FastifyInstance): Promise<{ x: number[][], y: number[][] }> {
  const data = anchorData()
  const ids = Array.from({ length: ANCHORS }, (_, i) => `item-${i}`)
  const ok = async (method: 'PUT', url: string, payload: object): Promise<void> => {
    const res = await app.inject({ method, url, payload })
    t.ok(res.statusCode < 300, `${method} ${url}: ${res.statusCode} ${res.statusCode >= 300 ? res.body : ''}`)
  }
  await ok('PUT', '/v1/spaces/src', { dim: SOURCE_DIM })
  await ok('PUT', '/v1/spaces/tgt', { dim: TARGET_DIM })
  await ok('PUT', '/v1/anchor-sets/pairs', { ids })
  await ok('PUT', '/v1/anchor-sets/pairs/embeddings/src', { vectors: data.x })
  await ok('PUT', '/v1/anchor-sets/pairs/embeddings/tgt', { vectors: data.y })
  return data
}

const fit = async (app: FastifyInstance, body: object = {}): Promise<any> => {
  const res = await app.inject({ method: 'POST', url: '/v1/translators', payload: { source: 'src', target: 'tgt', anchorSet: 'pairs', ...body } })
  if (res.statusCode !== 201) throw new Error(`fit failed: ${res.statusCode} ${res.body}`)
  return json(res)
}

const translateJson = async (app: FastifyInstance, vectors: number[][], extra: object = {}): Promise<any> =>
  json(await app.inject({ method: 'POST', url: '/v1/translate', payload: { source: 'src', target: 'tgt', vectors, ...extra } }))

/** The lifecycle, run on whichever store `makeApp` builds its app on. */
function lifecycle (t: Tap, makeApp: (t: Tap) => Promise<FastifyInstance>): void {
  t.test('fit, translate, version, activate, export, evaluate, delete', async t => {
    const app = await makeApp(t)
    const data = await setUp(t, app)

    const first = await fit(app, { scaling: 'center' })
    t.match(first, { source: 'src', target: 'tgt', anchorSet: 'pairs', method: 'procrustes', scaling: 'center', version: 1, active: true, anchorsUsed: ANCHORS, sourceDim: SOURCE_DIM, targetDim: TARGET_DIM })
    t.type(first.diagnostics.rank, 'number')
    t.type(first.diagnostics.fitResidual, 'number')
    t.match(first.diagnostics.heldOut, { count: 8 })
    t.match(first.diagnostics.heldOutBySpace, { raw: first.diagnostics.heldOut, centered: { count: 8 } }, 'held-out scores in both spaces, heldOut the raw one')
    t.equal(first.diagnostics.selection, undefined, 'a named method and scaling cross-validate nothing')

    const probe = data.x.slice(0, 5)
    const out = await translateJson(app, probe)
    t.same(out.translator, { id: first.id, version: 1 })
    t.equal(out.vectors.length, 5)
    t.equal(out.vectors[0].length, TARGET_DIM)

    // Binary in and out gives the same floats as JSON.
    const raw = Buffer.from(new Float32Array(probe.flat()).buffer)
    const bin = await app.inject({ method: 'POST', url: '/v1/translate?source=src&target=tgt', headers: { 'content-type': 'application/octet-stream', accept: 'application/octet-stream' }, payload: raw })
    t.equal(bin.statusCode, 200)
    t.equal(bin.headers['x-shape'], `5,${TARGET_DIM}`)
    t.equal(bin.headers['x-translator-version'], '1')
    const binValues = new Float32Array(bin.rawPayload.buffer.slice(bin.rawPayload.byteOffset, bin.rawPayload.byteOffset + bin.rawPayload.byteLength))
    t.same(Array.from(binValues), out.vectors.flat(), 'binary and JSON answers are the same floats')

    // A second fit is version 2 and not active until activated.
    const second = await fit(app, { method: 'linear', scaling: 'none' })
    t.match(second, { version: 2, active: false, method: 'linear' })
    t.equal((await translateJson(app, probe)).translator.version, 1, 'the active translator is still version 1')
    t.equal((await translateJson(app, probe, { translator: second.id })).translator.version, 2, 'a named translator is used')
    const activated = json(await app.inject({ method: 'POST', url: `/v1/translators/${second.id}/activate` }))
    t.match(activated, { id: second.id, active: true })
    t.equal((await translateJson(app, probe)).translator.version, 2, 'activation takes effect')
    const listed = json(await app.inject({ method: 'GET', url: '/v1/translators?source=src&target=tgt' })).translators
    t.same(listed.map((l: any) => [l.version, l.active]).sort(), [[1, false], [2, true]])
    t.same(json(await app.inject({ method: 'GET', url: '/v1/translators?source=tgt' })).translators, [])

    // The exported ONNX model computes exactly what /v1/translate computes.
    const onnx = await app.inject({ method: 'GET', url: `/v1/translators/${first.id}/onnx` })
    t.equal(onnx.statusCode, 200)
    t.equal(onnx.headers['content-type'], 'application/octet-stream')
    const session = await ort.InferenceSession.create(new Uint8Array(onnx.rawPayload))
    const result = await session.run({ x: new ort.Tensor('float32', new Float32Array(probe.flat()), [5, SOURCE_DIM]) })
    const viaFile = Array.from(result.y.data as Float32Array)
    const viaService = (await translateJson(app, probe, { translator: first.id })).vectors.flat()
    t.same(viaFile, viaService, 'the standalone model gives exactly the service\'s output')
    await session.release()

    // Evaluate on the anchors themselves: the map fits them well.
    const evaluation = await app.inject({ method: 'POST', url: `/v1/translators/${first.id}/evaluate`, payload: { vectors: data.x, targetVectors: data.y, k: 5 } })
    t.equal(evaluation.statusCode, 200)
    const scores = json(evaluation)
    t.equal(scores.count, ANCHORS)
    t.ok(scores.meanCosine > 0.9, `meanCosine ${scores.meanCosine}`)
    for (const key of ['mse', 'top1', 'topK', 'mrr', 'jaccard', 'cka']) t.type(scores[key], 'number', key)
    t.ok(scores.topK >= scores.top1)

    // Deleting the active translator leaves the pair with none.
    t.equal((await app.inject({ method: 'DELETE', url: `/v1/translators/${second.id}` })).statusCode, 204)
    const none = await app.inject({ method: 'POST', url: '/v1/translate', payload: { source: 'src', target: 'tgt', vectors: probe } })
    isProblem(t, none, 'not-found')
    t.match(json(none).detail, /no active translator from "src" to "tgt"/)
    isProblem(t, await app.inject({ method: 'GET', url: `/v1/translators/${second.id}` }), 'not-found')
    const third = await fit(app)
    t.match(third, { version: 3, active: true }, 'versions are never reused; a pair without an active translator takes the next')

    // A space a translator uses cannot be deleted without cascade.
    const blocked = await app.inject({ method: 'DELETE', url: '/v1/spaces/tgt' })
    isProblem(t, blocked, 'conflict')
    t.match(json(blocked).detail, /translator/)
    t.equal((await app.inject({ method: 'DELETE', url: '/v1/spaces/tgt?cascade=true' })).statusCode, 204)
    t.same(json(await app.inject({ method: 'GET', url: '/v1/translators' })).translators, [], 'cascade deleted the translators')
  })

  t.test('fit and translate errors', async t => {
    const app = await makeApp(t)
    const data = await setUp(t, app)
    const post = async (url: string, payload: object): Promise<any> => await app.inject({ method: 'POST', url, payload })
    const missing = await post('/v1/translators', { source: 'src', target: 'nope', anchorSet: 'pairs' })
    isProblem(t, missing, 'not-found')
    isProblem(t, await post('/v1/translators', { source: 'src', target: 'src', anchorSet: 'pairs' }), 'unprocessable')
    const refine = await post('/v1/translators', { source: 'src', target: 'tgt', anchorSet: 'pairs', refine: { iterations: 2, k: 5 } })
    isProblem(t, refine, 'unprocessable', 'every id of the set is parallel: nothing unpaired to refine from')
    t.match(json(refine).detail, /unpaired rows.*"src" holds 0 such ids/)
    await app.inject({ method: 'PUT', url: '/v1/spaces/third', payload: { dim: 3 } })
    await app.inject({ method: 'PUT', url: '/v1/anchor-sets/pairs/embeddings/third', payload: { vectors: [[1, 2, 3]], ids: ['item-0'] } })
    const few = await post('/v1/translators', { source: 'src', target: 'third', anchorSet: 'pairs' })
    isProblem(t, few, 'unprocessable')
    t.match(json(few).detail, /at least 2/)
    const noEmb = await post('/v1/translators', { source: 'src', target: 'tgt', anchorSet: 'other' })
    isProblem(t, noEmb, 'not-found')
    const badMethod = await post('/v1/translators', { source: 'src', target: 'tgt', anchorSet: 'pairs', method: 'magic' })
    isProblem(t, badMethod, 'invalid-request')
    for (const selection of [{ space: 'whitened' }, { metric: 'recall@0' }, { metric: 'recall@101' }, { metric: 'top5' }, { metric: 'top1', extra: 1 }]) {
      isProblem(t, await post('/v1/translators', { source: 'src', target: 'tgt', anchorSet: 'pairs', selection }), 'invalid-request', `selection ${JSON.stringify(selection)}`)
    }

    isProblem(t, await post('/v1/translate', { source: 'src', target: 'tgt', vectors: data.x.slice(0, 1) }), 'not-found', 'no translator yet')
    const translator = await fit(app)
    t.match(translator.diagnostics.selection, { space: 'raw', metric: 'top1', chose: ['method', 'scaling'], folds: 5 }, 'no method, no scaling: chosen by cross-validation, reported')
    const candidates = translator.diagnostics.candidates.map((c: { method: string, scaling: string }) => `${c.method} ${c.scaling}`)
    t.same(candidates, ['procrustes standard', 'procrustes center', 'procrustes l2', 'procrustes none', 'affine l2'], 'the default\'s five candidates')
    t.ok(candidates.includes(`${translator.method as string} ${translator.scaling as string}`), `chose ${translator.method as string} ${translator.scaling as string}`)
    const wrongDim = await post('/v1/translate', { source: 'src', target: 'tgt', vectors: [[1, 2, 3]] })
    isProblem(t, wrongDim, 'unprocessable')
    t.match(json(wrongDim).detail, /dim 8/)
    const mismatch = await post('/v1/translate', { source: 'tgt', target: 'src', vectors: data.y.slice(0, 1), translator: translator.id })
    isProblem(t, mismatch, 'unprocessable')
    const noQuery = await app.inject({ method: 'POST', url: '/v1/translate', headers: { 'content-type': 'application/octet-stream' }, payload: Buffer.alloc(32) })
    isProblem(t, noQuery, 'unprocessable')
    t.match(json(noQuery).detail, /query string/)
    const evalRows = await post(`/v1/translators/${translator.id}/evaluate`, { vectors: data.x.slice(0, 4), targetVectors: data.y.slice(0, 3) })
    isProblem(t, evalRows, 'unprocessable')
    isProblem(t, await app.inject({ method: 'GET', url: '/v1/translators/no-such-id/onnx' }), 'not-found')
  })
}

t.test('on the memory store', async t => {
  lifecycle(t, async t => await testApp(t))
})

t.test('on Redis', { skip: redisSkipReason() }, async t => {
  const redis = await redisForTests(t)
  const engine = await testEngine(t)
  const appOn = async (t: Tap, prefix: string): Promise<FastifyInstance> => {
    const app = await buildApp(loadConfig({ REDIS_URL: redis.url, REDIS_KEY_PREFIX: prefix }), { engine, logger: false })
    await app.ready()
    t.teardown(async () => { await app.close() })
    return app
  }
  lifecycle(t, async t => {
    const prefix = redis.newPrefix()
    t.teardown(async () => { await redis.deletePrefix(prefix) })
    return await appOn(t, prefix)
  })

  t.test('two app instances on one Redis see each other\'s fits, activations and deletes within a second', async t => {
    const prefix = redis.newPrefix()
    t.teardown(async () => { await redis.deletePrefix(prefix) })
    const one = await appOn(t, prefix)
    const two = await appOn(t, prefix)
    const data = await setUp(t, one)
    const probe = data.x.slice(0, 2)
    const within = async (what: string, check: () => Promise<boolean>): Promise<void> => {
      const start = Date.now()
      while (!(await check())) {
        if (Date.now() - start > 1000) { t.fail(`${what} not seen within 1 s`); return }
        await new Promise(resolve => setTimeout(resolve, 20))
      }
      t.pass(`${what} seen after ${Date.now() - start} ms`)
    }
    const first = await fit(one)
    await within('a fit on one replica, by the other', async () => (await translateJson(two, probe)).translator?.id === first.id)
    const second = await fit(two, { method: 'linear' })
    await two.inject({ method: 'POST', url: `/v1/translators/${second.id}/activate` })
    await within('an activation on the other replica', async () => (await translateJson(one, probe)).translator?.version === 2)
    // `two` has the first translator cached; deleting it on `one` must evict it there too.
    t.equal((await translateJson(two, probe, { translator: first.id })).translator.id, first.id)
    t.equal((await one.inject({ method: 'DELETE', url: `/v1/translators/${first.id}` })).statusCode, 204)
    await within('a delete on one replica, by the other\'s cache', async () =>
      (await two.inject({ method: 'POST', url: '/v1/translate', payload: { source: 'src', target: 'tgt', vectors: probe, translator: first.id } })).statusCode === 404)
  })
})

