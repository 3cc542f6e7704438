import t from 'tap'
import { BullQueue } from '../../src/jobs/bullmq.js'
import { CONTRACT_DEFAULTS, queueContract } from '../helpers/queue-contract.js'
import { redisForTests, redisSkipReason } from '../helpers/redis-server.js'

const skip = redisSkipReason()

t.test('BullMQ queue on a real Redis', { skip }, async t => {
  const redis = await redisForTests(t)
  queueContract(t, 'bullmq queue', async (processor, opts = {}) => await BullQueue.connect(processor, {
    ...CONTRACT_DEFAULTS,
    ...opts,
    target: { mode: 'standalone', url: redis.url },
    keyPrefix: redis.newPrefix(),
    attempts: 3,
    lockMs: 5000,
    stalledIntervalMs: 5000,
    maxStalled: 1,
    waitPollMs: 20,
    cancelPollMs: 20
  }))
})
