import t, { type Test } from 'tap'
import type { FastifyInstance } from 'fastify'
import { problemType, testApp, testEngine } from '../helpers/app.js'
import { buildApp } from '../../src/app.js'
import { loadConfig } from '../../src/config.js'
import { values } from '../helpers/data.js'
import { redisForTests, redisSkipReason } from '../helpers/redis-server.js'
import { bytes, injectApi, pairData, rowsOf, setUpPair, SOURCE_DIM, TARGET_DIM, type Api } from '../helpers/service.js'

/*
 * Operations through the real app, on the memory store (in-process queue) and on a real Redis
 * (BullMQ): the async fit and its long poll, progress, cancel, Idempotency-Key, ASYNC_AFTER_MS,
 * a full queue, the list. Waits are on what the operation shows, never on clocks.
 */

type Factory = (t: Test, env?: Record<string, string>) => Promise<FastifyInstance>

const memory: Factory = async (t, env = {}) => await testApp(t, { env })

/** The app as the server builds it from REDIS_URL: its own Redis store, and so BullMQ for operations. */
const redis: Factory = async (t, env = {}) => {
  const server = await redisForTests(t)
  const prefix = server.newPrefix()
  const config = loadConfig({ MAX_EVENT_LOOP_DELAY_MS: '0', MAX_HEAP_USED_BYTES: '0', ASYNC_AFTER_MS: '86400000', REDIS_URL: server.url, REDIS_KEY_PREFIX: prefix, ...env })
  const app = await buildApp(config, { engine: await testEngine(t), logger: false })
  await app.ready()
  t.teardown(async () => { await app.close() })
  if (app.operations.queue.backend !== 'bullmq') throw new Error('expected the BullMQ queue')
  return app
}

const NAMES = { source: 'src', target: 'tgt', set: 'set' }
const SMALL_FIT = { source: 'src', target: 'tgt', anchorSet: 'set', method: 'auto', seed: 3 }
const ASYNC = { prefer: 'respond-async' }

/** Spaces big and long to fit ('auto': 52 configurations × 5 folds on 400 × 64 rows). */
async function setUpLong (api: Api): Promise<void> {
  const ROWS = 400
  const DIM = 64
  await api('PUT', '/v1/spaces/a', { dim: DIM })
  await api('PUT', '/v1/spaces/b', { dim: DIM })
  await api('PUT', '/v1/anchor-sets/long', { ids: Array.from({ length: ROWS }, (_, i) => `id-${i}`) })
  await api('PUT', '/v1/anchor-sets/long/embeddings/a', bytes(values(ROWS * DIM, 1)))
  await api('PUT', '/v1/anchor-sets/long/embeddings/b', bytes(values(ROWS * DIM, 2)))
}
const LONG_FIT = { source: 'a', target: 'b', anchorSet: 'long', method: 'auto' }

async function until (what: string, check: () => Promise<boolean>): Promise<void> {
  // The test's own timeout bounds the wait.
  while (!(await check())) await new Promise(resolve => setTimeout(resolve, 10))
}

async function operation (api: Api, id: string, wait = 0): Promise<any> {
  const res = await api('GET', `/v1/operations/${id}${wait > 0 ? `?wait=${wait}` : ''}`)
  if (res.status !== 200) throw new Error(`GET operation ${id}: ${res.status} ${res.raw.toString()}`)
  return res.body
}

async function finished (api: Api, id: string): Promise<any> {
  for (;;) {
    const op = await operation(api, id, 30)
    if (op.finishedAt !== null) return op
  }
}

/** The rows setUpPair uploads (its default rows and seed). */
const setUpPairData = async (): Promise<{ x: Float32Array, y: Float32Array }> => pairData(80, 11)

const translatorCount = async (api: Api): Promise<number> => (await api('GET', '/v1/translators')).body.translators.length

function suite (t: Test, name: string, factory: Factory): void {
  t.test(`${name}: Prefer: respond-async answers 202 and the operation; its long poll ends with the translator, progress never going back`, async t => {
    const app = await factory(t)
    const api = injectApi(app)
    await setUpPair(api, NAMES)
    const res = await api('POST', '/v1/translators', SMALL_FIT, ASYNC)
    t.equal(res.status, 202, 'answered 202')
    const op = res.body
    t.equal(res.headers.location, `/v1/operations/${op.id}`)
    t.equal(res.headers['preference-applied'], 'respond-async')
    t.match(op, { kind: 'fit', attempts: Number, createdAt: String })
    t.ok(['queued', 'running'].includes(op.status), op.status)

    const fractions: number[] = []
    const phases: string[] = []
    let last = op
    while (last.finishedAt === null) {
      last = await operation(api, op.id)
      if (last.progress !== null) {
        fractions.push(last.progress.fraction)
        if (phases[phases.length - 1] !== last.progress.phase) phases.push(last.progress.phase)
      }
      await new Promise(resolve => setImmediate(resolve))
    }
    t.comment(`${fractions.length} progress readings; phases seen: ${phases.join(', ')}`)
    t.ok(fractions.every((f, i) => i === 0 || f >= fractions[i - 1]), 'progress never goes backwards')
    const done = await operation(api, op.id, 5)
    t.match(done, { status: 'succeeded', attempts: 1, progress: { phase: 'confidence', done: 1, total: 1, fraction: 1 } })
    t.equal(done.result.id, op.id, 'the translator is stored under the operation id')
    const stored = await api('GET', `/v1/translators/${op.id}`)
    t.same(stored.body, done.result, 'the result is the stored translator as the sync route answers it')
    t.equal(await translatorCount(api), 1)

    // An evaluation as an operation answers what the synchronous evaluation answers.
    const rows = 20
    const pair = await setUpPairData()
    const evalBody = { vectors: rowsOf(pair.x.subarray(0, rows * SOURCE_DIM), SOURCE_DIM), targetVectors: rowsOf(pair.y.subarray(0, rows * TARGET_DIM), TARGET_DIM), k: 5 }
    const syncEval = await api('POST', `/v1/translators/${op.id}/evaluate`, evalBody)
    t.equal(syncEval.status, 200)
    const asyncEval = await api('POST', `/v1/translators/${op.id}/evaluate`, evalBody, ASYNC)
    t.equal(asyncEval.status, 202)
    const evaluated = await finished(api, asyncEval.body.id)
    t.match(evaluated, { kind: 'evaluate', status: 'succeeded' })
    t.same(evaluated.result, syncEval.body, 'the evaluation operation has the synchronous answer as its result')

    const listed = await api('GET', '/v1/operations?status=succeeded&kind=fit')
    t.same(listed.body.operations.map((o: { id: string }) => o.id), [op.id])
    t.same((await api('GET', '/v1/operations?status=running')).body.operations, [])
    t.equal((await api('GET', '/v1/operations?kind=evaluate')).body.operations.length, 1)
    const metrics = (await api('GET', '/metrics')).raw.toString()
    t.match(metrics, /latentbridge_operation_duration_seconds_count\{kind="fit",outcome="succeeded"\} 1\n/, 'the fit\'s run is measured by kind and outcome')
    t.match(metrics, /latentbridge_operations_queued 0\n/)
    t.match(metrics, /latentbridge_operations_running 0\n/)
    const missing = await api('GET', '/v1/operations/00000000-0000-4000-8000-000000000000')
    t.equal(missing.status, 404)
    t.equal(missing.body.type, problemType('not-found'))
    t.equal((await api('GET', `/v1/operations/${op.id}?wait=61`)).status, 400, 'wait is bounded')
  })

  t.test(`${name}: cancel stops a running fit, stores nothing, and frees the worker`, async t => {
    const app = await factory(t)
    const api = injectApi(app)
    await setUpLong(api)
    await setUpPair(api, NAMES)
    const long = (await api('POST', '/v1/translators', LONG_FIT, ASYNC)).body
    await until('the long fit to report progress', async () => (await operation(api, long.id)).progress !== null)
    t.ok(app.workPool.inUse > 0, 'the running job holds its memory reservation')
    const cancelling = await api('POST', `/v1/operations/${long.id}/cancel`)
    t.equal(cancelling.status, 200)
    const cancelled = await finished(api, long.id)
    t.match(cancelled, { status: 'cancelled', error: { type: problemType('cancelled'), status: 409 } })
    t.notOk('result' in cancelled)
    t.equal(await translatorCount(api), 0, 'nothing stored')
    t.equal(app.workPool.inUse, 0, 'the reservation is released')
    t.match((await api('GET', '/metrics')).raw.toString(), /latentbridge_operation_duration_seconds_count\{kind="fit",outcome="cancelled"\} 1\n/)
    const next = (await api('POST', '/v1/translators', SMALL_FIT, ASYNC)).body
    t.equal((await finished(api, next.id)).status, 'succeeded', 'the worker ran the next job')
    t.equal(await translatorCount(api), 1)
  })

  t.test(`${name}: Idempotency-Key: ten concurrent identical fits store one translator; another body is a 422`, async t => {
    const app = await factory(t)
    const api = injectApi(app)
    await setUpPair(api, NAMES)
    const headers = { 'idempotency-key': 'fit-0001' }
    const answers = await Promise.all(Array.from({ length: 10 }, async () => await api('POST', '/v1/translators', SMALL_FIT, headers)))
    t.same(answers.map(a => a.status), Array(10).fill(201), 'each answered synchronously')
    t.equal(new Set(answers.map(a => a.body.id)).size, 1, 'one translator id')
    t.equal(await translatorCount(api), 1, 'one translator stored')
    const again = await api('POST', '/v1/translators', SMALL_FIT, headers)
    t.same([again.status, again.body.id], [201, answers[0].body.id], 'replayed: the same translator')
    const asOperation = await api('POST', '/v1/translators', SMALL_FIT, { ...headers, ...ASYNC })
    t.same([asOperation.status, asOperation.body.id, asOperation.body.status], [202, answers[0].body.id, 'succeeded'], 'the same key asked async: its operation')
    const other = await api('POST', '/v1/translators', { ...SMALL_FIT, seed: 4 }, headers)
    t.equal(other.status, 422)
    t.equal(other.body.type, problemType('idempotency-key-reused'))
    t.equal(await translatorCount(api), 1)
  })

  t.test(`${name}: past ASYNC_AFTER_MS a fit without Prefer is an operation too; a full queue answers 429`, async t => {
    const app = await factory(t, { ASYNC_AFTER_MS: '0', OPERATIONS_MAX_QUEUED: '1', OPERATIONS_RETRY_AFTER_S: '9' })
    const api = injectApi(app)
    await setUpLong(api)
    const first = await api('POST', '/v1/translators', LONG_FIT)
    t.equal(first.status, 202)
    t.equal(first.headers['preference-applied'], undefined, 'not asked for: no Preference-Applied')
    await until('the first fit to run', async () => (await operation(api, first.body.id)).status === 'running')
    const second = await api('POST', '/v1/translators', LONG_FIT)
    t.equal(second.status, 202)
    t.equal((await operation(api, second.body.id)).status, 'queued', 'one worker: the second waits')
    const third = await api('POST', '/v1/translators', LONG_FIT)
    t.equal(third.status, 429)
    t.equal(third.body.type, problemType('operations-full'))
    t.equal(third.headers['retry-after'], '9')
    await api('POST', `/v1/operations/${second.body.id}/cancel`)
    await api('POST', `/v1/operations/${first.body.id}/cancel`)
    t.equal((await finished(api, first.body.id)).status, 'cancelled')
    t.equal((await finished(api, second.body.id)).status, 'cancelled')
    t.equal(await translatorCount(api), 0)
  })
}

suite(t, 'memory store', memory)
t.test('Redis store (BullMQ)', { skip: redisSkipReason() }, async t => { suite(t, 'redis', redis) })
