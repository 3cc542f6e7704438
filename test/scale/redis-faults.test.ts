import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { buildApp } from '../../src/app.js'
import { loadConfig } from '../../src/config.js'
import { testEngine } from '../helpers/app.js'
import { ownRedisSkipReason, startRedisServer, waitUntil, type RedisServer } from '../helpers/redis-server.js'
import { injectApi, rowsOf, setUpPair, SOURCE_DIM, type ApiResponse } from '../helpers/service.js'

/*
 * The service while its Redis is gone and after it returns (a real redis-server, killed with
 * SIGKILL and restarted from its AOF on the same port): requests that need Redis answer 503
 * problem+json at once, /readyz turns 503, a translation by a cached id too (whether the translator
 * still exists is the store's to say), and everything recovers without a restart, the translator
 * cache dropped (resync).
 */

const skip = ownRedisSkipReason()

t.test('the service when Redis stops and returns', { skip }, async t => {
  const dir = mkdtempSync(join(tmpdir(), 'latentbridge-faults-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const aof = ['--appendonly', 'yes', '--appendfsync', 'always']
  let redis: RedisServer = await startRedisServer({ dir, args: aof })
  const port = redis.port
  t.teardown(async () => { await redis.stop() })
  const engine = await testEngine(t)
  const app = await buildApp(loadConfig({ REDIS_URL: redis.url, REDIS_KEY_PREFIX: 'faults' }), { engine, logger: false })
  await app.ready()
  t.teardown(async () => { await app.close() })
  const api = injectApi(app)

  const data = await setUpPair(api, { source: 'src', target: 'tgt', set: 'pairs' })
  const probe = rowsOf(data.x.subarray(0, 3 * SOURCE_DIM), SOURCE_DIM)
  const fitted = await api('POST', '/v1/translators', { source: 'src', target: 'tgt', anchorSet: 'pairs' })
  t.equal(fitted.status, 201)
  const id = fitted.body.id as string
  // The fit's own change notification evicts the id when it arrives: translate until it is cached.
  let byId = await api('POST', '/v1/translate', { source: 'src', target: 'tgt', vectors: probe, translator: id })
  await waitUntil('the translator to be cached', async () => {
    await new Promise(resolve => setTimeout(resolve, 20))
    byId = await api('POST', '/v1/translate', { source: 'src', target: 'tgt', vectors: probe, translator: id })
    if (app.translators.size !== 1) return false
    await new Promise(resolve => setTimeout(resolve, 100))
    return app.translators.size === 1
  }, 3000, 0)
  t.equal(byId.status, 200, 'translated by id: the translator is now cached')

  const killedAt = Date.now()
  await redis.kill('SIGKILL')
  const timed = async (method: string, url: string, payload?: object): Promise<ApiResponse & { ms: number }> => {
    const started = Date.now()
    const res = await api(method, url, payload)
    return { ...res, ms: Date.now() - started }
  }
  const needsRedis: Array<[string, string, object | undefined]> = [
    ['GET', '/v1/spaces', undefined],
    ['GET', '/v1/spaces/src', undefined],
    ['PUT', '/v1/spaces/other', { dim: 3 }],
    ['GET', '/v1/anchor-sets/pairs', undefined],
    ['GET', '/v1/translators', undefined],
    ['POST', '/v1/translators', { source: 'src', target: 'tgt', anchorSet: 'pairs' }],
    ['POST', `/v1/translators/${id}/activate`, undefined],
    // Without a translator id the active pointer is read from Redis.
    ['POST', '/v1/translate', { source: 'src', target: 'tgt', vectors: probe }]
  ]
  let first503 = -1
  for (const [method, url, payload] of needsRedis) {
    const res = await timed(method, url, payload)
    if (first503 < 0 && res.status === 503) first503 = Date.now() - killedAt
    t.equal(res.status, 503, `${method} ${url}: 503`)
    t.match(res.headers['content-type'], /^application\/problem\+json/, 'problem+json')
    t.match(res.body, { status: 503, type: 'urn:latentbridge:problem:unavailable', detail: /store is unavailable/ })
    t.equal(res.headers['retry-after'], '1', 'with Retry-After')
    t.ok(res.ms < 1000, `within a second (${res.ms} ms)`)
  }
  const ready = await timed('GET', '/readyz')
  t.equal(ready.status, 503, '/readyz: 503')
  t.match(ready.body, { status: 'not-ready', store: { kind: 'redis', ok: false } })
  t.ok(ready.ms < 1100, `/readyz answers within its probe timeout (${ready.ms} ms)`)
  t.equal((await api('GET', '/healthz')).status, 200, '/healthz: still 200 (the process is alive)')
  const cached = await api('POST', '/v1/translate', { source: 'src', target: 'tgt', vectors: probe, translator: id })
  t.equal(cached.status, 503, 'a translation by a cached id: 503 too (it may have been deleted meanwhile)')
  t.match(cached.body, { type: 'urn:latentbridge:problem:unavailable' })

  // A second of outage, then Redis returns from its AOF on the same port.
  await new Promise(resolve => setTimeout(resolve, 1000))
  t.equal((await api('GET', '/readyz')).status, 503, 'still not ready a second later')
  const restartedAt = Date.now()
  redis = await startRedisServer({ port, dir, args: aof })
  const redisBackMs = Date.now() - restartedAt
  await waitUntil('/readyz to answer 200', async () => (await api('GET', '/readyz')).status === 200, 5000, 10)
  const readyAfter = Date.now() - restartedAt
  await waitUntil('the translator cache to resync', () => app.translators.resyncs > 0, 3000, 10)
  const resyncAfter = Date.now() - restartedAt
  t.ok(readyAfter < 2000, `/readyz is 200 again ${readyAfter} ms after the restart (redis-server took ${redisBackMs} ms)`)
  t.equal(app.translators.resyncs, 1, 'the change feed resubscribed and the translator cache was dropped once')
  t.equal((await api('GET', '/v1/spaces')).status, 200, 'reads work again')
  t.equal((await api('PUT', '/v1/spaces/other', { dim: 3 })).status, 201, 'writes work again')
  const active = await api('POST', '/v1/translate', { source: 'src', target: 'tgt', vectors: probe })
  t.equal(active.status, 200, 'translate by the active pointer works again')
  t.same(active.body.vectors, byId.body.vectors, 'with the same translator (restored from the AOF)')
  t.comment(`figures: first 503 ${first503} ms after SIGKILL; /readyz 200 again ${readyAfter} ms after the restart; ` +
    `cache resync ${resyncAfter} ms after the restart; redis-server itself needed ${redisBackMs} ms`)
})
