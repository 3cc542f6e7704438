import t from 'tap'
import { BullQueue } from '../../src/jobs/bullmq.js'
import { CONTRACT_DEFAULTS, queueContract } from '../helpers/queue-contract.js'
import { clusterSkipReason, redisForTests, redisSkipReason, startRedisCluster, startRedisSentinelGroup } from '../helpers/redis-server.js'

const skip = redisSkipReason()

/** BullMQ's retry, lock and stall settings, and short polls, for every connection kind below. */
const BULL_TEST_SETTINGS = { attempts: 3, lockMs: 5000, stalledIntervalMs: 5000, maxStalled: 1, waitPollMs: 20, cancelPollMs: 20 }

t.test('BullMQ queue on a real Redis', { skip }, async t => {
  const redis = await redisForTests(t)
  queueContract(t, 'bullmq queue', async (processor, opts = {}) => await BullQueue.connect(processor, {
    ...CONTRACT_DEFAULTS,
    ...opts,
    target: { mode: 'standalone', url: redis.url },
    keyPrefix: redis.newPrefix(),
    ...BULL_TEST_SETTINGS
  }))
})

t.test('BullMQ queue on a real Redis Cluster (hash-tagged keys) and through Sentinel', { skip: clusterSkipReason() }, async t => {
  const cluster = await startRedisCluster()
  t.teardown(cluster.stop)
  queueContract(t, 'bullmq queue on a cluster', async (processor, opts = {}) => await BullQueue.connect(processor, {
    ...CONTRACT_DEFAULTS,
    ...opts,
    target: { mode: 'cluster', nodes: cluster.nodes },
    keyPrefix: `cluster-${Math.random().toString(36).slice(2, 8)}`,
    ...BULL_TEST_SETTINGS
  }))
  const sentinel = await startRedisSentinelGroup()
  t.teardown(sentinel.stop)
  queueContract(t, 'bullmq queue through sentinel', async (processor, opts = {}) => await BullQueue.connect(processor, {
    ...CONTRACT_DEFAULTS,
    ...opts,
    target: { mode: 'sentinel', sentinels: sentinel.sentinels, name: sentinel.name },
    keyPrefix: `sentinel-${Math.random().toString(36).slice(2, 8)}`,
    ...BULL_TEST_SETTINGS
  }))
})
