import t, { type Test } from 'tap'
import type { FastifyInstance } from 'fastify'
import { toEstimate } from '../../src/budget/cost.js'
import { fitPlan } from '../../src/budget/work.js'
import { isProblem, json, testApp } from '../helpers/app.js'
import { values } from '../helpers/data.js'

/*
 * Budgets through the real app: work whose estimate exceeds WORK_MEMORY_BYTES or WORK_TIME_MS is
 * refused before it starts (422 over-budget), work that fits runs, and the process-wide pool of
 * working memory refuses (503 busy) what would not fit beside the work already holding it.
 */

async function put (t: Test, app: FastifyInstance, url: string, payload: object | Buffer): Promise<void> {
  const binary = Buffer.isBuffer(payload)
  const res = await app.inject({ method: 'PUT', url, payload, ...(binary ? { headers: { 'content-type': 'application/octet-stream' } } : {}) })
  t.ok(res.statusCode < 300, `PUT ${url}: ${res.statusCode} ${res.statusCode >= 300 ? res.body : ''}`)
}

const bytes = (a: Float32Array): Buffer => Buffer.from(a.buffer, a.byteOffset, a.byteLength)

/** Two spaces of `dim` dims sharing `rows` anchors of set "set". */
async function spaces (t: Test, app: FastifyInstance, rows: number, dx: number, dy: number): Promise<void> {
  await put(t, app, '/v1/spaces/a', { dim: dx })
  await put(t, app, '/v1/spaces/b', { dim: dy })
  await put(t, app, '/v1/anchor-sets/set', { ids: Array.from({ length: rows }, (_, i) => `id-${i}`) })
  await put(t, app, '/v1/anchor-sets/set/embeddings/a', bytes(values(rows * dx, 1)))
  await put(t, app, '/v1/anchor-sets/set/embeddings/b', bytes(values(rows * dy, 2)))
}

const fit = async (app: FastifyInstance, body: object = {}): Promise<{ statusCode: number, body: string, headers: Record<string, unknown> }> =>
  await app.inject({ method: 'POST', url: '/v1/translators', payload: { source: 'a', target: 'b', anchorSet: 'set', ...body } })

const storedTranslators = async (app: FastifyInstance): Promise<number> =>
  json((await app.inject({ method: 'GET', url: '/v1/translators' }))).translators.length

t.test('two 16,384-d spaces and 4 anchors: the fit is refused at once, memory untouched, nothing stored', async t => {
  const app = await testApp(t)
  await spaces(t, app, 4, 16384, 16384)
  for (const method of ['auto', 'procrustes']) {
    const before = process.memoryUsage().rss
    const started = performance.now()
    const res = await fit(app, { method })
    const ms = performance.now() - started
    const after = process.memoryUsage().rss
    isProblem(t, res, 'over-budget', method)
    const problem = json(res)
    t.match(problem.detail, /WORK_MEMORY_BYTES=\d+/, 'names the memory budget and its value')
    t.match(problem.detail, /MiB of working memory/, 'gives the estimate')
    t.match(problem.detail, /Send instead: /, 'says what to send instead')
    if (method === 'auto') t.match(problem.detail, /a named "method"/)
    // A bound on memory, not on time: the fit itself would have taken gigabytes.
    t.ok(after - before < 64 * 1024 * 1024, `RSS grew by ${((after - before) / 2 ** 20).toFixed(1)} MiB`)
    t.comment(`${method}: refused in ${ms.toFixed(0)} ms, RSS ${((after - before) / 2 ** 20).toFixed(1)} MiB`)
  }
  t.equal(await storedTranslators(app), 0)
  t.equal(app.workPool.inUse, 0, 'nothing reserved')
})

t.test('a fit just within the memory budget runs; just over it is refused', async t => {
  const shape = { anchors: 300, dx: 96, dy: 80, sourceRows: 300, targetRows: 300 }
  const choice = { method: 'procrustes' as const, holdout: 0, folds: 5 }
  const estimate = toEstimate(fitPlan(shape, choice).cost)
  t.ok(estimate.bytes > 1024 * 1024, `the estimate (${estimate.bytes} bytes) is above WORK_MEMORY_BYTES's minimum`)

  const within = await testApp(t, { env: { WORK_MEMORY_BYTES: String(estimate.bytes) } })
  await spaces(t, within, 300, 96, 80)
  const ok = await fit(within, { method: 'procrustes', holdout: 0 })
  t.equal(ok.statusCode, 201, ok.body)
  t.equal(within.workPool.inUse, 0, 'the reservation is released')

  const over = await testApp(t, { env: { WORK_MEMORY_BYTES: String(estimate.bytes - 1) } })
  await spaces(t, over, 300, 96, 80)
  const refused = await fit(over, { method: 'procrustes', holdout: 0 })
  isProblem(t, refused, 'over-budget')
  t.match(json(refused).detail, `WORK_MEMORY_BYTES=${estimate.bytes - 1}`)
  t.equal(await storedTranslators(over), 0)
})

t.test('a fit over the time budget names WORK_TIME_MS and the options to change', async t => {
  const app = await testApp(t, { env: { WORK_TIME_MS: '1' } })
  await spaces(t, app, 200, 48, 40)
  const res = await fit(app, { method: 'ridge', scaling: 'center' })
  isProblem(t, res, 'over-budget')
  t.match(json(res).detail, /WORK_TIME_MS=1 \(1 ms\)/)
  t.match(json(res).detail, /a "ridge" value instead of the 5-value ridge search/)
  t.equal(await storedTranslators(app), 0)
})

t.test('while other work holds the memory pool, a fit is answered 503 busy at once; then it runs', async t => {
  const app = await testApp(t)
  await spaces(t, app, 200, 48, 40)
  // Another request's reservation, taken from the app's own pool.
  const release = app.workPool.tryAcquire(app.workPool.capacity)
  t.ok(release !== undefined)
  const busy = await fit(app, { method: 'procrustes' })
  isProblem(t, busy, 'busy')
  t.equal(busy.headers['retry-after'], '5')
  release?.()
  const ok = await fit(app, { method: 'procrustes' })
  t.equal(ok.statusCode, 201, ok.body)
})

t.test('a translator over MAX_TRANSLATOR_BYTES is refused and names the variable', async t => {
  const app = await testApp(t, { env: { MAX_TRANSLATOR_BYTES: '4096' } })
  await spaces(t, app, 200, 48, 40)
  const res = await fit(app, { method: 'procrustes' })
  isProblem(t, res, 'over-budget')
  t.match(json(res).detail, /MAX_TRANSLATOR_BYTES=4096/)
  t.equal(await storedTranslators(app), 0)
  t.equal(app.workPool.inUse, 0)
})

t.test('similarity, select and evaluate are budgeted too', async t => {
  const app = await testApp(t, { env: { WORK_TIME_MS: '1' } })
  await spaces(t, app, 200, 48, 40)
  const similarity = await app.inject({ method: 'POST', url: '/v1/similarity', payload: { spaces: ['a', 'b'], anchorSet: 'set', k: 10 } })
  isProblem(t, similarity, 'over-budget', similarity.body)
  const select = await app.inject({ method: 'POST', url: '/v1/anchor-sets/set/select', payload: { space: 'a', k: 100, strategy: 'kmeans', seed: 1 } })
  isProblem(t, select, 'over-budget', select.body)
  t.match(json(select).detail, /"strategy": "random"/)
  // random costs nothing: within any budget.
  const random = await app.inject({ method: 'POST', url: '/v1/anchor-sets/set/select', payload: { space: 'a', k: 10, strategy: 'random', seed: 1 } })
  t.equal(random.statusCode, 200, random.body)
})
