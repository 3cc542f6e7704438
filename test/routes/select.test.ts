/**
 * POST /v1/anchor-sets/{set}/select through the real app: k distinct ids among those the space
 * holds, reproducible per seed, well spread for fps and kmeans.
 */
import t from 'tap'
import type { FastifyInstance } from 'fastify'
import { isProblem, json, testApp } from '../helpers/app.js'
import { gaussian, rng } from '../engine/fixtures/reference.js'

const DIM = 6
const CLUSTERS = 4
const PER_CLUSTER = 10
const SET_SIZE = 48
const setIds = Array.from({ length: SET_SIZE }, (_, i) => `id-${i}`)
/** The space holds 40 of the 48 ids: cluster c is ids held[c*10 .. c*10+9]. */
const held = setIds.filter((_, i) => i % 6 !== 5)

/**
 * Four tight clusters around orthogonal directions (coordinate axes 0-3), 10 points each; on the
 * unit sphere the clusters are √2 apart and each is about 0.02 wide.
 */
function clustered (): number[][] {
  const random = rng(21)
  const rows: number[][] = []
  for (let c = 0; c < CLUSTERS; c++) {
    for (let i = 0; i < PER_CLUSTER; i++) {
      const row = Array.from({ length: DIM }, () => gaussian(random) * 0.01)
      row[c] += 1 + gaussian(random) * 0.1
      rows.push(row)
    }
  }
  return rows
}

const clusterOf = (id: string): number => Math.floor(held.indexOf(id) / PER_CLUSTER)

async function put (app: FastifyInstance, url: string, payload: unknown): Promise<void> {
  const res = await app.inject({ method: 'PUT', url, payload: payload as Record<string, unknown> })
  if (res.statusCode !== 200 && res.statusCode !== 201) throw new Error(`PUT ${url}: ${res.statusCode} ${res.body}`)
}

async function setup (app: FastifyInstance): Promise<void> {
  await put(app, '/v1/spaces/S', { dim: DIM })
  await put(app, '/v1/spaces/T', { dim: DIM })
  await put(app, '/v1/anchor-sets/pool', { ids: setIds })
  await put(app, '/v1/anchor-sets/pool/embeddings/S', { vectors: clustered(), ids: held })
}

async function select (app: FastifyInstance, body: Record<string, unknown>, set = 'pool'): Promise<{ statusCode: number, headers: Record<string, unknown>, body: string }> {
  return await app.inject({ method: 'POST', url: `/v1/anchor-sets/${set}/select`, payload: { space: 'S', ...body } })
}

t.test('k distinct held ids, reproducible per seed, for every strategy', async t => {
  const app = await testApp(t)
  await setup(app)
  for (const strategy of ['fps', 'kmeans', 'random']) {
    const seen = new Set<string>()
    for (const seed of [0, 1, 2, 3]) {
      const res = await select(app, { k: 7, strategy, seed })
      t.equal(res.statusCode, 200, `${strategy} seed ${seed}: 200`)
      const chosen: string[] = json(res).ids
      t.equal(chosen.length, 7, `${strategy} seed ${seed}: k ids`)
      t.equal(new Set(chosen).size, 7, `${strategy} seed ${seed}: distinct`)
      t.ok(chosen.every(id => held.includes(id)), `${strategy} seed ${seed}: every id is held by the space`)
      t.same(json(await select(app, { k: 7, strategy, seed })).ids, chosen, `${strategy} seed ${seed}: the same ids again`)
      seen.add(JSON.stringify(chosen))
    }
    t.ok(seen.size > 1, `${strategy}: the seed matters (${seen.size} different choices over 4 seeds)`)
  }
  const all = json(await select(app, { k: held.length, strategy: 'random', seed: 5 })).ids as string[]
  t.same([...all].sort(), [...held].sort(), 'k = held gives every held id')
  t.same(json(await select(app, { k: 7 })).ids, json(await select(app, { k: 7, strategy: 'fps', seed: 0 })).ids, 'defaults: fps, seed 0')
})

t.test('fps and kmeans spread the choice over the clusters', async t => {
  const app = await testApp(t)
  await setup(app)
  for (const strategy of ['fps', 'kmeans']) {
    for (const seed of [0, 1, 2]) {
      const chosen: string[] = json(await select(app, { k: CLUSTERS, strategy, seed })).ids
      t.same(chosen.map(clusterOf).sort(), [0, 1, 2, 3], `${strategy} seed ${seed}: one id from each cluster`)
    }
  }
})

t.test('errors', async t => {
  const app = await testApp(t)
  await setup(app)
  const tooMany = isProblem(t, await select(app, { k: held.length + 1 }), 'unprocessable', 'k above the ids held')
  t.match(tooMany.detail, /k 41 .* 40 ids/)
  t.match(isProblem(t, await select(app, { k: 2 }, 'nope'), 'not-found', 'unknown set').detail, /"nope"/)
  t.match(isProblem(t, await select(app, { k: 2, space: 'T' }), 'not-found', 'no embeddings of the space').detail, /"T"/)
  isProblem(t, await select(app, { k: 2, space: 'unknown' }), 'not-found', 'unknown space')
  isProblem(t, await select(app, { k: 0 }), 'invalid-request', 'k 0')
  isProblem(t, await select(app, { k: 2, strategy: 'greedy' }), 'invalid-request', 'unknown strategy')
  isProblem(t, await select(app, { k: 2, seed: -1 }), 'invalid-request', 'negative seed')
  isProblem(t, await select(app, {}), 'invalid-request', 'missing k')
})
