import t from 'tap'
import { buildApp } from '../../src/app.js'
import { loadConfig } from '../../src/config.js'
import { testEngine } from '../helpers/app.js'
import { metricSample } from '../helpers/metrics.js'
import { ownRedisSkipReason, startRedisServer, waitUntil } from '../helpers/redis-server.js'
import { injectApi, rowsOf, setUpPair, SOURCE_DIM, type ApiResponse } from '../helpers/service.js'

/*
 * The service while its Redis is stalled (a real redis-server frozen with SIGSTOP: the connection
 * stays up, nothing answers) and after it resumes (SIGCONT). The first store-bound request waits for
 * the command timeout; it opens the store's circuit breaker, and every following store-bound
 * request is answered 503 with Retry-After at once, /readyz included. Once Redis resumes, the
 * breaker's own probe closes it and requests succeed again without any client action; what was
 * acknowledged before the stall is all there.
 */

const skip = ownRedisSkipReason()
const COMMAND_TIMEOUT_MS = 3000

t.test('the service while Redis is stalled and after it resumes', { skip }, async t => {
  const redis = await startRedisServer()
  t.teardown(async () => {
    process.kill(redis.pid, 'SIGCONT')
    await redis.stop()
  })
  const engine = await testEngine(t)
  const app = await buildApp(loadConfig({
    REDIS_URL: redis.url,
    REDIS_KEY_PREFIX: 'stall',
    REDIS_COMMAND_TIMEOUT_MS: String(COMMAND_TIMEOUT_MS),
    STORE_BREAKER_PROBE_INTERVAL_MS: '200',
    MAX_EVENT_LOOP_DELAY_MS: '0',
    MAX_HEAP_USED_BYTES: '0'
  }), { engine, logger: false })
  await app.ready()
  t.teardown(async () => { await app.close() })
  const api = injectApi(app)
  const timed = async (method: string, url: string, payload?: object): Promise<ApiResponse & { ms: number }> => {
    const started = Date.now()
    const res = await api(method, url, payload)
    return { ...res, ms: Date.now() - started }
  }
  const metric = async (name: string, labels?: Record<string, string>): Promise<number | undefined> =>
    metricSample((await api('GET', '/metrics')).raw.toString(), name, labels)

  const data = await setUpPair(api, { source: 'src', target: 'tgt', set: 'pairs' })
  const probe = rowsOf(data.x.subarray(0, 3 * SOURCE_DIM), SOURCE_DIM)
  const fitted = await api('POST', '/v1/translators', { source: 'src', target: 'tgt', anchorSet: 'pairs' })
  t.equal(fitted.status, 201)
  const id = fitted.body.id as string
  const before = await api('POST', '/v1/translate', { source: 'src', target: 'tgt', vectors: probe, translator: id })
  t.equal(before.status, 200)
  t.equal(await metric('latentbridge_store_breaker_state', { state: 'closed' }), 1, 'metrics: the breaker is closed')

  process.kill(redis.pid, 'SIGSTOP')
  const first = await timed('GET', '/v1/spaces')
  t.equal(first.status, 503, 'the first request: 503')
  t.match(first.body, { type: 'urn:latentbridge:problem:unavailable', detail: /Redis did not answer in time/ })
  t.ok(first.ms >= COMMAND_TIMEOUT_MS - 100, `after the command timeout (${first.ms} ms)`)
  t.equal(app.store.breaker?.state, 'open', 'and the breaker is open')

  const needsRedis: Array<[string, string, object | undefined]> = [
    ['GET', '/v1/spaces', undefined],
    ['GET', '/v1/spaces/src', undefined],
    ['PUT', '/v1/spaces/during', { dim: 3 }],
    ['GET', '/v1/anchor-sets/pairs', undefined],
    ['GET', '/v1/translators', undefined],
    ['POST', '/v1/translators', { source: 'src', target: 'tgt', anchorSet: 'pairs' }],
    ['POST', `/v1/translators/${id}/activate`, undefined],
    ['DELETE', `/v1/translators/${id}`, undefined],
    ['POST', '/v1/translate', { source: 'src', target: 'tgt', vectors: probe }],
    // Cached, but whether it still exists is the store's to say.
    ['POST', '/v1/translate', { source: 'src', target: 'tgt', vectors: probe, translator: id }]
  ]
  let slowest = 0
  for (const [method, url, payload] of needsRedis) {
    const res = await timed(method, url, payload)
    slowest = Math.max(slowest, res.ms)
    t.equal(res.status, 503, `${method} ${url}: 503`)
    t.match(res.headers['content-type'], /^application\/problem\+json/)
    t.match(res.body, { status: 503, type: 'urn:latentbridge:problem:unavailable', detail: /store is unavailable .*refused until it answers again/ })
    t.equal(res.headers['retry-after'], '1', 'with Retry-After')
    t.ok(res.ms < COMMAND_TIMEOUT_MS / 2, `refused without waiting for the command timeout (${res.ms} ms)`)
  }
  t.ok((app.store.breaker?.refused ?? 0) >= needsRedis.length, `refused by the breaker, not sent to Redis (${app.store.breaker?.refused} store calls)`)
  const ready = await timed('GET', '/readyz')
  t.equal(ready.status, 503, '/readyz agrees: 503')
  t.match(ready.body, { status: 'not-ready', store: { kind: 'redis', ok: false } })
  t.equal((await api('GET', '/healthz')).status, 200, '/healthz: still 200')
  t.equal(await metric('latentbridge_store_breaker_trips_total'), 1, 'metrics: one trip')
  t.equal(await metric('latentbridge_store_breaker_state', { state: 'closed' }), 0, 'metrics: not closed')
  t.ok((await metric('latentbridge_store_breaker_refusals_total') ?? 0) >= needsRedis.length, 'metrics: the refusals counted')

  const resumedAt = Date.now()
  process.kill(redis.pid, 'SIGCONT')
  // No request is sent until the breaker has closed: it finds Redis back by itself.
  await waitUntil('the breaker to close by itself', () => app.store.breaker?.state === 'closed', 10_000, 10)
  const closedAfter = Date.now() - resumedAt
  t.equal((await api('GET', '/readyz')).status, 200, '/readyz: 200 again')
  const spaces = await api('GET', '/v1/spaces')
  t.equal(spaces.status, 200, 'reads work again')
  t.same(spaces.body.spaces.map((s: { name: string }) => s.name).sort(), ['src', 'tgt'], 'what was acknowledged is there; the refused write is not')
  t.equal((await api('GET', `/v1/translators/${id}`)).status, 200, 'the translator is there: its refused delete was never sent')
  const after = await api('POST', '/v1/translate', { source: 'src', target: 'tgt', vectors: probe })
  t.equal(after.status, 200, 'translate works again')
  t.same(after.body.vectors, before.body.vectors, 'with the same translator')
  t.equal((await api('PUT', '/v1/spaces/during', { dim: 3 })).status, 201, 'writes work again')
  t.comment(`figures: first request ${first.ms} ms (command timeout ${COMMAND_TIMEOUT_MS} ms); slowest refusal ${slowest} ms; ` +
    `breaker closed ${closedAfter} ms after SIGCONT`)
})
