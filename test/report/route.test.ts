import t, { type Test } from 'tap'
import type { FastifyInstance } from 'fastify'
import { directionFigures } from '../../src/analysis/report.js'
import { prepareReport } from '../../src/analysis/report-run.js'
import { toEstimate } from '../../src/budget/cost.js'
import type { Matrix } from '../../src/math/matrix.js'
import { isProblem, json, testApp } from '../helpers/app.js'
import { values } from '../helpers/data.js'
import { memoryApp, redisApp, type AppFactory } from '../helpers/stores.js'

/*
 * POST /v1/translators/{id}/report on the real app: its figures are those of the translations
 * and confidences the translate route gives, retrieved among the raw target rows (as evaluate
 * does), in both directions when the reverse pair has an active translator; bad input and
 * over-budget work are refused before anything runs.
 */

const SOURCE_DIM = 8
const TARGET_DIM = 6
const ANCHORS = 120
const HELD_OUT = 40

/** Items as both models embed them: y = x·M + a common offset + noise (seeded). */
function items (count: number, seed: number): { x: number[][], y: number[][] } {
  const xs = values(count * SOURCE_DIM, seed)
  const m = values(SOURCE_DIM * TARGET_DIM, 7)
  const noise = values(count * TARGET_DIM, seed + 1)
  const x: number[][] = []
  const y: number[][] = []
  for (let i = 0; i < count; i++) {
    x.push(Array.from(xs.subarray(i * SOURCE_DIM, (i + 1) * SOURCE_DIM)))
    const row: number[] = []
    for (let j = 0; j < TARGET_DIM; j++) {
      let v = 0.8 + 0.4 * noise[i * TARGET_DIM + j]
      for (let k = 0; k < SOURCE_DIM; k++) v += xs[i * SOURCE_DIM + k] * m[k * TARGET_DIM + j]
      row.push(Math.fround(v))
    }
    y.push(row)
  }
  return { x, y }
}

const heldOut = items(HELD_OUT, 101)
const matrixOf = (rows: number[][]): Matrix => ({ rows: rows.length, cols: rows[0].length, data: Float32Array.from(rows.flat()) })

async function ok (t: Test, app: FastifyInstance, method: 'PUT' | 'POST', url: string, payload: object): Promise<any> {
  const res = await app.inject({ method, url, payload })
  t.ok(res.statusCode < 300, `${method} ${url}: ${res.statusCode} ${res.statusCode >= 300 ? res.body : ''}`)
  return res.body === '' ? null : json(res)
}

/** Spaces src and tgt with ANCHORS parallel anchors, and a fitted translator each way. */
async function setUp (t: Test, app: FastifyInstance): Promise<{ forward: string, reverse: string }> {
  const anchors = items(ANCHORS, 11)
  await ok(t, app, 'PUT', '/v1/spaces/src', { dim: SOURCE_DIM })
  await ok(t, app, 'PUT', '/v1/spaces/tgt', { dim: TARGET_DIM })
  await ok(t, app, 'PUT', '/v1/anchor-sets/pairs', { ids: Array.from({ length: ANCHORS }, (_, i) => `item-${i}`) })
  await ok(t, app, 'PUT', '/v1/anchor-sets/pairs/embeddings/src', { vectors: anchors.x })
  await ok(t, app, 'PUT', '/v1/anchor-sets/pairs/embeddings/tgt', { vectors: anchors.y })
  const forward = await ok(t, app, 'POST', '/v1/translators', { source: 'src', target: 'tgt', anchorSet: 'pairs', method: 'linear', scaling: 'center', holdout: 0 })
  const reverse = await ok(t, app, 'POST', '/v1/translators', { source: 'tgt', target: 'src', anchorSet: 'pairs', method: 'linear', scaling: 'center', holdout: 0 })
  return { forward: forward.id, reverse: reverse.id }
}

const report = async (app: FastifyInstance, id: string, body: object = {}, headers: Record<string, string> = {}): Promise<{ statusCode: number, body: string, headers: Record<string, unknown> }> =>
  await app.inject({ method: 'POST', url: `/v1/translators/${encodeURIComponent(id)}/report`, payload: { vectors: heldOut.x, targetVectors: heldOut.y, ...body }, headers })

/** What the report of one direction must say: the figures of the translate route's output and confidence. */
async function expectedFigures (app: FastifyInstance, source: string, target: string, queries: number[][], native: number[][]): Promise<unknown> {
  const translated = json(await app.inject({ method: 'POST', url: '/v1/translate', payload: { source, target, vectors: queries, withConfidence: true } }))
  return await directionFigures(matrixOf(translated.vectors), matrixOf(native), app.engine, { confidence: translated.confidence })
}

const STORES: Array<[string, AppFactory]> = [['memory store', memoryApp], ['Redis store', redisApp]]

for (const [label, makeApp] of STORES) {
  t.test(`${label}: both directions, as translate and evaluate compute them`, async t => {
    const app = await makeApp(t)
    const ids = await setUp(t, app)
    const res = await report(app, ids.forward)
    t.equal(res.statusCode, 200, res.body)
    t.match(res.headers['content-type'], /^application\/json/)
    t.match(res.headers.vary, /accept/i)
    const body = json(res)
    t.equal(body.count, HELD_OUT)
    t.same(body.reverse.included, true)
    t.same(body.directions.map((d: any) => [d.direction, d.source, d.target, d.translator.id]), [['forward', 'src', 'tgt', ids.forward], ['reverse', 'tgt', 'src', ids.reverse]])
    const [forward, reverse] = body.directions
    const strip = (d: any): unknown => ({ count: d.count, recall: d.recall, retrieval: d.retrieval, mrr: d.mrr, meanCosine: d.meanCosine, coverage: d.coverage })
    t.same(strip(forward), await expectedFigures(app, 'src', 'tgt', heldOut.x, heldOut.y), 'forward: the translate route\'s translations and confidences, among the raw target rows')
    t.same(strip(reverse), await expectedFigures(app, 'tgt', 'src', heldOut.y, heldOut.x), 'reverse: the reverse translator, among the raw source rows')

    // Own-item retrieval is evaluate's top-1 and top-k (both cosine among the given target rows).
    const evaluation = json(await app.inject({ method: 'POST', url: `/v1/translators/${ids.forward}/evaluate`, payload: { vectors: heldOut.x, targetVectors: heldOut.y, k: 5 } }))
    t.equal(forward.retrieval.at1, evaluation.top1, 'retrieval@1 = evaluate top1')
    t.equal(forward.retrieval.at5, evaluation.topK, 'retrieval@5 = evaluate top5')
    for (const d of body.directions) {
      t.ok(d.retrieval.at1 > 0 && d.retrieval.at1 < 1, `${d.direction}: a discriminating case (retrieval@1 ${d.retrieval.at1})`)
      t.ok(d.retrieval.at1 <= d.retrieval.at5 && d.retrieval.at5 <= d.retrieval.at10)
      t.equal(d.coverage.length, 21)
      t.same(d.coverage[0], { threshold: 0, kept: HELD_OUT, coverage: 1, top1: d.retrieval.at1, recallAt10: d.recall.at10 }, 'threshold 0 keeps every item')
      t.ok(d.coverage.every((p: any, i: number) => i === 0 || p.kept <= d.coverage[i - 1].kept), 'coverage falls as the threshold rises')
    }
    t.equal(app.workPool.inUse, 0, 'the reservation is released')
  })

  t.test(`${label}: as an operation (Prefer: respond-async), the same report`, async t => {
    const app = await makeApp(t)
    const ids = await setUp(t, app)
    const sync = json(await report(app, ids.forward))
    const res = await report(app, ids.forward, {}, { prefer: 'respond-async' })
    t.equal(res.statusCode, 202, res.body)
    const op = json(res)
    t.equal(res.headers.location, `/v1/operations/${op.id}`)
    t.equal(op.kind, 'report')
    let done = op
    while (!['succeeded', 'failed', 'cancelled'].includes(done.status)) {
      const polled = await app.inject({ method: 'GET', url: `/v1/operations/${op.id}?wait=30` })
      if (polled.statusCode !== 200) { t.fail(`GET the operation: ${polled.statusCode} ${polled.body}`); return }
      done = json(polled)
    }
    t.equal(done.status, 'succeeded', JSON.stringify(done.error ?? null))
    t.same(done.result, sync, 'the operation\'s result is the report the synchronous call gives')
    t.equal(done.progress.phase, 'report')
    t.equal(done.progress.fraction, 1)
    // The page is never an operation's result: asked for, it is answered at once.
    const page = await report(app, ids.forward, {}, { prefer: 'respond-async', 'idempotency-key': 'page-1', accept: 'text/html' })
    t.equal(page.statusCode, 200)
    t.match(page.headers['content-type'], /^text\/html/)
  })

  t.test(`${label}: the reverse direction, asked for or not`, async t => {
    const app = await makeApp(t)
    const ids = await setUp(t, app)
    const one = json(await report(app, ids.forward, { reverse: false }))
    t.same(one.directions.map((d: any) => d.direction), ['forward'])
    t.same(one.reverse, { included: false, reason: 'not asked for ("reverse": false)' })
    // From the reverse translator's side, the forward one is its reverse.
    const other = json(await report(app, ids.reverse, { vectors: heldOut.y, targetVectors: heldOut.x }))
    t.same(other.directions.map((d: any) => d.translator.id), [ids.reverse, ids.forward])

    t.equal((await app.inject({ method: 'DELETE', url: `/v1/translators/${ids.reverse}` })).statusCode, 204)
    const alone = json(await report(app, ids.forward))
    t.same(alone.directions.map((d: any) => d.direction), ['forward'])
    t.same(alone.reverse.included, false)
    t.match(alone.reverse.reason, /no translator from "tgt" to "src" is active/)
    const required = await report(app, ids.forward, { reverse: true })
    isProblem(t, required, 'not-found')
    t.match(json(required).detail, /POST \/v1\/translators/, 'says how to get one')
  })
}

t.test('Accept: text/html gets the page; JSON otherwise', async t => {
  const app = await testApp(t)
  const ids = await setUp(t, app)
  const page = await report(app, ids.forward, {}, { accept: 'text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8' })
  t.equal(page.statusCode, 200)
  t.match(page.headers['content-type'], /^text\/html; charset=utf-8/)
  t.match(page.headers['content-security-policy'], /default-src 'none'/, 'the page may load nothing')
  t.ok(page.body.startsWith('<!DOCTYPE html>'))
  t.equal((page.body.match(/<svg /g) ?? []).length, 4, 'two charts per direction')
  for (const accept of ['*/*', 'application/json', 'application/json, text/html;q=0.5', 'text/html;q=0, */*', '']) {
    const res = await report(app, ids.forward, {}, accept === '' ? {} : { accept })
    t.match(res.headers['content-type'], /^application\/json/, `Accept "${accept}": JSON`)
  }
})

t.test('bad input is refused before any work, naming what to fix', async t => {
  const app = await testApp(t, { env: { MAX_ROWS_PER_REQUEST: '150' } })
  const ids = await setUp(t, app)
  isProblem(t, await report(app, 'no-such-translator'), 'not-found')
  const wrongCols = await report(app, ids.forward, { vectors: heldOut.y })
  isProblem(t, wrongCols, 'unprocessable', 'source rows of the target dim')
  t.match(json(wrongCols).detail, /space "src" of 8 dimensions/)
  isProblem(t, await report(app, ids.forward, { targetVectors: heldOut.x }), 'unprocessable', 'target rows of the source dim')
  isProblem(t, await report(app, ids.forward, { targetVectors: heldOut.y.slice(0, 39) }), 'unprocessable', 'rows differ')
  const few = await report(app, ids.forward, { vectors: heldOut.x.slice(0, 9), targetVectors: heldOut.y.slice(0, 9) })
  isProblem(t, few, 'unprocessable', 'fewer than 10 items')
  t.match(json(few).detail, /at least 10/)
  isProblem(t, await report(app, ids.forward, { vectors: [...heldOut.x, ...heldOut.x, ...heldOut.x, ...heldOut.x], targetVectors: heldOut.y }), 'unprocessable', 'over MAX_ROWS_PER_REQUEST')
  isProblem(t, await app.inject({ method: 'POST', url: `/v1/translators/${ids.forward}/report`, payload: { vectors: heldOut.x } }), 'invalid-request', 'targetVectors missing')
  isProblem(t, await report(app, ids.forward, { k: 3 }), 'invalid-request', 'an unknown field')
  isProblem(t, await report(app, ids.forward, { reverse: 'yes' }), 'invalid-request', 'reverse not a boolean')
  const rows = heldOut.x.map(r => [...r])
  rows[3][2] = null as unknown as number
  isProblem(t, await report(app, ids.forward, { vectors: rows }), 'invalid-request', 'a null value')
  t.equal(app.workPool.inUse, 0)
})

t.test('over budget: refused at once with the estimate and what to send instead', async t => {
  // Fitting is budgeted too: the translators are fitted on an app with the default budgets, and
  // reported on by one with a 1 ms budget over the same store.
  const roomy = await testApp(t)
  const fitted = await setUp(t, roomy)
  const res = await report(roomy, fitted.forward)
  t.equal(res.statusCode, 200)
  const tight = await testApp(t, { env: { WORK_TIME_MS: '1' }, store: roomy.store })
  const refused = await report(tight, fitted.forward)
  isProblem(t, refused, 'over-budget')
  t.match(json(refused).detail, /this report \(40 rows, 8 → 6 and 6 → 8 dims\)/)
  t.match(json(refused).detail, /"reverse": false/)
  t.equal(tight.workPool.inUse, 0, 'nothing reserved')
})

t.test('prepareReport: the plan from the shapes, progress by steps, cancellation', async t => {
  const app = await testApp(t)
  const ids = await setUp(t, app)
  const deps = { store: app.store, engine: app.engine, translators: app.translators }
  const request = { translator: ids.forward, vectors: matrixOf(heldOut.x), targetVectors: matrixOf(heldOut.y) }
  const prepared = await prepareReport(deps, request)
  t.match(prepared.plan.what, /this report \(40 rows/)
  const estimate = toEstimate(prepared.plan.cost)
  t.ok(estimate.bytes > 0 && estimate.ms > 0)
  const one = await prepareReport(deps, { ...request, reverse: false })
  t.ok(toEstimate(one.plan.cost).ms < estimate.ms, 'one direction is estimated cheaper than two')

  const steps: string[] = []
  const result = await prepared.run(new AbortController().signal, p => steps.push(`${p.phase} ${p.done}/${p.total}`))
  t.same(steps, Array.from({ length: 9 }, (_, i) => `report ${i}/8`), 'four steps per direction, in order')
  t.equal(result.directions.length, 2)

  const controller = new AbortController()
  controller.abort(new Error('client left'))
  await t.rejects(prepared.run(controller.signal), /client left/, 'an aborted signal stops the work')
})
