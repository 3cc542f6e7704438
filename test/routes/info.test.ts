import t from 'tap'
import { isProblem, json, testApp } from '../helpers/app.js'
import { VERSION } from '../../src/version.js'
import { redisForTests, redisSkipReason } from '../helpers/redis-server.js'
import { redisHarness } from '../helpers/redis-store.js'

t.test('GET /v1/info: the configured limits, store, provider and features; a read key suffices', async t => {
  const env = {
    MAX_ROWS_PER_REQUEST: '1234',
    BODY_LIMIT: '2000000',
    MAX_DIM: '512',
    MAX_ANCHORS_PER_SET: '777',
    MAX_SET_BYTES: '9999999',
    WORK_MEMORY_BYTES: String(3 * 1024 * 1024),
    WORK_TIME_MS: '4321',
    MAX_TRANSLATOR_BYTES: '88888',
    QUEUE_MAX_ROWS: '5000',
    LARGE_JSON_BYTES: '65536',
    API_KEYS: 'reader-key-1:read'
  }
  const app = await testApp(t, { env })

  isProblem(t, await app.inject({ method: 'GET', url: '/v1/info' }), 'unauthenticated')
  const res = await app.inject({ method: 'GET', url: '/v1/info', headers: { authorization: 'Bearer reader-key-1' } })
  t.equal(res.statusCode, 200)
  const info = json(res)
  t.equal(info.version, VERSION)
  const expected = Object.fromEntries(Object.entries(env).filter(([k]) => k !== 'API_KEYS').map(([k, v]) => [k, Number(v)]))
  t.same(info.limits, expected, 'every limit is the configured one')
  t.same(info.store, { kind: 'memory' })
  t.equal(info.compute.executionProvider, 'cpu')
  t.same(info.features.contentEncodings, ['gzip', 'deflate', 'br'])
  t.same(info.features.binaryForms, ['application/octet-stream', 'application/x-npy'])
  t.equal(info.features.conditionalRequests, true)
  t.same(info.features.pagination, { defaultLimit: 100, maxLimit: 1000 })
})

t.test('GET /v1/info: the body limit it states is the one enforced', async t => {
  const app = await testApp(t, { env: { BODY_LIMIT: '4096' } })
  const { limits } = json(await app.inject({ method: 'GET', url: '/v1/info' }))
  t.equal(limits.BODY_LIMIT, 4096)
  const over = await app.inject({ method: 'PUT', url: '/v1/anchor-sets/big', payload: { ids: Array.from({ length: 1000 }, (_, i) => `id-${i}`) } })
  isProblem(t, over, 'body-too-large')
  const under = await app.inject({ method: 'PUT', url: '/v1/anchor-sets/small', payload: { ids: ['a', 'b'] } })
  t.equal(under.statusCode, 201)
})

t.test('GET /v1/info: the store kind follows the configured Redis mode', { skip: redisSkipReason() }, async t => {
  const redis = await redisForTests(t)
  const prefix = redis.newPrefix()
  const harness = await redisHarness({ url: redis.url, keyPrefix: prefix }, async () => { await redis.deletePrefix(prefix) })
  t.teardown(harness.cleanup)
  const cases: Array<[Record<string, string>, string]> = [
    [{}, 'redis'],
    [{ REDIS_URL: redis.url }, 'redis'],
    [{ REDIS_CLUSTER_NODES: 'node-0:6379,node-1:6379' }, 'redis-cluster'],
    [{ REDIS_SENTINELS: 'sentinel-0:26379' }, 'redis-sentinel']
  ]
  for (const [env, kind] of cases) {
    // The store is given (so nothing connects to the named hosts); the mode comes from the configuration.
    const app = await testApp(t, { env, store: harness.store })
    t.equal(json(await app.inject({ method: 'GET', url: '/v1/info' })).store.kind, kind, `${JSON.stringify(env)}: ${kind}`)
  }
})
