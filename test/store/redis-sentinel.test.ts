import { randomUUID } from 'node:crypto'
import { Redis } from 'ioredis'
import t from 'tap'
import { loadConfig } from '../../src/config.js'
import { ProblemError } from '../../src/errors.js'
import { createStore, RedisStore, storeOptionsFromConfig } from '../../src/store/index.js'
import type { Store, StoreChange } from '../../src/store/types.js'
import { ownRedisSkipReason, startRedisSentinelGroup, waitUntil } from '../helpers/redis-server.js'
import { space, storeContract } from './contract.js'
import { redisHarness } from '../helpers/redis-store.js'

/*
 * The Redis store through Redis Sentinel (a primary, a replica and one sentinel, real processes):
 * the contract suite, REDIS_SENTINELS configuration, and a failover the store follows by itself.
 */

const skip = ownRedisSkipReason()

t.test('redis store through Redis Sentinel', { skip }, async t => {
  const group = await startRedisSentinelGroup('lbprimary')
  t.teardown(group.stop)
  const target = { mode: 'sentinel' as const, sentinels: group.sentinels, name: group.name }
  const run = `lbsentinel-${randomUUID().slice(0, 8)}`
  let counter = 0

  storeContract(t, async () => await redisHarness({ target, keyPrefix: `${run}-${++counter}` }))


  t.test('REDIS_SENTINELS and REDIS_SENTINEL_NAME configure the sentinel client', async t => {
    const config = loadConfig({
      REDIS_SENTINELS: group.sentinels.map(s => `${s.host}:${s.port}`).join(','),
      REDIS_SENTINEL_NAME: group.name,
      REDIS_KEY_PREFIX: `${run}-config`
    })
    const store = await createStore(storeOptionsFromConfig(config))
    t.teardown(async () => { await store.close() })
    await store.ping()
    t.equal((await store.putSpace(space('A', 2))).status, 'created')
    // Through the sentinel, the store writes to the primary.
    const primary = new Redis(group.primary.port, '127.0.0.1')
    primary.on('error', () => {})
    t.teardown(() => { primary.disconnect() })
    t.ok(await primary.hexists(`{${run}-config}:spaces`, 'A'), 'the data is on the primary')
  })

  // Last: it swaps the roles of the two servers.
  t.test('a failover: the store follows the new primary by itself, loses nothing replicated, and resyncs its feed', async t => {
    const keyPrefix = `${run}-failover`
    const store = await RedisStore.connect({ target, keyPrefix })
    t.teardown(async () => { await store.close() })
    const changes: StoreChange[] = []
    store.onChange(change => changes.push(change))
    await waitUntil('the feed to carry changes', async () => {
      await store.putSpace(space('probe', 1, { description: String(Math.random()) }))
      await new Promise(resolve => setTimeout(resolve, 30))
      return changes.some(c => c.key === 'probe')
    }, 5000, 10)
    await store.putSpace(space('before', 2))
    const admin = new Redis(group.primary.port, '127.0.0.1')
    const sentinel = new Redis(group.sentinel.port, '127.0.0.1')
    admin.on('error', () => {})
    sentinel.on('error', () => {})
    t.teardown(() => { admin.disconnect(); sentinel.disconnect() })
    t.equal(Number(await admin.call('WAIT', '1', '2000')), 1, 'the write reached the replica')

    const promoted = new Redis(group.replica.port, '127.0.0.1')
    promoted.on('error', () => {})
    t.teardown(() => { promoted.disconnect() })
    const started = Date.now()
    t.equal(await sentinel.call('SENTINEL', 'FAILOVER', group.name), 'OK')
    await waitUntil('the replica to be promoted', async () => /role:master/.test(String(await promoted.info('replication'))), 10_000)
    // Until the store has moved, its writes may still land on the old primary (Redis replicates
    // asynchronously; a real failover has the old primary down). Write until one lands on the new.
    let unavailable = 0
    let other: unknown = null
    let attempt = 0
    await waitUntil('a write to land on the new primary', async () => {
      const name = `after-${++attempt}`
      try {
        await store.putSpace(space(name, 2))
      } catch (err) {
        if (err instanceof ProblemError && err.status === 503) unavailable++
        else other = err
        return false
      }
      return await promoted.hexists(`{${keyPrefix}}:spaces`, name) === 1
    }, 15_000, 50)
    t.equal(other, null, 'while it moved, the store failed only with 503 problems')
    t.comment(`failover followed in ${Date.now() - started} ms (${attempt} writes, ${unavailable} answered 503)`)
    t.same(await store.getSpace('before'), space('before', 2), 'the write before it is still there')
    await waitUntil('a resync of the change feed', () => changes.some(c => c.kind === 'resync'), 5000)
    changes.length = 0
    await waitUntil('changes on the new primary to be heard', async () => {
      await store.putSpace(space('probe', 1, { description: String(Math.random()) }))
      await new Promise(resolve => setTimeout(resolve, 30))
      return changes.some(c => c.key === 'probe')
    }, 5000, 10)
    t.pass('the feed carries changes from the new primary')
  })
})
