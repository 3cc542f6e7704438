import t from 'tap'
import { buildApp } from '../../src/app.js'
import { loadConfig } from '../../src/config.js'
import { json, testEngine } from '../helpers/app.js'
import { redisForTests, redisSkipReason } from '../helpers/redis-server.js'

t.test('with REDIS_URL, spaces and anchor sets survive a restart of the service, bit-exactly', { skip: redisSkipReason() }, async t => {
  const redis = await redisForTests(t)
  const prefix = redis.newPrefix()
  t.teardown(async () => { await redis.deletePrefix(prefix) })
  const env = { REDIS_URL: redis.url, REDIS_KEY_PREFIX: prefix }
  const engine = await testEngine(t)

  const rows = 300
  const cols = 64
  const data = new Float32Array(rows * cols)
  for (let i = 0; i < data.length; i++) data[i] = Math.fround(Math.sin(i * 1.37) * 1e3 + (i % 7 === 0 ? 1e-40 : 0))
  data[5] = -0
  const raw = Buffer.from(data.buffer)

  const first = await buildApp(loadConfig(env), { engine, logger: false })
  await first.ready()
  t.equal((await first.inject({ method: 'PUT', url: '/v1/spaces/org%2Fmodel', payload: { dim: cols, metadata: { team: 'search' } } })).statusCode, 201)
  t.equal((await first.inject({ method: 'PUT', url: '/v1/anchor-sets/set-1', payload: { ids: Array.from({ length: rows }, (_, i) => `id-${i}`) } })).statusCode, 201)
  const up = await first.inject({ method: 'PUT', url: '/v1/anchor-sets/set-1/embeddings/org%2Fmodel', headers: { 'content-type': 'application/octet-stream' }, payload: raw })
  t.equal(up.statusCode, 201)
  t.equal(json(await first.inject({ method: 'GET', url: '/readyz' })).store.kind, 'redis')
  await first.close()

  const second = await buildApp(loadConfig(env), { engine, logger: false })
  await second.ready()
  t.teardown(async () => { await second.close() })
  const space = json(await second.inject({ method: 'GET', url: '/v1/spaces/org%2Fmodel' }))
  t.match(space, { name: 'org/model', dim: cols, metadata: { team: 'search' } })
  const set = json(await second.inject({ method: 'GET', url: '/v1/anchor-sets/set-1' }))
  t.match(set, { size: rows, spaces: { 'org/model': { rows, dim: cols } } })
  const back = await second.inject({ method: 'GET', url: '/v1/anchor-sets/set-1/embeddings/org%2Fmodel', headers: { accept: 'application/octet-stream' } })
  t.equal(back.statusCode, 200)
  t.ok(back.rawPayload.equals(raw), 'the bytes after the restart are the bytes uploaded (-0 and subnormals included)')
})
