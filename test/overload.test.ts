/**
 * Overload and limits (issue 6): load shedding with under-pressure (503 problem + Retry-After, the
 * operational routes untouched), the handler timeout, and every request limit, each configurable and
 * named in its error's detail with its value and variable.
 */
import t from 'tap'
import { loadConfig } from '../src/config.js'
import { MemoryStore } from '../src/store/memory.js'
import type { Store } from '../src/store/types.js'
import { isProblem, json, testApp } from './helpers/app.js'

const sleep = async (ms: number): Promise<void> => await new Promise(resolve => setTimeout(resolve, ms))

t.test('the limits have the documented defaults', async t => {
  const c = loadConfig({})
  t.equal(c.MAX_ROWS_PER_REQUEST, 100_000)
  t.equal(c.MAX_ANCHORS_PER_SET, 100_000)
  t.equal(c.MAX_DIM, 16_384)
  t.equal(c.MAX_SET_BYTES, 1024 ** 3)
  t.equal(c.MAX_METADATA_BYTES, 65_536)
  t.equal(c.BODY_LIMIT, 64 * 1024 ** 2)
  t.equal(c.MAX_EVENT_LOOP_DELAY_MS, 2000)
  t.ok(c.MAX_HEAP_USED_BYTES > 0, 'heap limit on by default (90% of the V8 heap limit)')
  t.equal(c.MAX_RSS_BYTES, 0)
  t.equal(c.PRESSURE_RETRY_AFTER_S, 10)
  t.equal(c.REQUEST_TIMEOUT_MS, 300_000)
  t.equal(c.HANDLER_TIMEOUT_MS, 300_000)
  t.equal(c.CONNECTION_TIMEOUT_MS, 120_000)
  t.equal(c.KEEP_ALIVE_TIMEOUT_MS, 10_000)
  t.equal(c.METRICS_PORT, undefined)
  t.equal(c.CORS_ORIGINS, undefined)
})

t.test('heap over MAX_HEAP_USED_BYTES: /v1 gets 503 problem+json with Retry-After; probes stay up', async t => {
  const server = await testApp(t, { env: { MAX_HEAP_USED_BYTES: '1', MAX_EVENT_LOOP_DELAY_MS: '0', PRESSURE_SAMPLE_INTERVAL_MS: '50', PRESSURE_RETRY_AFTER_S: '7' } })
  await sleep(150)
  const res = await server.inject({ method: 'PUT', url: '/v1/spaces/a', payload: { dim: 2 } })
  isProblem(t, res, 'overloaded')
  t.equal(res.headers['retry-after'], '7')
  t.match(json(res).detail, /heapUsedBytes is .* MiB, over the limit of 0\.0 MiB \(MAX_HEAP_USED_BYTES\)/)
  // Shedding is decided on the route that matched: another spelling of the same route is shed too.
  isProblem(t, await server.inject({ method: 'PUT', url: '/%761/spaces/a', payload: { dim: 2 } }), 'overloaded', 'a percent-encoded spelling of a /v1 route is shed as well')
  t.same(await server.store.listSpaces(), [], 'nothing was done')
  t.equal((await server.inject({ method: 'GET', url: '/healthz' })).statusCode, 200)
  t.equal((await server.inject({ method: 'GET', url: '/readyz' })).statusCode, 200)
  const metrics = await server.inject({ method: 'GET', url: '/metrics' })
  t.equal(metrics.statusCode, 200)
  t.match(metrics.body, /latentbridge_overload_rejections_total\{reason="heapUsedBytes"\} 2/, "both spellings were counted")
  t.equal((await server.inject({ method: 'GET', url: '/docs/' })).statusCode, 200, 'the docs stay up too')
})

t.test('event-loop delay over MAX_EVENT_LOOP_DELAY_MS: shed while the loop lags, served again after', async t => {
  // under-pressure compares the MEAN delay of a sample's ticks with the limit: one 1.2 s block
  // among ~10 ordinary ticks averages ~110 ms, over a limit of 50 ms that a loaded machine's
  // ordinary ticks (a few ms late each) do not reach.
  const server = await testApp(t, { env: { MAX_EVENT_LOOP_DELAY_MS: '50', MAX_HEAP_USED_BYTES: '0', PRESSURE_SAMPLE_INTERVAL_MS: '100' } })
  await sleep(250)
  // Which sample a block lands in depends on whether under-pressure's timer or the histogram's runs
  // first after it, so the window in which the mean is high is one sample wide and may be missed:
  // block again until a request sees it (the guard off, none ever would; see the test below).
  let shed: Awaited<ReturnType<typeof server.inject>> | undefined
  for (let attempt = 0; attempt < 8 && shed === undefined; attempt++) {
    const until = Date.now() + 1200
    while (Date.now() < until) { /* busy */ }
    for (let look = 0; look < 3 && shed === undefined; look++) {
      await sleep(5 + look * 60)
      const res = await server.inject({ method: 'GET', url: '/v1/spaces' })
      if (res.statusCode === 503) shed = res
    }
  }
  if (shed === undefined) { t.fail('never shed after 8 blocks of the loop'); return }
  isProblem(t, shed, 'overloaded')
  t.equal(shed.headers['retry-after'], '10')
  // A loop blocked through a whole sample has no delay measured at all (under-pressure: Infinity).
  t.match(json(shed).detail, /eventLoopDelay is (\d+ ms|beyond measure \(the loop was blocked through a whole sample\)), over the limit of 50 ms \(MAX_EVENT_LOOP_DELAY_MS\)/)
  t.equal((await server.inject({ method: 'GET', url: '/healthz' })).statusCode, 200)
  // A few quiet samples later the lag is gone and requests are served.
  let status = 0
  for (let i = 0; i < 20 && status !== 200; i++) {
    await sleep(150)
    status = (await server.inject({ method: 'GET', url: '/v1/spaces' })).statusCode
  }
  t.equal(status, 200, 'served again once the loop keeps up')
})

t.test('no shedding with the guards at 0', async t => {
  const server = await testApp(t, { env: { MAX_EVENT_LOOP_DELAY_MS: '0', MAX_HEAP_USED_BYTES: '0', PRESSURE_SAMPLE_INTERVAL_MS: '50' } })
  await sleep(150)
  t.equal((await server.inject({ method: 'GET', url: '/v1/spaces' })).statusCode, 200)
})

t.test('a request over HANDLER_TIMEOUT_MS gets a 503 problem naming the limit', async t => {
  // The slow call waits for the test to release it, so "answered at the limit, not when the work
  // finished" is checked by order, not by a clock.
  let release: () => void = () => {}
  const gate = new Promise<void>(resolve => { release = resolve })
  let finished = false
  const store = new MemoryStore()
  const slow: Store = Object.assign(Object.create(Object.getPrototypeOf(store)), store, {
    listSpaces: async () => { await gate; finished = true; return [] }
  })
  const server = await testApp(t, { store: slow, env: { HANDLER_TIMEOUT_MS: '50' } })
  const res = await server.inject({ method: 'GET', url: '/v1/spaces' })
  t.equal(finished, false, 'answered at the limit, while the work was still running')
  isProblem(t, res, 'timeout')
  t.match(json(res).detail, /longer than the limit of 50 ms \(HANDLER_TIMEOUT_MS\)/)
  isProblem(t, await server.inject({ method: 'GET', url: '/v1/spaces/none' }), 'not-found', 'fast requests are unaffected')
  release()
  await sleep(20)
  t.equal(finished, true)
})

t.test('each request limit is configurable and named in its error with its value', async t => {
  const server = await testApp(t, {
    env: { MAX_ROWS_PER_REQUEST: '5', MAX_ANCHORS_PER_SET: '4', MAX_DIM: '8', MAX_SET_BYTES: '100', MAX_METADATA_BYTES: '64', BODY_LIMIT: '4096' }
  })
  const put = async (url: string, payload: unknown, headers: Record<string, string> = {}): Promise<{ status: number, headers: Record<string, unknown>, body: any }> => {
    const res = await server.inject({ method: 'PUT', url, payload: payload as object, headers })
    return { status: res.statusCode, headers: res.headers, body: res.body === '' ? null : JSON.parse(res.body) }
  }

  const dim = await put('/v1/spaces/big', { dim: 9 })
  isProblem(t, dim, 'unprocessable')
  t.match(dim.body.detail, /dim 9 is above this server's limit of 8 \(MAX_DIM\)/)
  const meta = await put('/v1/spaces/meta', { dim: 2, metadata: { note: 'x'.repeat(80) } })
  isProblem(t, meta, 'unprocessable')
  t.match(meta.body.detail, /over this server's limit of 64 \(MAX_METADATA_BYTES\)/)
  let deep: unknown = 1
  for (let i = 0; i < 40; i++) deep = { d: deep }
  const nested = await put('/v1/spaces/meta', { dim: 2, metadata: deep })
  isProblem(t, nested, 'unprocessable')
  t.match(nested.body.detail, /deeper than 32 levels/)

  const anchors = await put('/v1/anchor-sets/many', { ids: ['a', 'b', 'c', 'd', 'e'] })
  isProblem(t, anchors, 'unprocessable')
  t.match(anchors.body.detail, /at most 4 per set \(MAX_ANCHORS_PER_SET\)/)

  t.equal((await put('/v1/spaces/a', { dim: 3 })).status, 201)
  t.equal((await put('/v1/spaces/b', { dim: 4 })).status, 201)
  t.equal((await put('/v1/anchor-sets/s', { ids: ['w', 'x', 'y', 'z'] })).status, 201)
  // 4 ids x 3 dims x 4 bytes = 48 bytes: within MAX_SET_BYTES = 100.
  const a = [[1, 0, 0], [0, 1, 0], [0, 0, 1], [1, 1, 1]]
  t.equal((await put('/v1/anchor-sets/s/embeddings/a', { vectors: a })).status, 201)
  // Replacing a's embeddings counts them once, not twice.
  t.equal((await put('/v1/anchor-sets/s/embeddings/a', { vectors: a })).status, 200, 'a replacing upload answers 200')
  // b: 4 x 4 x 4 = 64 more bytes, 112 in all: over the limit, and nothing is stored.
  const over = await put('/v1/anchor-sets/s/embeddings/b', { vectors: [[1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1]] })
  isProblem(t, over, 'unprocessable')
  t.match(over.body.detail, /would hold 112 bytes .* over this server's limit of 100 bytes per set \(MAX_SET_BYTES\)/)
  t.same(Object.keys((await server.store.getAnchorSetSummary('s'))!.spaces), ['a'], 'b was not stored')
  // Two rows of b (32 bytes, 80 in all) fit.
  t.equal((await put('/v1/anchor-sets/s/embeddings/b', { vectors: [[1, 0, 0, 0], [0, 1, 0, 0]], ids: ['w', 'x'] })).status, 201)
  // The binary form (all 4 rows of b, 64 bytes) is checked the same way.
  const binary = await put('/v1/anchor-sets/s/embeddings/b', Buffer.from(new Float32Array(16).fill(0.5).buffer), { 'content-type': 'application/octet-stream' })
  isProblem(t, binary, 'unprocessable')
  t.match(binary.body.detail, /MAX_SET_BYTES/)

  const six = [[1, 0, 0], [0, 1, 0], [0, 0, 1], [1, 1, 1], [1, 2, 3], [3, 2, 1]]
  t.equal((await server.inject({ method: 'POST', url: '/v1/relative', payload: { space: 'a', anchorSet: 's', vectors: six.slice(0, 5) } })).statusCode, 200, '5 rows pass')
  const tooMany = await server.inject({ method: 'POST', url: '/v1/relative', payload: { space: 'a', anchorSet: 's', vectors: six } })
  isProblem(t, tooMany, 'unprocessable')
  t.match(json(tooMany).detail, /6 rows, more than the limit of 5 \(MAX_ROWS_PER_REQUEST\)/)
  const rowsBinary = await server.inject({ method: 'POST', url: '/v1/relative?space=a&anchorSet=s', payload: Buffer.from(new Float32Array(18).buffer), headers: { 'content-type': 'application/octet-stream' } })
  isProblem(t, rowsBinary, 'unprocessable')
  t.match(json(rowsBinary).detail, /more than the limit of 5 \(MAX_ROWS_PER_REQUEST\)/)
  const upload = await put('/v1/anchor-sets/s/embeddings/a', { vectors: [[1, 0, 0], [0, 1, 0], [0, 0, 1], [1, 1, 1], [2, 2, 2]] })
  isProblem(t, upload, 'unprocessable')
  t.match(upload.body.detail, /anchor set "s" has 4 ids/)

  const body = await server.inject({ method: 'POST', url: '/v1/relative', payload: { space: 'a', anchorSet: 's', vectors: [[1, 0, 0]], pad: 'p'.repeat(5000) } })
  isProblem(t, body, 'body-too-large')
  t.match(json(body).detail, /limit of 4096 bytes .* BODY_LIMIT/)

  const empty = await put('/v1/anchor-sets/s/embeddings/a', { vectors: [], ids: [] })
  isProblem(t, empty, 'unprocessable', 'an upload of no rows is refused rather than emptying the space')
  t.match(empty.body.detail, /0 rows/)
})
