import { randomUUID } from 'node:crypto'
import t from 'tap'
import { httpApi, rowsOf, setUpPair, SOURCE_DIM, startService, type Api, type ServiceProcess } from '../helpers/service.js'
import { ownRedisSkipReason, startRedisServer } from '../helpers/redis-server.js'

/*
 * Three real service processes (node --import tsx src/server.ts) on one real Redis, as three
 * replicas behind a load balancer would run: what one does, the others use within a second, and
 * under load, while the active translator flips, every response is exactly one version's output.
 */

const skip = ownRedisSkipReason()

const sleep = async (ms: number): Promise<void> => { await new Promise(resolve => setTimeout(resolve, ms)) }

t.test('three replicas on one Redis', { skip }, async t => {
  const redis = await startRedisServer()
  t.teardown(redis.stop)
  const env = { REDIS_URL: redis.url, REDIS_KEY_PREFIX: `replicas-${randomUUID().slice(0, 8)}` }
  const started = Date.now()
  const services: ServiceProcess[] = await Promise.all([0, 1, 2].map(async () => await startService(env)))
  t.teardown(async () => { await Promise.all(services.map(async s => { await s.stop() })) })
  t.comment(`three processes ready in ${Date.now() - started} ms on ports ${services.map(s => s.port).join(', ')}`)
  const apis: Api[] = services.map(s => httpApi(s.url))
  const names = { source: 'src', target: 'tgt', set: 'pairs' }
  const data = await setUpPair(apis[0], names)
  const probe = rowsOf(data.x.subarray(0, 5 * SOURCE_DIM), SOURCE_DIM)

  const translate = async (api: Api, translator?: string): Promise<{ status: number, version?: number, id?: string, vectors?: number[][] }> => {
    const res = await api('POST', '/v1/translate', { source: 'src', target: 'tgt', vectors: probe, ...(translator !== undefined ? { translator } : {}) })
    return { status: res.status, version: res.body?.translator?.version, id: res.body?.translator?.id, vectors: res.body?.vectors }
  }
  const fit = async (api: Api, body: object): Promise<{ id: string, version: number }> => {
    const res = await api('POST', '/v1/translators', { source: 'src', target: 'tgt', anchorSet: 'pairs', ...body })
    if (res.status !== 201) throw new Error(`fit: ${res.status} ${res.raw.toString()}`)
    return res.body
  }
  const activate = async (api: Api, id: string): Promise<void> => {
    const res = await api('POST', `/v1/translators/${id}/activate`)
    if (res.status !== 200) throw new Error(`activate: ${res.status} ${res.raw.toString()}`)
  }
  /** How long until every other replica's translate call reports `version` (fails after 1 s). */
  const seenBy = async (others: Api[], version: number): Promise<number> => {
    const start = Date.now()
    for (const api of others) {
      while ((await translate(api)).version !== version) {
        if (Date.now() - start > 1000) return Infinity
        await sleep(10)
      }
    }
    return Date.now() - start
  }

  const v1 = await fit(apis[0], { scaling: 'center' })
  const fitSeen = await seenBy([apis[1], apis[2]], 1)
  t.ok(fitSeen <= 1000, `a fit on replica 0 is used by replicas 1 and 2 after ${fitSeen} ms`)
  const v2 = await fit(apis[1], { method: 'linear', scaling: 'none' })
  t.equal(v2.version, 2)
  t.equal((await translate(apis[2])).version, 1, 'fitted without activate: version 1 stays active')
  await activate(apis[2], v2.id)
  const activationSeen = await seenBy([apis[0], apis[1]], 2)
  t.ok(activationSeen <= 1000, `an activation on replica 2 is used by replicas 0 and 1 after ${activationSeen} ms`)

  // Each version's output, from each replica, by naming the translator.
  const known = new Map<number, number[][][]>()
  for (const v of [v1, v2]) {
    const outputs = await Promise.all(apis.map(async api => (await translate(api, v.id)).vectors!))
    known.set(v.version, outputs)
    t.same(outputs[1], outputs[0], `version ${v.version}: replicas 0 and 1 compute the same floats`)
    t.same(outputs[2], outputs[0], `version ${v.version}: replicas 0 and 2 compute the same floats`)
  }
  const difference = Math.max(...known.get(1)![0].flat().map((value, i) => Math.abs(value - known.get(2)![0].flat()[i])))
  t.ok(difference > 1e-3, `the two versions' outputs differ (by up to ${difference.toFixed(4)})`)

  // Load: four clients per replica translating without a translator id, while the active
  // translator flips between the versions every 300 ms through alternating replicas.
  await activate(apis[0], v1.id)
  interface Sample { replica: number, sentAt: number, receivedAt: number, status: number, version?: number, id?: string, vectors?: number[][] }
  const samples: Sample[] = []
  const activations: Array<{ version: number, sentAt: number, ackAt: number }> = [{ version: 1, sentAt: 0, ackAt: 0 }]
  let running = true
  const client = async (replica: number): Promise<void> => {
    while (running) {
      const sentAt = performance.now()
      const result = await translate(apis[replica]).catch(() => ({ status: 0 }))
      samples.push({ replica, sentAt, receivedAt: performance.now(), ...result })
    }
  }
  const clients = [0, 1, 2].flatMap(replica => [0, 1, 2, 3].map(async () => await client(replica)))
  for (let flip = 0; flip < 6; flip++) {
    await sleep(300)
    const target = flip % 2 === 0 ? v2 : v1
    const sentAt = performance.now()
    await activate(apis[flip % 3], target.id)
    activations.push({ version: target.version, sentAt, ackAt: performance.now() })
  }
  await sleep(300)
  running = false
  await Promise.all(clients)

  const failed = samples.filter(s => s.status !== 200)
  t.equal(failed.length, 0, `all ${samples.length} translate calls answered 200`)
  let mixed = 0
  let wrongVersion = 0
  const perVersion = new Map<number, number>()
  for (const s of samples) {
    if (s.status !== 200) continue
    perVersion.set(s.version!, (perVersion.get(s.version!) ?? 0) + 1)
    const expected = known.get(s.version!)?.[s.replica]
    const id = s.version === 1 ? v1.id : s.version === 2 ? v2.id : undefined
    if (expected === undefined || s.id !== id || JSON.stringify(s.vectors) !== JSON.stringify(expected)) mixed++
    // The active pointer is read from Redis on every call, so a call uses the version of the last
    // activation acknowledged before it was sent, or of one sent while it was in flight; never an
    // older one.
    const settled = activations.reduce((last, a, i) => a.ackAt <= s.sentAt ? i : last, 0)
    const allowed = activations.filter((a, i) => i >= settled && (i === settled || a.sentAt < s.receivedAt)).map(a => a.version)
    if (!allowed.includes(s.version!)) wrongVersion++
  }
  t.equal(mixed, 0, 'every response is exactly version 1\'s or exactly version 2\'s output, as its translator.version says')
  t.equal(wrongVersion, 0, 'no call used a version older than the last activation acknowledged before it was sent')
  t.ok((perVersion.get(1) ?? 0) > 20 && (perVersion.get(2) ?? 0) > 20, `both versions served under load (v1: ${perVersion.get(1)}, v2: ${perVersion.get(2)})`)
  t.comment(`${samples.length} translate calls through 3 replicas in ${(6 * 300 + 300) / 1000} s across 6 activations; ` +
    `per replica: ${[0, 1, 2].map(r => samples.filter(s => s.replica === r).length).join(', ')}`)
})
