import { createHash } from 'node:crypto'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Redis } from 'ioredis'
import t from 'tap'
import { buildApp } from '../../src/app.js'
import { loadConfig } from '../../src/config.js'
import { problemType, testEngine } from '../helpers/app.js'
import { ownRedisSkipReason, startRedisServer, waitUntil, type RedisServer } from '../helpers/redis-server.js'
import { bytes, injectApi, pairData, setUpPair, SOURCE_DIM, TARGET_DIM, type Api } from '../helpers/service.js'

/*
 * Crash consistency: redis-server (appendonly yes, appendfsync always) is killed with SIGKILL in
 * the middle of a burst of uploads, fits and activations made through the API by four concurrent
 * clients, then restarted from its AOF. Afterwards every object in the store is whole (checked
 * key by key, raw), and every write the API acknowledged with a 2xx is there, as acknowledged.
 */

const skip = ownRedisSkipReason()
const WORKERS = 4
const SET_ROWS = 40
const PREFIX = 'crash'

type Ack =
  | { kind: 'set', set: string }
  | { kind: 'embeddings', set: string, space: string, sha: string }
  | { kind: 'fit', worker: number, id: string, version: number, active: boolean }
  | { kind: 'activate', worker: number, id: string }

interface Worker {
  acks: Ack[]
  /** The write whose answer was not a 2xx (Redis died under it or before it): applied or not. */
  inDoubt: { kind: Ack['kind'], status: number, type?: string, set?: string, space?: string, id?: string } | null
}

const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex')

async function burst (api: Api, w: number, worker: Worker, firstId: string, stop: () => boolean): Promise<void> {
  const src = `src-${w}`
  const tgt = `tgt-${w}`
  const enc = encodeURIComponent
  const attempt = async (what: { kind: Ack['kind'], set?: string, space?: string, id?: string }, method: string, url: string, payload?: object | Buffer) => {
    const res = await api(method, url, payload)
    if (res.status >= 200 && res.status < 300) return res
    worker.inDoubt = { ...what, status: res.status, type: res.body?.type }
    return null
  }
  for (let i = 0; !stop(); i++) {
    const set = `set-${w}-${i}`
    if (await attempt({ kind: 'set', set }, 'PUT', `/v1/anchor-sets/${set}`, { ids: Array.from({ length: SET_ROWS }, (_, k) => `item-${k}`) }) === null) return
    worker.acks.push({ kind: 'set', set })
    const data = pairData(SET_ROWS, 1000 * w + i)
    for (const [space, values] of [[src, data.x], [tgt, data.y]] as const) {
      const body = bytes(values)
      if (await attempt({ kind: 'embeddings', set, space }, 'PUT', `/v1/anchor-sets/${set}/embeddings/${enc(space)}`, body) === null) return
      worker.acks.push({ kind: 'embeddings', set, space, sha: sha(body) })
    }
    const fitted = await attempt({ kind: 'fit', set }, 'POST', '/v1/translators',
      { source: src, target: tgt, anchorSet: set, method: 'linear', scaling: 'none', holdout: 0, activate: i % 2 === 0 })
    if (fitted === null) return
    worker.acks.push({ kind: 'fit', worker: w, id: fitted.body.id, version: fitted.body.version, active: fitted.body.active })
    if (i % 3 === 2) {
      if (await attempt({ kind: 'activate', id: firstId }, 'POST', `/v1/translators/${firstId}/activate`) === null) return
      worker.acks.push({ kind: 'activate', worker: w, id: firstId })
    }
  }
}

/** Every key of the prefix, raw, checked for wholeness and consistency. Returns the problems found. */
async function integrityProblems (admin: Redis, prefix: string): Promise<{ problems: string[], keys: number }> {
  const tag = `{${prefix}}:`
  const keys: string[] = []
  let cursor = '0'
  do {
    const [next, batch] = await admin.scan(cursor, 'MATCH', `\\{${prefix}\\}:*`, 'COUNT', 1000)
    keys.push(...batch)
    cursor = next
  } while (cursor !== '0')
  const problems: string[] = []
  const problem = (s: string): void => { problems.push(s) }
  const hash = async (key: string): Promise<Record<string, string>> => await admin.hgetall(key)
  const spaces = new Map(Object.entries(await hash(`${tag}spaces`)).map(([name, json]) => [name, JSON.parse(json) as { name: string, dim: number }]))
  const sets = new Map(Object.entries(await hash(`${tag}sets`)).map(([name, json]) => [name, JSON.parse(json) as { name: string, size: number }]))
  const translators = new Map(Object.entries(await hash(`${tag}translators`)).map(([id, json]) => [id, JSON.parse(json) as any]))
  const refs = await hash(`${tag}tr-refs`)
  const active = await hash(`${tag}active`)
  const versions = await hash(`${tag}versions`)
  for (const [name, s] of spaces) if (s.name !== name || !Number.isInteger(s.dim)) problem(`space ${name} malformed`)
  const setIds = new Map<string, string[]>()
  for (const [name, s] of sets) {
    const ids = await admin.get(`${tag}set-ids:${name}`)
    if (ids === null) { problem(`set ${name} has no ids`); continue }
    const parsed = JSON.parse(ids) as string[]
    if (s.name !== name || parsed.length !== s.size) problem(`set ${name}: ${parsed.length} ids, size ${s.size}`)
    setIds.set(name, parsed)
  }
  for (const key of keys) {
    const rest = key.slice(tag.length)
    if (['spaces', 'sets', 'translators', 'tr-refs', 'active', 'versions'].includes(rest)) continue
    if (rest.startsWith('set-ids:')) {
      if (!sets.has(rest.slice(8))) problem(`ids of a set that does not exist: ${rest}`)
    } else if (rest.startsWith('set-spaces:')) {
      const set = rest.slice(11)
      if (!sets.has(set)) problem(`index of a set that does not exist: ${rest}`)
      for (const [space, summary] of Object.entries(await hash(key))) {
        const stored = await admin.hget(`${tag}emb:${set}|${space}`, 'meta')
        if (stored !== summary) problem(`index ${set}|${space} disagrees with its embeddings`)
      }
    } else if (rest.startsWith('emb:')) {
      const [set, space] = rest.slice(4).split('|')
      const fields = await admin.hgetallBuffer(key)
      if (fields.ids === undefined || fields.data === undefined || fields.meta === undefined) { problem(`embeddings ${set}|${space} incomplete`); continue }
      const meta = JSON.parse(fields.meta.toString()) as { rows: number, dim: number }
      const ids = JSON.parse(fields.ids.toString()) as string[]
      if (fields.data.length !== meta.rows * meta.dim * 4) problem(`embeddings ${set}|${space}: ${fields.data.length} bytes for ${meta.rows} x ${meta.dim}`)
      if (ids.length !== meta.rows) problem(`embeddings ${set}|${space}: ${ids.length} ids for ${meta.rows} rows`)
      if (!sets.has(set) || ids.some(id => !setIds.get(set)!.includes(id))) problem(`embeddings ${set}|${space}: ids not in the set`)
      if (spaces.get(space)?.dim !== meta.dim) problem(`embeddings ${set}|${space}: the space's dim is not ${meta.dim}`)
      if (await admin.hget(`${tag}set-spaces:${set}`, space) === null) problem(`embeddings ${set}|${space} missing from the set's index`)
    } else if (rest.startsWith('tr-params:')) {
      if (!translators.has(rest.slice(10))) problem(`parameters of a translator that does not exist: ${rest}`)
    } else {
      problem(`unknown key ${key}`)
    }
  }
  const maxVersion = new Map<string, number>()
  const seen = new Set<string>()
  for (const [id, meta] of translators) {
    const pair = `${meta.source}|${meta.target}`
    if (refs[id] !== JSON.stringify([meta.source, meta.target, meta.anchorSet])) problem(`translator ${id}: refs ${refs[id]}`)
    const params = await admin.hgetallBuffer(`${tag}tr-params:${id}`)
    const s = meta.settings
    const want: Record<string, number> = { sourceMean: s.sourceDim, sourceScale: s.sourceDim, weight: s.sourceDim * s.targetDim, bias: s.targetDim, targetScale: s.targetDim, targetMean: s.targetDim }
    for (const [name, n] of Object.entries(want)) if (params[name]?.length !== n * 4) problem(`translator ${id}: parameter ${name} has ${params[name]?.length ?? 'no'} bytes, not ${n * 4}`)
    if (spaces.get(meta.source)?.dim !== meta.sourceDim || spaces.get(meta.target)?.dim !== meta.targetDim) problem(`translator ${id}: its spaces are gone or changed`)
    if (!sets.has(meta.anchorSet)) problem(`translator ${id}: its anchor set is gone`)
    if (seen.has(`${pair}#${meta.version}`)) problem(`translator ${id}: version ${meta.version} of ${pair} used twice`)
    seen.add(`${pair}#${meta.version}`)
    maxVersion.set(pair, Math.max(maxVersion.get(pair) ?? 0, meta.version))
  }
  for (const id of Object.keys(refs)) if (!translators.has(id)) problem(`refs of a translator that does not exist: ${id}`)
  for (const [pair, max] of maxVersion) if (Number(versions[pair] ?? 0) < max) problem(`pair ${pair}: version counter ${versions[pair]} below version ${max}`)
  for (const [pair, id] of Object.entries(active)) {
    const meta = translators.get(id)
    if (meta === undefined || `${meta.source}|${meta.target}` !== pair) problem(`pair ${pair}: active translator ${id} does not exist or maps another pair`)
  }
  return { problems, keys: keys.length }
}

t.test('SIGKILL of redis-server during a burst of writes, restart from the AOF', { skip }, async t => {
  const dir = mkdtempSync(join(tmpdir(), 'latentbridge-crash-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const aof = ['--appendonly', 'yes', '--appendfsync', 'always']
  let redis: RedisServer = await startRedisServer({ dir, args: aof })
  const port = redis.port
  t.teardown(async () => { await redis.stop() })
  const engine = await testEngine(t)
  const app = await buildApp(loadConfig({ REDIS_URL: redis.url, REDIS_KEY_PREFIX: PREFIX }), { engine, logger: false })
  await app.ready()
  t.teardown(async () => { await app.close() })
  const api = injectApi(app)

  // Each client owns a pair of spaces with a first, active translator.
  const firstIds: string[] = []
  for (let w = 0; w < WORKERS; w++) {
    await setUpPair(api, { source: `src-${w}`, target: `tgt-${w}`, set: `base-${w}` }, 60, 50 + w)
    const first = await api('POST', '/v1/translators', { source: `src-${w}`, target: `tgt-${w}`, anchorSet: `base-${w}`, holdout: 0 })
    t.equal(first.status, 201)
    firstIds.push(first.body.id)
  }

  const workers: Worker[] = Array.from({ length: WORKERS }, () => ({ acks: [], inDoubt: null }))
  let stopped = false
  const acked = (): number => workers.reduce((n, w) => n + w.acks.length, 0)
  const burstStarted = Date.now()
  const running = workers.map(async (worker, w) => await burst(api, w, worker, firstIds[w], () => stopped))
  await waitUntil('a good part of the burst', () => acked() >= 250, 30_000, 2)
  const ackedBeforeKill = acked()
  const killedAt = Date.now()
  await redis.kill('SIGKILL')
  // The clients run into the outage and stop at their first failure.
  let first503 = -1
  await waitUntil('a request that needs Redis to answer 503', async () => {
    const res = await api('GET', '/v1/spaces/src-0')
    if (res.status === 503 && first503 < 0) first503 = Date.now() - killedAt
    return res.status === 503
  }, 2000, 5)
  await Promise.race([Promise.all(running), new Promise(resolve => setTimeout(resolve, 2000))])
  stopped = true
  await Promise.all(running)
  const ackedTotal = acked()
  t.ok(workers.every(w => w.inDoubt !== null), 'every client ran into the outage')
  t.ok(workers.every(w => w.inDoubt === null || (w.inDoubt.status === 503 && w.inDoubt.type === problemType('unavailable'))), `and got 503 unavailable (${workers.map(w => `${w.inDoubt?.status} ${w.inDoubt?.type}`).join(', ')})`)
  t.equal((await api('GET', '/readyz')).status, 503, '/readyz is 503 during the outage')

  await new Promise(resolve => setTimeout(resolve, 500))
  const restartedAt = Date.now()
  redis = await startRedisServer({ port, dir, args: aof })
  const loadedMs = Date.now() - restartedAt
  await waitUntil('/readyz to answer 200', async () => (await api('GET', '/readyz')).status === 200, 5000, 10)
  const backMs = Date.now() - restartedAt

  // Whole objects, raw.
  const admin = new Redis(redis.port, '127.0.0.1')
  admin.on('error', () => {})
  t.teardown(() => { admin.disconnect() })
  const { problems, keys } = await integrityProblems(admin, PREFIX)
  t.same(problems, [], `every object whole and consistent (${keys} keys checked)`)

  // Every acknowledged write, as acknowledged, through the API.
  let found = 0
  const missing: string[] = []
  for (const [w, worker] of workers.entries()) {
    for (const ack of worker.acks) {
      let ok = false
      if (ack.kind === 'set') {
        const res = await api('GET', `/v1/anchor-sets/${ack.set}`)
        ok = res.status === 200 && res.body.size === SET_ROWS
      } else if (ack.kind === 'embeddings') {
        const res = await api('GET', `/v1/anchor-sets/${ack.set}/embeddings/${ack.space}`, undefined, { accept: 'application/octet-stream' })
        ok = res.status === 200 && sha(res.raw) === ack.sha
      } else if (ack.kind === 'fit') {
        const res = await api('GET', `/v1/translators/${ack.id}`)
        ok = res.status === 200 && res.body.version === ack.version && res.body.anchorSet !== undefined
      } else {
        ok = (await api('GET', `/v1/translators/${ack.id}`)).status === 200
      }
      if (ok) found++
      else missing.push(`${w}: ${JSON.stringify(ack)}`)
    }
    // The pair's active translator: the last acknowledged activation (a fit with active: true, or
    // an activate), unless the write in doubt was itself an activation that went through.
    const last = [...worker.acks].reverse().find(a => (a.kind === 'fit' && a.active) || a.kind === 'activate') as { id: string } | undefined
    const expected = last?.id ?? firstIds[w]
    const listed = (await api('GET', `/v1/translators?source=src-${w}&target=tgt-${w}`)).body.translators as Array<{ id: string, version: number, active: boolean }>
    const activeNow = listed.find(l => l.active)?.id
    const ackedIds = new Set(worker.acks.filter(a => a.kind === 'fit').map(a => (a as { id: string }).id).concat(firstIds[w]))
    const doubt = worker.inDoubt
    const allowed = activeNow === expected ||
      (doubt?.kind === 'activate' && activeNow === doubt.id) ||
      (doubt?.kind === 'fit' && activeNow !== undefined && !ackedIds.has(activeNow))
    t.ok(allowed, `client ${w}: the active translator is the last acknowledged one (${activeNow === expected ? 'it is' : `or the write in doubt: ${doubt?.kind}`})`)
    const unacknowledged = listed.filter(l => !ackedIds.has(l.id))
    t.ok(unacknowledged.length <= (doubt?.kind === 'fit' ? 1 : 0), `client ${w}: no translator beyond the acknowledged ones, but the fit in doubt (${unacknowledged.length})`)
    const ackedVersions = worker.acks.filter(a => a.kind === 'fit').map(a => (a as { version: number }).version)
    t.ok(ackedVersions.every((v, i) => i === 0 || v > ackedVersions[i - 1]), `client ${w}: acknowledged versions increase`)
  }
  // The writes in doubt (answered 503): applied or not, either is correct; count which.
  let applied = 0
  for (const [w, { inDoubt }] of workers.entries()) {
    if (inDoubt === null) continue
    if (inDoubt.kind === 'set') applied += (await api('GET', `/v1/anchor-sets/${inDoubt.set}`)).status === 200 ? 1 : 0
    else if (inDoubt.kind === 'embeddings') applied += (await api('GET', `/v1/anchor-sets/${inDoubt.set}/embeddings/${inDoubt.space}`)).status === 200 ? 1 : 0
    else if (inDoubt.kind === 'fit') {
      const listed = (await api('GET', `/v1/translators?source=src-${w}`)).body.translators as Array<{ anchorSet: string }>
      applied += listed.some(l => l.anchorSet === inDoubt.set) ? 1 : 0
    }
  }
  t.same(missing, [], 'every acknowledged write is there')
  t.equal(found, ackedTotal, `${found} of ${ackedTotal} acknowledged writes found after the restart`)
  const kinds = (kind: Ack['kind']): number => workers.reduce((n, w) => n + w.acks.filter(a => a.kind === kind).length, 0)
  t.comment(`figures: burst ran ${killedAt - burstStarted} ms before SIGKILL (${ackedBeforeKill} writes acknowledged by then); ` +
    `${ackedTotal} writes acknowledged in all (${kinds('set')} anchor sets, ${kinds('embeddings')} embedding uploads, ${kinds('fit')} fits, ${kinds('activate')} activations), ` +
    `${found} found after the restart; ${workers.length} writes in doubt, answered 503 (${workers.map(w => w.inDoubt?.kind).join(', ')}): ` +
    `${applied} of the ${workers.filter(w => w.inDoubt?.kind !== 'activate').length} that are not activations turned out applied; ` +
    `first 503 ${first503} ms after SIGKILL; redis-server reloaded its AOF in ${loadedMs} ms, /readyz 200 again ${backMs} ms after the restart; ${keys} keys checked`)
  t.comment(`translators per client: ${workers.map(w => w.acks.filter(a => a.kind === 'fit').length).join(', ')}; key dims ${SOURCE_DIM}x${TARGET_DIM}`)
})
