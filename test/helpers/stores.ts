import type { FastifyInstance } from 'fastify'
import type { Test } from 'tap'
import type { Store } from '../../src/store/types.js'
import { testApp } from './app.js'
import { redisForTests } from './redis-server.js'
import { redisHarness } from './redis-store.js'

/**
 * Route tests that run on both stores: the app on the memory store, and on a Redis store under a
 * fresh key prefix of the test redis-server (deleted at teardown).
 */

export type AppFactory = (t: Test) => Promise<FastifyInstance>

/** A Redis store under its own key prefix, closed and emptied when `t` ends. */
export async function redisTestStore (t: Test): Promise<Store> {
  const redis = await redisForTests(t)
  const prefix = redis.newPrefix()
  const harness = await redisHarness({ url: redis.url, keyPrefix: prefix }, async () => { await redis.deletePrefix(prefix) })
  t.teardown(harness.cleanup)
  return harness.store
}

export const memoryApp: AppFactory = async t => await testApp(t)

export const redisApp: AppFactory = async t => await testApp(t, { store: await redisTestStore(t) })
