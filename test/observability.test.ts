/**
 * Observability (issue 6): engine and store metrics through the metrics decorators, the translator
 * cache's counters read at scrape time, /metrics on its own port (METRICS_PORT), and /readyz
 * re-probing the engine while /healthz stays up. The last test starts src/server.ts for real.
 */
import { spawn } from 'node:child_process'
import t from 'tap'
import { buildApp } from '../src/app.js'
import { loadConfig } from '../src/config.js'
import type { Engine } from '../src/engine/types.js'
import { buildMetricsServer } from '../src/metrics-server.js'
import { MemoryStore } from '../src/store/memory.js'
import type { Store } from '../src/store/types.js'
import { isProblem, json, problemType, testApp, testEngine } from './helpers/app.js'
import { releaseTranslators, seedTranslator } from './helpers/fixtures.js'
import { freePort } from './helpers/redis-server.js'
import { metricSample } from './helpers/metrics.js'

const sample = metricSample

t.test('engine run time, batch sizes and in-flight calls are measured per operation', async t => {
  const server = await testApp(t)
  const put = async (url: string, payload: object): Promise<void> => {
    const res = await server.inject({ method: 'PUT', url, payload })
    t.ok(res.statusCode < 300, `${url} ${res.statusCode}`)
  }
  await put('/v1/spaces/a', { dim: 3 })
  await put('/v1/anchor-sets/s', { ids: ['w', 'x', 'y', 'z'] })
  await put('/v1/anchor-sets/s/embeddings/a', { vectors: [[1, 0, 0], [0, 1, 0], [0, 0, 1], [1, 1, 0]] })
  for (const rows of [1, 5, 5]) {
    const vectors = Array.from({ length: rows }, (_, i) => [i, 1, 2])
    t.equal((await server.inject({ method: 'POST', url: '/v1/relative', payload: { space: 'a', anchorSet: 's', vectors } })).statusCode, 200)
  }
  const text = (await server.inject({ method: 'GET', url: '/metrics' })).body
  t.equal(sample(text, 'latentbridge_engine_duration_seconds_count', { op: 'relative', outcome: 'ok' }), 3, 'three relative calls timed')
  t.ok((sample(text, 'latentbridge_engine_duration_seconds_sum', { op: 'relative', outcome: 'ok' }) ?? 0) > 0, 'with their run time')
  t.equal(sample(text, 'latentbridge_engine_batch_rows_count', { op: 'relative' }), 3)
  t.equal(sample(text, 'latentbridge_engine_batch_rows_sum', { op: 'relative' }), 11, 'batch sizes 1 + 5 + 5 rows')
  t.equal(sample(text, 'latentbridge_engine_batch_rows_bucket', { op: 'relative', le: '1' }), 1)
  t.equal(sample(text, 'latentbridge_engine_batch_rows_bucket', { op: 'relative', le: '8' }), 3)
  t.equal(sample(text, 'latentbridge_engine_in_flight', { op: 'relative' }), 0, 'nothing left in flight')
  t.equal(sample(text, 'latentbridge_rows_processed_total', { route: '/v1/relative' }), 11)
  t.match(text, /latentbridge_build_info\{version="[^"]+",node="v\d+/)
})

t.test('the engine decorator counts failures and calls in flight, and passes results through untouched', async t => {
  const real = await testEngine(t)
  let release: () => void = () => {}
  const gate = new Promise<void>(resolve => { release = resolve })
  let fail = false
  const engine: Engine = new Proxy(real, {
    get (target, prop) {
      if (prop === 'relative') {
        return async (...args: Parameters<Engine['relative']>) => {
          await gate
          if (fail) throw new Error('worker died')
          return await target.relative(...args)
        }
      }
      const value = Reflect.get(target, prop)
      return typeof value === 'function' ? value.bind(target) : value
    }
  })
  // BATCH_MAX_ROWS 1: no micro-batching, so the two concurrent requests are two engine calls.
  const server = await buildApp(loadConfig({ BATCH_MAX_ROWS: '1' }), { store: new MemoryStore(), engine, logger: false })
  await server.ready()
  t.teardown(async () => { await server.close() })
  await server.inject({ method: 'PUT', url: '/v1/spaces/a', payload: { dim: 2 } })
  await server.inject({ method: 'PUT', url: '/v1/anchor-sets/s', payload: { ids: ['p', 'q'] } })
  await server.inject({ method: 'PUT', url: '/v1/anchor-sets/s/embeddings/a', payload: { vectors: [[1, 0], [0, 1]] } })
  const pending = [1, 2].map(async () => await server.inject({ method: 'POST', url: '/v1/relative', payload: { space: 'a', anchorSet: 's', vectors: [[1, 1]] } }))
  await new Promise(resolve => setTimeout(resolve, 50))
  const during = (await server.inject({ method: 'GET', url: '/metrics' })).body
  t.equal(sample(during, 'latentbridge_engine_in_flight', { op: 'relative' }), 2, 'two calls queued or running')
  release()
  const done = await Promise.all(pending)
  t.same(done.map(r => r.statusCode), [200, 200])
  t.same(json(done[0]).vectors.length, 1, 'results pass through')
  fail = true
  const failed = await server.inject({ method: 'POST', url: '/v1/relative', payload: { space: 'a', anchorSet: 's', vectors: [[1, 1]] } })
  isProblem(t, failed, 'internal')
  const after = (await server.inject({ method: 'GET', url: '/metrics' })).body
  t.equal(sample(after, 'latentbridge_engine_in_flight', { op: 'relative' }), 0)
  t.equal(sample(after, 'latentbridge_engine_duration_seconds_count', { op: 'relative', outcome: 'ok' }), 2)
  t.equal(sample(after, 'latentbridge_engine_duration_seconds_count', { op: 'relative', outcome: 'error' }), 1)
})

t.test('store errors are counted by method', async t => {
  const store = new MemoryStore()
  let down = false
  const flaky: Store = Object.assign(Object.create(Object.getPrototypeOf(store)), store, {
    ping: async () => { if (down) throw new Error('connection refused') },
    listSpaces: async () => { if (down) throw new Error('connection refused'); return [] }
  })
  const server = await testApp(t, { store: flaky })
  t.equal((await server.inject({ method: 'GET', url: '/v1/spaces' })).statusCode, 200)
  down = true
  isProblem(t, await server.inject({ method: 'GET', url: '/v1/spaces' }), 'internal')
  isProblem(t, await server.inject({ method: 'GET', url: '/v1/spaces' }), 'internal')
  t.equal((await server.inject({ method: 'GET', url: '/readyz' })).statusCode, 503)
  const text = (await server.inject({ method: 'GET', url: '/metrics' })).body
  t.equal(sample(text, 'latentbridge_store_errors_total', { op: 'listSpaces' }), 2)
  t.equal(sample(text, 'latentbridge_store_errors_total', { op: 'ping' }), 1)
})

t.test('translator cache hits, misses, evictions and size are read at scrape time', async t => {
  const server = await testApp(t, { env: { TRANSLATOR_CACHE: '1' } })
  await server.inject({ method: 'PUT', url: '/v1/spaces/a', payload: { dim: 2 } })
  await server.inject({ method: 'PUT', url: '/v1/spaces/b', payload: { dim: 2 } })
  await server.inject({ method: 'PUT', url: '/v1/anchor-sets/s', payload: { ids: ['p', 'q'] } })
  const first = await seedTranslator(server.store, { source: 'a', target: 'b', anchorSet: 's', sourceDim: 2, targetDim: 2 })
  const second = await seedTranslator(server.store, { source: 'a', target: 'b', anchorSet: 's', sourceDim: 2, targetDim: 2, activate: false })
  const before = (await server.inject({ method: 'GET', url: '/metrics' })).body
  t.equal(sample(before, 'latentbridge_translator_cache_hits_total'), 0)
  t.equal(sample(before, 'latentbridge_translator_cache_size'), 0)
  await server.translators.get(first) // miss
  await server.translators.get(first) // hit
  await server.translators.get(first) // hit
  await server.translators.get(second) // miss, evicts first (capacity 1)
  const text = (await server.inject({ method: 'GET', url: '/metrics' })).body
  t.equal(sample(text, 'latentbridge_translator_cache_hits_total'), 2)
  t.equal(sample(text, 'latentbridge_translator_cache_misses_total'), 2)
  t.equal(sample(text, 'latentbridge_translator_cache_evictions_total'), 1)
  t.equal(sample(text, 'latentbridge_translator_cache_size'), 1)
  t.match(text, /# TYPE latentbridge_translator_cache_hits_total counter/)
  // A second scrape reports the same totals (counters are set from the cache, not added to).
  const again = (await server.inject({ method: 'GET', url: '/metrics' })).body
  t.equal(sample(again, 'latentbridge_translator_cache_hits_total'), 2)
  await releaseTranslators(server, [first, second])
})

t.test('METRICS_PORT: /metrics moves to its own server; the API port has none', async t => {
  const server = await testApp(t, { env: { METRICS_PORT: '9464' } })
  const onApi = await server.inject({ method: 'GET', url: '/metrics' })
  isProblem(t, onApi, 'no-route')
  const metrics = buildMetricsServer(server)
  t.teardown(async () => { await metrics.close() })
  await server.inject({ method: 'GET', url: '/v1/spaces' })
  const res = await metrics.inject({ method: 'GET', url: '/metrics' })
  t.equal(res.statusCode, 200)
  t.match(res.headers['content-type'], /text\/plain/)
  t.equal(sample(res.body, 'latentbridge_http_request_duration_seconds_count', { route: '/v1/spaces', status: '200' }), 1, "the app's own figures")
  t.equal(sample(res.body, 'latentbridge_execution_provider', { provider: 'cpu' }), 1)
  const other = await metrics.inject({ method: 'GET', url: '/v1/spaces' })
  isProblem(t, other, 'no-route', 'nothing but /metrics on the metrics port')
  // Without METRICS_PORT, /metrics stays on the API port.
  t.equal((await (await testApp(t)).inject({ method: 'GET', url: '/metrics' })).statusCode, 200)
})

/** A real engine whose probe can be made to fail or hang. */
async function probedEngine (t: { teardown: (fn: () => unknown) => void }): Promise<{ engine: Engine, state: { mode: 'ok' | 'fail' | 'hang', probes: number } }> {
  const real = await testEngine(t)
  const state = { mode: 'ok' as 'ok' | 'fail' | 'hang', probes: 0 }
  const engine: Engine = new Proxy(real, {
    get (target, prop) {
      if (prop === 'probe') {
        return async () => {
          state.probes++
          if (state.mode === 'fail') throw new Error('ORT session failed: provider lost')
          if (state.mode === 'hang') return await new Promise<void>(() => {})
          return await target.probe()
        }
      }
      const value = Reflect.get(target, prop)
      return typeof value === 'function' ? value.bind(target) : value
    }
  })
  return { engine, state }
}

t.test('/readyz re-probes the engine: 503 while the probe fails, 200 again once it passes; /healthz stays up', async t => {
  const { engine, state } = await probedEngine(t)
  const server = await buildApp(loadConfig({ ENGINE_PROBE_INTERVAL_MS: '0' }), { store: new MemoryStore(), engine, logger: false })
  await server.ready()
  t.teardown(async () => { await server.close() })
  t.equal(state.probes, 1, 'the start-up probe')
  t.equal((await server.inject({ method: 'GET', url: '/readyz' })).statusCode, 200)
  state.mode = 'fail'
  const down = await server.inject({ method: 'GET', url: '/readyz' })
  t.equal(down.statusCode, 503)
  t.match(json(down), { status: 'not-ready', store: { ok: true }, compute: { ready: false, error: 'ORT session failed: provider lost', executionProvider: 'cpu' } })
  t.equal((await server.inject({ method: 'GET', url: '/healthz' })).statusCode, 200, 'liveness is unaffected')
  state.mode = 'ok'
  const up = await server.inject({ method: 'GET', url: '/readyz' })
  t.equal(up.statusCode, 200)
  t.equal(json(up).compute.error, undefined)
})

t.test('/readyz probes at most once per ENGINE_PROBE_INTERVAL_MS, and a hung probe fails after ENGINE_PROBE_TIMEOUT_MS', async t => {
  const { engine, state } = await probedEngine(t)
  const server = await buildApp(loadConfig({ ENGINE_PROBE_INTERVAL_MS: '300', ENGINE_PROBE_TIMEOUT_MS: '100' }), { store: new MemoryStore(), engine, logger: false })
  await server.ready()
  t.teardown(async () => { await server.close() })
  const probes = state.probes
  for (let i = 0; i < 5; i++) t.equal((await server.inject({ method: 'GET', url: '/readyz' })).statusCode, 200)
  t.equal(state.probes, probes, 'a fresh result is reused: no probe per call')
  state.mode = 'hang'
  await new Promise(resolve => setTimeout(resolve, 320))
  const started = Date.now()
  const [a, b] = await Promise.all([1, 2].map(async () => await server.inject({ method: 'GET', url: '/readyz' })))
  t.ok(Date.now() - started < 1000, 'answered at the probe timeout')
  t.same([a.statusCode, b.statusCode], [503, 503])
  t.match(json(a).compute.error, /did not finish within 100 ms \(ENGINE_PROBE_TIMEOUT_MS\)/)
  t.equal(state.probes, probes + 1, 'concurrent calls share one probe')
})


t.test('src/server.ts serves /metrics on METRICS_PORT, and exits cleanly on SIGTERM', async t => {
  const [port, metricsPort] = [await freePort(), await freePort()]
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/server.ts'], {
    cwd: new URL('..', import.meta.url).pathname,
    env: { ...process.env, PORT: String(port), HOST: '127.0.0.1', METRICS_PORT: String(metricsPort), LOG_LEVEL: 'warn', ENGINE_WORKERS: '1', ENGINE_THREADS: '1', REDIS_URL: '' },
    stdio: ['ignore', 'pipe', 'pipe']
  })
  let output = ''
  child.stdout.on('data', d => { output += String(d) })
  child.stderr.on('data', d => { output += String(d) })
  const exited = new Promise<number | null>(resolve => child.once('exit', code => resolve(code)))
  t.teardown(() => { if (child.exitCode === null) child.kill('SIGKILL') })
  const get = async (p: number, path: string): Promise<{ status: number, type: string, body: string }> => {
    const res = await fetch(`http://127.0.0.1:${p}${path}`)
    return { status: res.status, type: res.headers.get('content-type') ?? '', body: await res.text() }
  }
  let ready = false
  for (let i = 0; i < 150 && !ready; i++) {
    try {
      await get(metricsPort, '/metrics')
      ready = (await get(port, '/healthz')).status === 200
    } catch {
      await new Promise(resolve => setTimeout(resolve, 100))
    }
  }
  t.ok(ready, `the server came up: ${output.slice(0, 500)}`)
  const metrics = await get(metricsPort, '/metrics')
  t.equal(metrics.status, 200)
  t.match(metrics.body, /latentbridge_build_info/)
  const onApi = await get(port, '/metrics')
  t.equal(onApi.status, 404)
  t.match(onApi.type, /^application\/problem\+json/)
  t.equal(JSON.parse(onApi.body).type, problemType('no-route'))
  child.kill('SIGTERM')
  t.equal(await exited, 0, 'exit code 0 after SIGTERM')
})

t.test('src/server.ts refuses to start on an unreadable API_KEYS_FILE, naming it', async t => {
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/server.ts'], {
    cwd: new URL('..', import.meta.url).pathname,
    env: { ...process.env, API_KEYS_FILE: '/nonexistent/latentbridge-keys', PORT: '0' },
    stdio: ['ignore', 'pipe', 'pipe']
  })
  let stderr = ''
  child.stderr.on('data', d => { stderr += String(d) })
  const code = await new Promise<number | null>(resolve => child.once('exit', c => resolve(c)))
  t.equal(code, 2)
  t.match(stderr, /API_KEYS_FILE="\/nonexistent\/latentbridge-keys": cannot be read \(ENOENT\)/)
})
