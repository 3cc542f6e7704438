import t from 'tap'
import { Writable } from 'node:stream'
import Fastify from 'fastify'
import app, { serverOptions } from '../../src/app.js'
import { loadConfig } from '../../src/config.js'
import { MemoryStore } from '../../src/store/memory.js'
import type { Store } from '../../src/store/types.js'
import { isProblem, json, testApp, testEngine } from '../helpers/app.js'

t.test('healthz, readyz, metrics', async t => {
  const server = await testApp(t)
  const health = await server.inject({ method: 'GET', url: '/healthz' })
  t.equal(health.statusCode, 200)
  t.same(json(health), { status: 'ok' })
  const ready = await server.inject({ method: 'GET', url: '/readyz' })
  t.equal(ready.statusCode, 200)
  t.match(json(ready), { status: 'ready', store: { kind: 'memory', ok: true }, compute: { ready: true, executionProvider: 'cpu' } })
  const metrics = await server.inject({ method: 'GET', url: '/metrics' })
  t.equal(metrics.statusCode, 200)
  t.match(metrics.headers['content-type'], /text\/plain/)
  t.match(metrics.body, /latentbridge_http_request_duration_seconds_bucket\{.*route="\/readyz"/)
  t.match(metrics.body, /latentbridge_execution_provider\{provider="cpu"\} 1/)
})

t.test('readyz is 503 while the store does not answer; healthz stays up', async t => {
  const store = new MemoryStore()
  let down = false
  const flaky: Store = Object.assign(Object.create(Object.getPrototypeOf(store)), store, {
    ping: async () => { if (down) throw new Error('connection refused') }
  })
  const server = await testApp(t, { store: flaky })
  down = true
  const res = await server.inject({ method: 'GET', url: '/readyz' })
  t.equal(res.statusCode, 503)
  t.match(json(res), { status: 'not-ready', store: { ok: false, error: 'connection refused' } })
  t.equal((await server.inject({ method: 'GET', url: '/healthz' })).statusCode, 200)
})

t.test('API keys: 401 without, 403 for read keys on writes, operational routes open', async t => {
  const server = await testApp(t, { env: { API_KEYS: 'read-key-123456:read,write-key-123456:write' } })
  const noKey = await server.inject({ method: 'GET', url: '/v1/spaces' })
  isProblem(t, noKey, 'unauthenticated')
  t.equal(noKey.headers['content-type'], 'application/problem+json; charset=utf-8')
  t.match(noKey.headers['www-authenticate'], /Bearer/)
  isProblem(t, await server.inject({ method: 'GET', url: '/v1/spaces', headers: { authorization: 'Bearer wrong-key-123456' } }), 'unauthenticated')
  t.equal((await server.inject({ method: 'GET', url: '/v1/spaces', headers: { authorization: 'Bearer read-key-123456' } })).statusCode, 200)
  const readWrite = await server.inject({ method: 'PUT', url: '/v1/spaces/a', headers: { authorization: 'Bearer read-key-123456' }, payload: { dim: 2 } })
  isProblem(t, readWrite, 'forbidden')
  t.equal((await server.inject({ method: 'PUT', url: '/v1/spaces/a', headers: { authorization: 'Bearer write-key-123456' }, payload: { dim: 2 } })).statusCode, 201)
  t.equal((await server.inject({ method: 'GET', url: '/healthz' })).statusCode, 200)
  t.equal((await server.inject({ method: 'GET', url: '/readyz' })).statusCode, 200)
})

t.test('unknown routes are problem+json 404s', async t => {
  const server = await testApp(t)
  const res = await server.inject({ method: 'GET', url: '/v1/nothing-here' })
  isProblem(t, res, 'no-route')
  t.match(json(res), { detail: /no route GET \/v1\/nothing-here/ })
})

t.test('a name holding an unencoded "/" gets no-route with a word on %2F', async t => {
  const server = await testApp(t)
  t.equal((await server.inject({ method: 'PUT', url: '/v1/spaces/a%2Fb', payload: { dim: 2 } })).statusCode, 201, 'the encoded name is a name')
  for (const url of ['/v1/spaces/a/b', '/v1/anchor-sets/a/b', '/v1/anchor-sets/a/b/embeddings/c', '/v1/translators/a/b']) {
    const res = await server.inject({ method: 'GET', url })
    isProblem(t, res, 'no-route', url)
    t.match(json(res).detail, /must be percent-encoded as %2F/, `${url}: the detail names %2F`)
    t.match(json(res).detail, new RegExp(`/v1/${url.split('/')[2]}/a%2Fb`), `${url}: with an example in its collection`)
  }
  // Paths that are not a name with extra segments get the plain answer.
  for (const url of ['/v1/nothing-here', '/v1/spaces/a/', '/v1/relative/x/y', '/nothing/a/b']) {
    const res = await server.inject({ method: 'GET', url })
    isProblem(t, res, 'no-route', url)
    t.notMatch(json(res).detail, /%2F/, `${url}: no word on %2F`)
  }
})

t.test('one log line per request, with id, route, status, duration and rows, and no vectors or keys', async t => {
  const lines: any[] = []
  const stream = new Writable({ write (chunk, _enc, done) { for (const l of String(chunk).split('\n')) if (l !== '') lines.push(JSON.parse(l)); done() } })
  const config = loadConfig({ API_KEYS: 'write-key-123456' })
  const fastify = Fastify(serverOptions(config, true, stream))
  await fastify.register(app, { config, store: new MemoryStore(), engine: await testEngine(t), ownsStore: true, ownsEngine: false })
  await fastify.ready()
  t.teardown(async () => { await fastify.close() })
  const auth = { authorization: 'Bearer write-key-123456' }
  await fastify.inject({ method: 'PUT', url: '/v1/spaces/m', headers: auth, payload: { dim: 3 } })
  await fastify.inject({ method: 'PUT', url: '/v1/anchor-sets/s', headers: auth, payload: { ids: ['a', 'b'] } })
  const vectors = [[0.123456789, 0.2, 0.3], [0.4, 0.5, 0.6]]
  lines.length = 0
  await fastify.inject({ method: 'PUT', url: '/v1/anchor-sets/s/embeddings/m', headers: { ...auth, 'x-request-id': 'req-42' }, payload: { vectors } })
  const requestLines = lines.filter(l => l.msg === 'request')
  t.equal(requestLines.length, 1, 'exactly one line for the request')
  t.match(requestLines[0], { requestId: 'req-42', method: 'PUT', route: '/v1/anchor-sets/:set/embeddings/:space', status: 201, rows: 2 })
  t.type(requestLines[0].ms, 'number')
  const all = JSON.stringify(lines)
  t.notMatch(all, /0\.123456789/, 'no vector values in the log')
  t.notMatch(all, /write-key-123456/, 'no keys in the log')
})
