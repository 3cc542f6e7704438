/**
 * Micro-batching through the real app (issue 5): concurrent translate and relative requests give
 * bit for bit what each gives alone, the engine really runs fewer times than there are requests,
 * a full compute queue answers 429 problem+json with Retry-After at once, and every compute
 * response carries x-queue-time, x-compute-time and x-total-time, also kept as histograms.
 */
import t from 'tap'
import type { FastifyInstance } from 'fastify'
import { buildApp } from '../../src/app.js'
import { loadConfig } from '../../src/config.js'
import type { Engine } from '../../src/engine/types.js'
import { MemoryStore } from '../../src/store/memory.js'
import { isProblem, json, testApp, testEngine } from '../helpers/app.js'
import { rowsOf, values } from '../helpers/data.js'
import { metricSample } from '../helpers/metrics.js'

const SRC = 12
const TGT = 10
const ANCHORS = 60



/** A sample's value, 0 when absent (a counter not yet incremented is not printed). */
const sample = (text: string, name: string, labels: Record<string, string> = {}): number => metricSample(text, name, labels) ?? 0

/** Two spaces, anchors for both (a zero row among them for relative), and a fitted translator. */
async function setUp (app: FastifyInstance): Promise<void> {
  const ids = Array.from({ length: ANCHORS }, (_, i) => `a${i}`)
  const ok = async (method: 'PUT' | 'POST', url: string, payload: object): Promise<void> => {
    const res = await app.inject({ method, url, payload })
    if (res.statusCode >= 300) throw new Error(`${method} ${url}: ${res.statusCode} ${res.body}`)
  }
  await ok('PUT', '/v1/spaces/src', { dim: SRC })
  await ok('PUT', '/v1/spaces/tgt', { dim: TGT })
  await ok('PUT', '/v1/anchor-sets/set', { ids })
  await ok('PUT', '/v1/anchor-sets/set/embeddings/src', { vectors: rowsOf(values(ANCHORS * SRC, 1), SRC) })
  await ok('PUT', '/v1/anchor-sets/set/embeddings/tgt', { vectors: rowsOf(values(ANCHORS * TGT, 2), TGT) })
  await ok('POST', '/v1/translators', { source: 'src', target: 'tgt', anchorSet: 'set', method: 'affine', scaling: 'standard' })
}

const binary = { 'content-type': 'application/octet-stream', accept: 'application/octet-stream' }
const bytes = (data: Float32Array): Buffer => Buffer.from(data.buffer, data.byteOffset, data.byteLength)

/** Request i: 1 to 4 rows, and every 5th row zero (for relative's per-request zeroRows). */
function inputs (count: number): Float32Array[] {
  return Array.from({ length: count }, (_, i) => {
    const x = values((1 + (i % 4)) * SRC, 100 + i)
    if (i % 5 === 0) x.fill(0, 0, SRC)
    return x
  })
}

t.test('concurrent translate and relative requests: bit-exact against one at a time, and coalesced', async t => {
  // A long window and a large row budget, so the concurrent requests below meet in few batches
  // however slowly this machine runs them; the assertions count runs, they time nothing.
  const app = await testApp(t, { env: { BATCH_WINDOW_MS: '200', BATCH_MAX_ROWS: '4096' } })
  await setUp(app)
  const xs = inputs(40)

  const translate = async (x: Float32Array): Promise<{ status: number, body: Buffer, headers: Record<string, unknown> }> => {
    const res = await app.inject({ method: 'POST', url: '/v1/translate?source=src&target=tgt', headers: binary, payload: bytes(x) })
    return { status: res.statusCode, body: res.rawPayload, headers: res.headers }
  }
  const relative = async (x: Float32Array): Promise<{ status: number, body: Buffer, headers: Record<string, unknown> }> => {
    const res = await app.inject({ method: 'POST', url: '/v1/relative?space=src&anchorSet=set&projection=cosine,euclidean&topK=8&normalize=l2', headers: binary, payload: bytes(x) })
    return { status: res.statusCode, body: res.rawPayload, headers: res.headers }
  }

  for (const [name, call, op] of [['translate', translate, 'translate'], ['relative', relative, 'relative']] as const) {
    const alone: Array<Awaited<ReturnType<typeof call>>> = []
    for (const x of xs) alone.push(await call(x))
    const runsBefore = sample((await app.inject({ method: 'GET', url: '/metrics' })).body, 'latentbridge_batch_runs_total', { op })
    const together = await Promise.all(xs.map(call))
    const text = (await app.inject({ method: 'GET', url: '/metrics' })).body
    const runs = sample(text, 'latentbridge_batch_runs_total', { op }) - runsBefore

    t.ok(together.every(r => r.status === 200), `${name}: every concurrent request answered 200`)
    let same = 0
    together.forEach((r, i) => {
      if (r.body.equals(alone[i].body) && r.headers['x-shape'] === alone[i].headers['x-shape'] && r.headers['x-zero-rows'] === alone[i].headers['x-zero-rows']) same++
    })
    t.equal(same, xs.length, `${name}: all ${xs.length} answers bit-identical to the sequential ones (bytes, shape, zero rows)`)
    if (name === 'relative') {
      t.same(together.map(r => r.headers['x-zero-rows']), xs.map((_, i) => i % 5 === 0 ? '1' : '0'), 'zero rows counted per request, not per batch')
    }
    t.ok(runs >= 1 && runs < xs.length / 2, `${name}: ${xs.length} concurrent requests ran in ${runs} engine runs`)
    t.ok(sample(text, 'latentbridge_batch_requests_bucket', { op, le: '1' }) < sample(text, 'latentbridge_batch_requests_count', { op }), `${name}: some runs joined several requests`)
  }
})

t.test('JSON and binary requests for one translator share runs and still get their own answers', async t => {
  const app = await testApp(t, { env: { BATCH_WINDOW_MS: '200' } })
  await setUp(app)
  const xs = inputs(6)
  const alone: number[][][] = []
  for (const x of xs) alone.push(json(await app.inject({ method: 'POST', url: '/v1/translate', payload: { source: 'src', target: 'tgt', vectors: rowsOf(x, SRC) } })).vectors)
  const together = await Promise.all(xs.map(async (x, i) => i % 2 === 0
    ? json(await app.inject({ method: 'POST', url: '/v1/translate', payload: { source: 'src', target: 'tgt', vectors: rowsOf(x, SRC) } })).vectors
    : rowsOf(new Float32Array(new Uint8Array((await app.inject({ method: 'POST', url: '/v1/translate?source=src&target=tgt', headers: binary, payload: bytes(x) })).rawPayload).buffer), TGT)))
  t.same(together, alone)
})

t.test('a full compute queue answers 429 problem+json with Retry-After at once', async t => {
  const real = await testEngine(t)
  let release: () => void = () => {}
  const gate = new Promise<void>(resolve => { release = resolve })
  let entered: () => void = () => {}
  const running = new Promise<void>(resolve => { entered = resolve })
  // The engine holds the first translate until the test lets it go, so its rows keep their permits.
  const engine: Engine = new Proxy(real, {
    get (target, prop) {
      if (prop === 'translate') {
        return async (...args: Parameters<Engine['translate']>) => {
          entered()
          await gate
          return await target.translate(...args)
        }
      }
      const value = Reflect.get(target, prop)
      return typeof value === 'function' ? value.bind(target) : value
    }
  })
  const config = loadConfig({ MAX_EVENT_LOOP_DELAY_MS: '0', MAX_HEAP_USED_BYTES: '0', QUEUE_MAX_ROWS: '6', MAX_ROWS_PER_REQUEST: '6', QUEUE_RETRY_AFTER_S: '3', BATCH_WINDOW_MS: '0' })
  // The data goes in through an app with the default limits (the 60 anchors are over 6 rows).
  const store = new MemoryStore()
  await setUp(await testApp(t, { store }))
  const app = await buildApp(config, { store, engine, logger: false })
  await app.ready()
  t.teardown(async () => { release(); await app.close() })

  const first = app.inject({ method: 'POST', url: '/v1/translate?source=src&target=tgt', headers: binary, payload: bytes(values(4 * SRC, 7)) })
  await running
  const metrics = (await app.inject({ method: 'GET', url: '/metrics' })).body
  t.equal(sample(metrics, 'latentbridge_queue_rows'), 4, '4 rows hold permits')
  t.equal(sample(metrics, 'latentbridge_queue_capacity_rows'), 6)

  // 4 of 6 permits are taken: 3 more rows do not fit, and the answer comes while the engine is still held.
  const refused = await app.inject({ method: 'POST', url: '/v1/translate?source=src&target=tgt', headers: binary, payload: bytes(values(3 * SRC, 8)) })
  isProblem(t, refused, 'queue-full')
  t.equal(refused.headers['retry-after'], '3')
  t.match(refused.headers['content-type'], /^application\/problem\+json/)
  t.match(json(refused), { status: 429, type: 'urn:latentbridge:problem:queue-full', detail: /compute queue is full: 4 of its 6 rows \(QUEUE_MAX_ROWS\) are in flight and this request needs 3\. Retry after 3 s/ })
  t.ok(refused.headers['x-total-time'] !== undefined, 'a 429 carries the timing headers too')
  const refusedRelative = await app.inject({ method: 'POST', url: '/v1/relative', payload: { space: 'src', anchorSet: 'set', vectors: rowsOf(values(3 * SRC, 9), SRC) } })
  isProblem(t, refusedRelative, 'queue-full', 'relative shares the same queue')
  t.equal(sample((await app.inject({ method: 'GET', url: '/metrics' })).body, 'latentbridge_queue_rejections_total'), 2)

  // 2 rows still fit beside the held 4 (the held run has closed its batch, so they start a new one).
  const fits = app.inject({ method: 'POST', url: '/v1/translate?source=src&target=tgt', headers: binary, payload: bytes(values(2 * SRC, 10)) })
  release()
  t.equal((await first).statusCode, 200)
  t.equal((await fits).statusCode, 200)
  t.equal(sample((await app.inject({ method: 'GET', url: '/metrics' })).body, 'latentbridge_queue_rows'), 0, 'every permit is back')
  const after = await app.inject({ method: 'POST', url: '/v1/translate?source=src&target=tgt', headers: binary, payload: bytes(values(3 * SRC, 8)) })
  t.equal(after.statusCode, 200, 'served again once permits are free')
})

t.test('QUEUE_MAX_ROWS below MAX_ROWS_PER_REQUEST is a configuration error', async t => {
  t.throws(() => loadConfig({ QUEUE_MAX_ROWS: '10', MAX_ROWS_PER_REQUEST: '100' }), /QUEUE_MAX_ROWS="10": is below MAX_ROWS_PER_REQUEST \(100\)/)
  const c = loadConfig({})
  t.equal(c.BATCH_WINDOW_MS, 1)
  t.equal(c.BATCH_MAX_ROWS, 256)
  t.equal(c.QUEUE_MAX_ROWS, 200_000)
  t.equal(c.QUEUE_RETRY_AFTER_S, 1)
  t.equal(loadConfig({ BATCH_WINDOW_MS: '0.5' }).BATCH_WINDOW_MS, 0.5, 'sub-millisecond windows are allowed')
})

t.test('every compute response carries x-queue-time, x-compute-time and x-total-time, kept as histograms', async t => {
  const app = await testApp(t)
  await setUp(app)
  const number = /^\d+(\.\d+)?$/
  const responses = {
    '/v1/translate': await app.inject({ method: 'POST', url: '/v1/translate', payload: { source: 'src', target: 'tgt', vectors: rowsOf(values(2 * SRC, 3), SRC) } }),
    '/v1/relative': await app.inject({ method: 'POST', url: '/v1/relative?space=src&anchorSet=set', headers: binary, payload: bytes(values(SRC, 4)) }),
    '/v1/similarity': await app.inject({ method: 'POST', url: '/v1/similarity', payload: { spaces: ['src', 'tgt'], anchorSet: 'set', k: 5 } }),
    '/v1/translators/:id/evaluate': await app.inject({
      method: 'POST',
      url: `/v1/translators/${json(await app.inject({ method: 'GET', url: '/v1/translators' })).translators[0].id as string}/evaluate`,
      payload: { vectors: rowsOf(values(4 * SRC, 5), SRC), targetVectors: rowsOf(values(4 * TGT, 6), TGT), k: 2 }
    })
  }
  for (const [route, res] of Object.entries(responses)) {
    t.equal(res.statusCode, 200, `${route}: ${res.body.slice(0, 200)}`)
    for (const h of ['x-queue-time', 'x-compute-time', 'x-total-time']) t.match(res.headers[h], number, `${route} ${h}`)
    const total = Number(res.headers['x-total-time'])
    t.ok(Number(res.headers['x-queue-time']) + Number(res.headers['x-compute-time']) <= total + 0.01, `${route}: queue + compute within total`)
    t.ok(Number(res.headers['x-compute-time']) > 0, `${route}: compute time measured`)
  }
  const invalid = await app.inject({ method: 'POST', url: '/v1/translate', payload: { source: 'src', target: 'tgt', vectors: [[1, 2]] } })
  isProblem(t, invalid, 'unprocessable')
  t.equal(invalid.headers['x-compute-time'], '0', 'an error before the engine reports 0 compute')
  t.match(invalid.headers['x-total-time'], number)
  const spaces = await app.inject({ method: 'GET', url: '/v1/spaces' })
  t.equal(spaces.headers['x-total-time'], undefined, 'non-compute routes carry no timing headers')

  const text = (await app.inject({ method: 'GET', url: '/metrics' })).body
  for (const route of Object.keys(responses)) {
    for (const phase of ['queue', 'compute', 'total']) {
      t.ok(sample(text, 'latentbridge_compute_phase_seconds_count', { route, phase }) >= 1, `${route} ${phase} histogram`)
    }
  }
  t.equal(sample(text, 'latentbridge_compute_phase_seconds_count', { route: '/v1/translate', phase: 'total' }), 2, 'the 422 is counted too')
})
