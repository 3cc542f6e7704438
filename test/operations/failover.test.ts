import { randomUUID } from 'node:crypto'
import t from 'tap'
import { ownRedisSkipReason, startRedisServer } from '../helpers/redis-server.js'
import { bytes, httpApi, rowsOf, startService, values, type Api, type ServiceProcess } from '../helpers/service.js'

/*
 * The core of durable operations, on real processes: two replicas on one real redis-server. A fit
 * runs on one; that replica is SIGKILLed mid-fit (chosen by the operation's own log line once the
 * fit reports progress); the other replica's stalled-job check puts the job back and runs it to
 * the end. Exactly one translator is stored, and it translates exactly as a clean run of the same
 * fit (same seed) does. Then the finished operation survives a restart of the service.
 */

const skip = ownRedisSkipReason()

const ROWS = 400
const DIM = 64
const FIT = { source: 'a', target: 'b', anchorSet: 'long', method: 'auto', seed: 5 }

async function ok (res: Promise<{ status: number, raw: Buffer }>, what: string): Promise<void> {
  const r = await res
  if (r.status >= 300) throw new Error(`${what}: ${r.status} ${r.raw.toString()}`)
}

async function operation (api: Api, id: string, wait = 0): Promise<any> {
  const res = await api('GET', `/v1/operations/${id}${wait > 0 ? `?wait=${wait}` : ''}`)
  if (res.status !== 200) throw new Error(`GET operation: ${res.status} ${res.raw.toString()}`)
  return res.body
}

t.test('a replica killed mid-fit: the other finishes it, one translator, as a clean run', { skip }, async t => {
  const redis = await startRedisServer()
  t.teardown(redis.stop)
  const env = {
    REDIS_URL: redis.url,
    REDIS_KEY_PREFIX: `failover-${randomUUID().slice(0, 8)}`,
    // Fast failover for the test: a lost lock expires after 3 s, checked every 500 ms.
    OPERATION_LOCK_MS: '3000',
    OPERATION_STALLED_INTERVAL_MS: '500',
    WORK_TIME_MS: '3600000'
  }
  const services: ServiceProcess[] = await Promise.all([0, 1].map(async () => await startService(env)))
  t.teardown(async () => { await Promise.all(services.map(async s => { await s.stop() })) })
  const apis = services.map(s => httpApi(s.url))

  await ok(apis[0]('PUT', '/v1/spaces/a', { dim: DIM }), 'space a')
  await ok(apis[0]('PUT', '/v1/spaces/b', { dim: DIM }), 'space b')
  await ok(apis[0]('PUT', '/v1/anchor-sets/long', { ids: Array.from({ length: ROWS }, (_, i) => `id-${i}`) }), 'set')
  await ok(apis[0]('PUT', '/v1/anchor-sets/long/embeddings/a', bytes(values(ROWS * DIM, 1))), 'embeddings a')
  await ok(apis[0]('PUT', '/v1/anchor-sets/long/embeddings/b', bytes(values(ROWS * DIM, 2))), 'embeddings b')

  const started = await apis[0]('POST', '/v1/translators', FIT, { prefer: 'respond-async' })
  t.equal(started.status, 202)
  const id: string = started.body.id

  // The replica running it: the one whose log has the operation's start, once some folds are done.
  let before: any
  do {
    before = await operation(apis[0], id)
    await new Promise(resolve => setTimeout(resolve, 20))
  } while ((before.progress === null || before.progress.done < 2) && before.finishedAt === null)
  t.equal(before.status, 'running', 'the fit is running when its replica is killed')
  const runner = services.findIndex(s => s.logs().some(l => l.msg === 'operation started' && l.operationId === id))
  t.ok(runner >= 0, `replica ${runner} runs operation ${id}`)
  const survivor = 1 - runner
  t.comment(`killing replica ${runner} at ${before.progress.phase} ${before.progress.done}/${before.progress.total} (fraction ${before.progress.fraction})`)
  services[runner].signal('SIGKILL')
  const killedAt = (await services[runner].exited).at

  let done: any
  do done = await operation(apis[survivor], id, 30)
  while (done.finishedAt === null)
  t.comment(`finished by replica ${survivor} ${Date.now() - killedAt} ms after the kill`)
  t.match(done, { status: 'succeeded', attempts: 2, progress: { fraction: 1 } })
  t.ok(done.progress.fraction >= before.progress.fraction, 'progress did not go back over the failover')
  t.ok(services[survivor].logs().some(l => l.msg === 'operation started' && l.operationId === id && l.attempt === 2), 'the survivor ran it, as attempt 2, its log lines carrying the operation id')
  const metrics = await fetch(`${services[survivor].url}/metrics`).then(async r => await r.text())
  const stalls = /latentbridge_operation_stalls_total (\d+)/.exec(metrics)?.[1]
  t.equal(stalls, '1', 'the survivor counted the stall')

  const listed = (await apis[survivor]('GET', '/v1/translators')).body.translators
  t.same(listed.map((l: { id: string }) => l.id), [id], 'exactly one translator, under the operation id')

  // A clean run of the same fit on the survivor: the same map, row for row.
  const clean = await apis[survivor]('POST', '/v1/translators', FIT)
  t.equal(clean.status, 201)
  const probe = rowsOf(values(5 * DIM, 9), DIM)
  const translate = async (translator: string): Promise<number[][]> =>
    (await apis[survivor]('POST', '/v1/translate', { source: 'a', target: 'b', vectors: probe, translator })).body.vectors
  t.same(await translate(id), await translate(clean.body.id), 'the failed-over translator translates exactly as a clean run')
  t.equal(done.result.method, clean.body.method)
  t.same(done.result.diagnostics.candidates?.map((c: { top1: number }) => c.top1), clean.body.diagnostics.candidates?.map((c: { top1: number }) => c.top1), 'the same selection')

  // Finished operations outlive the process: restart the service and read it again.
  await services[survivor].stop()
  const restarted = await startService(env)
  services.push(restarted)
  const after = await operation(httpApi(restarted.url), id)
  t.match(after, { id, status: 'succeeded', attempts: 2, result: { id } })
  t.same(after.result, done.result, 'the same result after a restart')
})
