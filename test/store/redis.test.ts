import t from 'tap'
import { createStore, MemoryStore, RedisStore } from '../../src/store/index.js'
import type { Store } from '../../src/store/types.js'
import { findRedisServer, redisForTests, redisSkipReason, startRedisServer } from '../helpers/redis-server.js'
import { anchorSet, awkwardFloats, embeddings, space, storeContract, translator } from './contract.js'
import { redisHarness } from '../helpers/redis-store.js'

const skip = redisSkipReason()

t.test('redis store', { skip }, async t => {
  const redis = await redisForTests(t)

  storeContract(t, async () => {
    const keyPrefix = redis.newPrefix()
    return await redisHarness({ url: redis.url, keyPrefix }, async () => { await redis.deletePrefix(keyPrefix) })
  })

  t.test('every key carries the {prefix} hash tag', async t => {
    const keyPrefix = redis.newPrefix()
    const store = await RedisStore.connect({ url: redis.url, keyPrefix })
    t.teardown(async () => { await store.close() })
    await store.putSpace(space('A', 3))
    await store.putSpace(space('B', 2))
    await store.putAnchorSet(anchorSet('wiki', ['a', 'b']))
    await store.putEmbeddings(embeddings('wiki', 'A', ['a', 'b'], 3))
    await store.createTranslator(translator('t1', 'A', 'B', 'wiki', undefined, [3, 2]), { activate: false })

    // With our own server every key on it is ours; on a shared one, look at keys naming this run.
    const pattern = redis.external ? `*${keyPrefix}*` : '*'
    const keys: string[] = []
    let cursor = '0'
    do {
      const [next, batch] = await redis.admin.scan(cursor, 'MATCH', pattern, 'COUNT', 1000)
      keys.push(...batch)
      cursor = next
    } while (cursor !== '0')
    const ours = keys.filter(k => k.includes(keyPrefix))
    t.ok(ours.length >= 8, `the store wrote keys (${ours.length})`)
    t.same(ours.filter(k => !k.startsWith(`{${keyPrefix}}:`)), [], 'all start with the hash tag')
    if (!redis.external) t.same(keys.filter(k => !k.includes(keyPrefix)), [], 'and there are no others')
  })

  t.test('matrices and parameters are raw float32 binary', async t => {
    const keyPrefix = redis.newPrefix()
    const store = await RedisStore.connect({ url: redis.url, keyPrefix })
    t.teardown(async () => { await store.close() })
    await store.putSpace(space('A', 5))
    await store.putSpace(space('B', 2))
    await store.putAnchorSet(anchorSet('wiki', ['a', 'b', 'c']))
    const rec = embeddings('wiki', 'A', ['a', 'b', 'c'], 5, awkwardFloats(15, 5))
    await store.putEmbeddings(rec)
    const key = `{${keyPrefix}}:emb:wiki|A`
    t.equal(await redis.admin.hstrlen(key, 'data'), 3 * 5 * 4, 'rows * cols * 4 bytes')
    const raw = await redis.admin.hgetBuffer(key, 'data')
    const expected = Buffer.alloc(15 * 4)
    rec.matrix.data.forEach((v, i) => expected.writeFloatLE(v, i * 4))
    t.ok(raw !== null && raw.equals(expected), 'little-endian float32 bytes')
    t.same(JSON.parse(await redis.admin.hget(key, 'ids') ?? 'null'), ['a', 'b', 'c'], 'ids as JSON')

    const W = awkwardFloats(6, 9)
    await store.createTranslator(translator('t1', 'A', 'B', 'wiki', { W }, [5, 2]), { activate: false })
    t.equal(await redis.admin.hstrlen(`{${keyPrefix}}:tr-params:t1`, 'W'), 6 * 4)
    t.same(JSON.parse(await redis.admin.hget(`{${keyPrefix}}:translators`, 't1') ?? 'null'),
      { ...translator('t1', 'A', 'B', 'wiki', undefined, [5, 2]).meta, version: 1 }, 'metadata as JSON')
  })

  t.test('records written before revisions existed: their createdAt stands in until the next write', async t => {
    const keyPrefix = redis.newPrefix()
    const store = await RedisStore.connect({ url: redis.url, keyPrefix })
    t.teardown(async () => { await store.close() })
    const tag = `{${keyPrefix}}`
    const created = '2023-03-04T05:06:07.089Z'
    // What the previous version wrote: <body>,"createdAt":"<iso>"}, no revision.
    await redis.admin.hset(`${tag}:spaces`, 'old', `{"description":null,"dim":2,"metadata":{"k":[]},"name":"old","createdAt":"${created}"}`)
    await redis.admin.hset(`${tag}:sets`, 'oldset', `{"name":"oldset","size":2,"description":"d","createdAt":"${created}"}`)
    await redis.admin.set(`${tag}:set-ids:oldset`, '["a","b"]')

    t.same(await store.getSpace('old'), { name: 'old', dim: 2, description: null, metadata: { k: [] }, createdAt: created, revision: created })
    t.same((await store.listSpaces()).map(s => s.revision), [created])
    t.equal((await store.getAnchorSet('oldset'))?.revision, created)
    t.equal((await store.getAnchorSetSummary('oldset'))?.revision, created)

    t.same(await store.putSpace(space('old', 2, { revision: 'r1', metadata: { k: [] } }), { ifRevision: ['other'] }), { status: 'precondition-failed' })
    t.same(await store.putSpace(space('old', 2, { revision: 'r1', metadata: { k: [] } }), { ifNoneRevision: '*' }), { status: 'precondition-failed' }, 'it exists')
    t.match(await store.putSpace(space('old', 2, { revision: 'r1', metadata: { k: [] } }), { ifRevision: [created] }),
      { status: 'unchanged', value: { revision: created } }, 'an identical put matches on createdAt and keeps it')
    t.match(await store.putSpace(space('old', 2, { revision: 'r1', description: 'now', metadata: { k: [] } }), { ifRevision: [created] }),
      { status: 'updated', value: { revision: 'r1', createdAt: created, description: 'now', metadata: { k: [] } } }, 'a changing put stores a revision')
    t.equal((await store.getSpace('old'))?.createdAt, created, 'createdAt kept')
    t.same(JSON.parse(await redis.admin.hget(`${tag}:spaces`, 'old') ?? 'null').metadata, { k: [] }, 'the body was not re-encoded ([] stays [])')

    t.same(await store.deleteAnchorSet('oldset', { cascade: false, ifRevision: ['r1'] }), { status: 'precondition-failed' })
    await store.putSpace(space('A', 2))
    await store.putEmbeddings(embeddings('oldset', 'A', ['a', 'b'], 2))
    const touched = await store.getAnchorSet('oldset')
    t.not(touched?.revision, created, 'an upload gives the old set a revision')
    t.match(touched, { createdAt: created, description: 'd' }, 'keeping the rest')
    t.match(await store.deleteAnchorSet('oldset', { cascade: false, ifRevision: [touched?.revision ?? ''] }), { status: 'deleted' })
  })

  t.test('changes are published on <prefix>:changes', async t => {
    const keyPrefix = redis.newPrefix()
    const store = await RedisStore.connect({ url: redis.url, keyPrefix })
    const listener = redis.admin.duplicate()
    listener.on('error', () => {})
    t.teardown(async () => {
      await store.close()
      listener.disconnect()
    })
    const messages: string[] = []
    listener.on('message', (_channel: string, message: string) => messages.push(message))
    await listener.subscribe(`${keyPrefix}:changes`)
    await store.putSpace(space('A', 3))
    const deadline = Date.now() + 1000
    while (messages.length === 0 && Date.now() < deadline) await new Promise(resolve => setTimeout(resolve, 10))
    t.same(messages.map(m => JSON.parse(m)), [{ kind: 'space', key: 'A' }])
  })

  t.test('createStore', async t => {
    const memory = await createStore({ keyPrefix: 'x' })
    t.ok(memory instanceof MemoryStore)
    t.equal(memory.kind, 'memory')
    t.equal(memory.breaker, undefined, 'the memory store has no breaker: it never trips')
    await memory.close()

    const store = await createStore({ redisUrl: redis.url, keyPrefix: redis.newPrefix() })
    t.equal(store.kind, 'redis')
    t.equal(store.breaker?.state, 'closed', 'behind a closed circuit breaker')
    await store.ping()
    await store.close()

    // Nothing listens on a port just vacated by a throwaway server.
    const gone = await startRedisServer().catch(() => null)
    if (gone === null) return
    await gone.stop()
    const started = Date.now()
    const err = await createStore({
      redisUrl: `redis://someone:s3cret@127.0.0.1:${gone.port}/0`,
      keyPrefix: 'x',
      connectTimeoutMs: 500
    }).then(() => null, (e: Error) => e)
    t.ok(err instanceof Error, 'rejects')
    t.match(err?.message, `127.0.0.1:${gone.port}`, 'names the URL')
    t.notMatch(err?.message, /s3cret|someone/, 'without credentials')
    t.ok(Date.now() - started < 3000, 'within the timeout')
  })

  t.test('ping rejects when Redis is gone', { skip: findRedisServer() === null ? 'needs redis-server' : false }, async t => {
    const server = await startRedisServer()
    t.teardown(server.stop)
    const warnings: unknown[] = []
    const store = await RedisStore.connect({
      url: server.url,
      keyPrefix: 'ping',
      logger: { info () {}, warn (...args: unknown[]) { warnings.push(args) }, error () {} }
    })
    t.teardown(async () => { await store.close() })
    store.onChange(() => {})
    await store.ping()
    await store.putSpace(space('A', 2))
    await server.stop()
    const started = Date.now()
    await t.rejects(store.ping(), 'ping rejects')
    await t.rejects(store.getSpace('A'), 'and so do requests')
    t.ok(Date.now() - started < 2500, `fast (${Date.now() - started} ms)`)
  })
})
