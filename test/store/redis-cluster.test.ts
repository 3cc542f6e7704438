import { randomUUID } from 'node:crypto'
import { Cluster, Redis } from 'ioredis'
import t from 'tap'
import { loadConfig } from '../../src/config.js'
import { createStore, RedisStore, storeOptionsFromConfig } from '../../src/store/index.js'
import type { Store, StoreChange } from '../../src/store/types.js'
import { clusterSkipReason, startRedisCluster, waitUntil } from '../helpers/redis-server.js'
import { anchorSet, embeddings, space, storeContract, translator } from './contract.js'
import { redisHarness } from '../helpers/redis-store.js'

/*
 * The Redis store on a real three-primary Redis Cluster (redis-server --cluster-enabled yes, joined
 * with redis-cli --cluster create): the whole contract suite, plus the properties the cluster
 * depends on: every key in one hash slot, and the change feed heard on every node.
 */

const skip = clusterSkipReason()
if (skip !== false) t.comment(skip)

t.test('redis store on a three-primary Redis Cluster', { skip }, async t => {
  const cluster = await startRedisCluster(3)
  t.teardown(cluster.stop)
  t.comment(`cluster nodes: ${cluster.nodes.map(n => `${n.host}:${n.port}`).join(', ')}`)
  const target = { mode: 'cluster' as const, nodes: cluster.nodes }
  const run = `lbcluster-${randomUUID().slice(0, 8)}`
  let counter = 0

  // The cluster is thrown away with the test: no keys to delete.
  storeContract(t, async () => await redisHarness({ target, keyPrefix: `${run}-${++counter}` }))


  t.test('REDIS_CLUSTER_NODES configures the cluster client', async t => {
    const config = loadConfig({ REDIS_CLUSTER_NODES: cluster.nodes.map(n => `${n.host}:${n.port}`).join(','), REDIS_KEY_PREFIX: `${run}-config` })
    const store = await createStore(storeOptionsFromConfig(config))
    t.teardown(async () => { await store.close() })
    t.equal(store.kind, 'redis')
    await store.ping()
    t.equal((await store.putSpace(space('A', 2))).status, 'created')
    t.same(await store.getSpace('A'), space('A', 2))
  })

  t.test('every key of a prefix lives in one hash slot, on one primary; other prefixes spread', async t => {
    const admin = new Cluster(cluster.nodes, { lazyConnect: true })
    admin.on('error', () => {})
    await admin.connect()
    t.teardown(() => { admin.disconnect() })
    const slots = new Set<number>()
    for (let i = 0; i < 12; i++) {
      const keyPrefix = `${run}-slots-${i}`
      const store = await RedisStore.connect({ target, keyPrefix })
      await store.putSpace(space('A', 3))
      await store.putSpace(space('B', 2))
      await store.putAnchorSet(anchorSet('wiki', ['a', 'b']))
      await store.putEmbeddings(embeddings('wiki', 'A', ['a', 'b'], 3))
      await store.createTranslator(translator('t1', 'A', 'B', 'wiki', undefined, [3, 2]), { activate: false })
      const slot = Number(await admin.cluster('KEYSLOT', `{${keyPrefix}}:spaces`))
      slots.add(slot)
      // The slot's primary holds every key the store wrote.
      const ownerKey = admin.slots[slot]?.[0]
      const owner = admin.nodes('master').find(node => `${node.options.host}:${node.options.port}` === ownerKey)
      t.ok(owner !== undefined, `slot ${slot} has a primary`)
      const keys = await owner!.cluster('GETKEYSINSLOT', slot, 100) as string[]
      const ours = keys.filter(k => k.startsWith(`{${keyPrefix}}:`))
      t.ok(ours.length >= 8, `prefix ${i}: ${ours.length} keys in slot ${slot}`)
      await store.close()
    }
    t.ok(slots.size > 1, `different prefixes use different slots (${slots.size} of 12)`)
  })

  t.test('a change published on the slot\'s primary is heard on every node', async t => {
    const keyPrefix = `${run}-feed`
    const store = await RedisStore.connect({ target, keyPrefix })
    t.teardown(async () => { await store.close() })
    const heard = new Map<number, string[]>()
    const listeners = await Promise.all(cluster.nodes.map(async node => {
      const redis = new Redis({ host: node.host, port: node.port, lazyConnect: true })
      redis.on('error', () => {})
      await redis.connect()
      heard.set(node.port, [])
      redis.on('message', (_channel: string, message: string) => heard.get(node.port)!.push(message))
      await redis.subscribe(`${keyPrefix}:changes`)
      return redis
    }))
    t.teardown(() => { for (const l of listeners) l.disconnect() })
    await store.putSpace(space('A', 2))
    await waitUntil('every node to hear the change', () => [...heard.values()].every(m => m.length > 0), 2000)
    for (const [port, messages] of heard) t.same(messages.map(m => JSON.parse(m)), [{ kind: 'space', key: 'A' }], `node ${port}`)
  })

  t.test('the store\'s own feed survives losing its subscriber connection, and reports a resync', async t => {
    const keyPrefix = `${run}-resync`
    const connectionName = `lb-resync-${randomUUID().slice(0, 8)}`
    const store = await RedisStore.connect({ target, keyPrefix, connectionName })
    const writer = await RedisStore.connect({ target, keyPrefix })
    t.teardown(async () => { await Promise.all([store.close(), writer.close()]) })
    const changes: StoreChange[] = []
    store.onChange(change => changes.push(change))
    await waitUntil('the feed to carry changes', async () => {
      await writer.putSpace(space('probe', 1, { description: String(Math.random()) }))
      await new Promise(resolve => setTimeout(resolve, 30))
      return changes.some(c => c.key === 'probe')
    }, 5000, 10)
    // Kill the feed's connection wherever it is.
    let killed = 0
    for (const node of cluster.nodes) {
      const admin = new Redis({ host: node.host, port: node.port })
      admin.on('error', () => {})
      const list = String(await admin.client('LIST'))
      for (const line of list.split('\n')) {
        if (line.includes(`name=${connectionName}:changes`)) {
          const id = /id=(\d+)/.exec(line)?.[1]
          if (id !== undefined) killed += Number(await admin.client('KILL', 'ID', id))
        }
      }
      admin.disconnect()
    }
    t.equal(killed, 1, 'the feed\'s connection was killed')
    await waitUntil('a resync', () => changes.some(c => c.kind === 'resync'), 3000)
    changes.length = 0
    await writer.putSpace(space('after', 1))
    await waitUntil('a change after the resync', () => changes.some(c => c.key === 'after'), 3000)
    t.pass('the feed carries changes again')
  })
})
