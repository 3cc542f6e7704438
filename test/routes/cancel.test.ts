import { request } from 'node:http'
import type { AddressInfo } from 'node:net'
import t, { type Test } from 'tap'
import type { FastifyInstance } from 'fastify'
import { isProblem, json, testApp } from '../helpers/app.js'
import { values } from '../helpers/data.js'

/*
 * Cancellation through the real app on a real socket: a fit whose client leaves, and a fit that
 * runs past HANDLER_TIMEOUT_MS (a request with a body, which Fastify's own handler timeout misses),
 * stop and store nothing. Asserted by what happened (the handler stopped on its signal, the
 * reservation was released, the engine has no call in flight, nothing is stored), not by clocks.
 */

const ROWS = 400
const DIM = 64

async function setUp (t: Test, app: FastifyInstance): Promise<string> {
  const put = async (url: string, payload: object | Buffer): Promise<void> => {
    const binary = Buffer.isBuffer(payload)
    const res = await app.inject({ method: 'PUT', url, payload, ...(binary ? { headers: { 'content-type': 'application/octet-stream' } } : {}) })
    t.ok(res.statusCode < 300, `PUT ${url}: ${res.statusCode}`)
  }
  const bytes = (a: Float32Array): Buffer => Buffer.from(a.buffer, a.byteOffset, a.byteLength)
  await put('/v1/spaces/a', { dim: DIM })
  await put('/v1/spaces/b', { dim: DIM })
  await put('/v1/anchor-sets/set', { ids: Array.from({ length: ROWS }, (_, i) => `id-${i}`) })
  await put('/v1/anchor-sets/set/embeddings/a', bytes(values(ROWS * DIM, 1)))
  await put('/v1/anchor-sets/set/embeddings/b', bytes(values(ROWS * DIM, 2)))
  await app.listen({ port: 0, host: '127.0.0.1' })
  return `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`
}

/** An 'auto' fit: 52 configurations × 5 folds, several seconds of work at least. */
const FIT = JSON.stringify({ source: 'a', target: 'b', anchorSet: 'set', method: 'auto' })

async function until (what: string, condition: () => Promise<boolean> | boolean): Promise<void> {
  // Polls an event's visible effect; the test's own timeout bounds the wait.
  while (!(await condition())) await new Promise(resolve => setTimeout(resolve, 5))
}

async function cancelled (app: FastifyInstance, reason: string): Promise<number> {
  return (await app.workCancelled.get()).values.find(v => v.labels.reason === reason)?.value ?? 0
}

async function engineCallsInFlight (app: FastifyInstance): Promise<number> {
  return (await app.metrics.engineInFlight.get()).values.reduce((sum, v) => sum + v.value, 0)
}

const storedTranslators = async (app: FastifyInstance): Promise<number> =>
  json(await app.inject({ method: 'GET', url: '/v1/translators' })).translators.length

t.test('a fit whose client disconnects mid-way stops and stores nothing', async t => {
  const app = await testApp(t, { env: { WORK_TIME_MS: '3600000' } })
  const base = await setUp(t, app)
  const req = request(`${base}/v1/translators`, { method: 'POST', agent: false, headers: { 'content-type': 'application/json' } })
  const answered = new Promise<string>(resolve => {
    req.on('response', res => resolve(`answered ${res.statusCode ?? 0}`))
    req.on('error', err => resolve((err as NodeJS.ErrnoException).code ?? err.message))
  })
  req.end(FIT)
  // The fit has started once it holds its reservation.
  await until('the fit runs', () => app.workPool.inUse > 0)
  req.destroy()
  t.equal(await answered, 'ECONNRESET', 'the client left before any answer')
  await until('the handler stopped on its signal', async () => await cancelled(app, 'client') === 1)
  t.equal(app.workPool.inUse, 0, 'the reservation is released')
  await until('the engine is idle', async () => await engineCallsInFlight(app) === 0)
  t.equal(await storedTranslators(app), 0, 'nothing stored')
})

t.test('a fit over HANDLER_TIMEOUT_MS (a request with a body) answers 503 timeout, stops and stores nothing', async t => {
  const app = await testApp(t, { env: { WORK_TIME_MS: '3600000', HANDLER_TIMEOUT_MS: '300' } })
  const base = await setUp(t, app)
  const res = await fetch(`${base}/v1/translators`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: FIT })
  t.equal(res.status, 503)
  t.equal(res.headers.get('retry-after'), '1')
  const problem = await res.json() as { type: string, detail: string }
  t.equal(problem.type, 'urn:latentbridge:problem:timeout')
  t.match(problem.detail, /longer than the limit of 300 ms \(HANDLER_TIMEOUT_MS\)/)
  await until('the handler stopped on its signal', async () => await cancelled(app, 'timeout') === 1)
  t.equal(app.workPool.inUse, 0, 'the reservation is released')
  await until('the engine is idle', async () => await engineCallsInFlight(app) === 0)
  t.equal(await storedTranslators(app), 0, 'nothing stored')
})

t.test('closing the app aborts the work in flight', async t => {
  const app = await testApp(t, { env: { WORK_TIME_MS: '3600000' } })
  await setUp(t, app)
  const response = app.inject({ method: 'POST', url: '/v1/translators', headers: { 'content-type': 'application/json' }, payload: FIT })
  await until('the fit runs', () => app.workPool.inUse > 0)
  const closing = app.close()
  const res = await response
  await closing
  isProblem(t, res, 'unavailable')
  t.equal(await cancelled(app, 'shutdown'), 1)
})
