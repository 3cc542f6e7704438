import t, { type Test } from 'tap'
import type { FastifyInstance } from 'fastify'
import { isProblem, json, testApp } from '../helpers/app.js'
import { redisForTests, redisSkipReason } from '../helpers/redis-server.js'
import { redisHarness } from '../helpers/redis-store.js'

type AppFactory = (t: Test) => Promise<FastifyInstance>

const memoryApp: AppFactory = async t => await testApp(t)

const redisApp: AppFactory = async t => {
  const redis = await redisForTests(t)
  const prefix = redis.newPrefix()
  const harness = await redisHarness({ url: redis.url, keyPrefix: prefix }, async () => { await redis.deletePrefix(prefix) })
  t.teardown(harness.cleanup)
  return await testApp(t, { store: harness.store })
}

const SRC = [[1, 0, 0], [0, 1, 0], [0, 0, 1], [1, 1, 0], [0, 1, 1], [1, 0, 1]]
const TGT = [[0, 1, 0, 0], [1, 0, 0, 0], [0, 0, 0, 1], [1, 1, 0, 0], [0, 1, 0, 1], [1, 0, 0, 1]]
const IDS = ['a', 'b', 'c', 'd', 'e', 'f']

async function put (app: FastifyInstance, url: string, payload: unknown, headers: Record<string, string> = {}): Promise<Awaited<ReturnType<FastifyInstance['inject']>>> {
  return await app.inject({ method: 'PUT', url, payload: payload as any, headers })
}

/** A 201 carries a Location that resolves: GET it → 200. */
async function resolves (t: Test, app: FastifyInstance, res: { statusCode: number, headers: Record<string, unknown> }, label: string): Promise<string> {
  t.equal(res.statusCode, 201, `${label}: 201`)
  const location = res.headers.location
  t.type(location, 'string', `${label}: Location`)
  t.equal((await app.inject({ method: 'GET', url: String(location) })).statusCode, 200, `${label}: GET ${String(location)} → 200`)
  return String(location)
}

function suite (name: string, makeApp: AppFactory, skip: string | false): void {
  t.test(`${name}: Location on every 201, 200 on a replacing PUT`, { skip }, async t => {
    const app = await makeApp(t)
    t.equal(await resolves(t, app, await put(app, '/v1/spaces/org%2Fsrc', { dim: 3 }), 'space'), '/v1/spaces/org%2Fsrc')
    await resolves(t, app, await put(app, '/v1/spaces/tgt', { dim: 4 }), 'space')
    const again = await put(app, '/v1/spaces/org%2Fsrc', { dim: 3, description: 'now described' })
    t.equal(again.statusCode, 200, 'replacing a space: 200')
    t.equal(again.headers.location, undefined, 'no Location on 200')
    await resolves(t, app, await put(app, '/v1/anchor-sets/s', { ids: IDS }), 'anchor set')
    t.equal((await put(app, '/v1/anchor-sets/s', { ids: IDS, description: 'd' })).statusCode, 200, 'replacing an anchor set: 200')
    t.equal(await resolves(t, app, await put(app, '/v1/anchor-sets/s/embeddings/org%2Fsrc', { vectors: SRC }), 'embeddings'), '/v1/anchor-sets/s/embeddings/org%2Fsrc')
    await resolves(t, app, await put(app, '/v1/anchor-sets/s/embeddings/tgt', { vectors: TGT }), 'embeddings')
    const replaced = await put(app, '/v1/anchor-sets/s/embeddings/tgt', { vectors: TGT })
    t.equal(replaced.statusCode, 200, 'replacing embeddings: 200')
    t.match(json(replaced), { replaced: true })
    t.equal(replaced.headers.location, undefined, 'no Location on 200')
    const fitted = await app.inject({ method: 'POST', url: '/v1/translators', payload: { source: 'org/src', target: 'tgt', anchorSet: 's', method: 'linear' } })
    const location = await resolves(t, app, fitted, 'translator')
    t.equal(location, `/v1/translators/${encodeURIComponent(json(fitted).id)}`)
  })
}

suite('memory store', memoryApp, false)
suite('redis store', redisApp, redisSkipReason())
