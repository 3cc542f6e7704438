import { MemoryStore } from './memory.js'
import { RedisStore } from './redis.js'
import type { Store } from './types.js'

export type { Store } from './types.js'
export { MemoryStore } from './memory.js'
export { RedisStore, redactRedisUrl } from './redis.js'

export interface CreateStoreOptions {
  /** Without it the store lives in process memory (one replica, lost on restart). */
  redisUrl?: string
  keyPrefix: string
  logger?: { info: Function, warn: Function, error: Function }
  /** How long to wait for Redis before giving up. Default 5000 ms. */
  connectTimeoutMs?: number
}

/**
 * The memory store when no Redis URL is given, else a Redis store that has answered. Rejects when
 * Redis cannot be reached within connectTimeoutMs; the message names the URL without credentials.
 */
export async function createStore (opts: CreateStoreOptions): Promise<Store> {
  if (opts.redisUrl === undefined || opts.redisUrl === '') {
    opts.logger?.info('store: in memory (no Redis URL configured)')
    return new MemoryStore({ logger: opts.logger })
  }
  return await RedisStore.connect({
    url: opts.redisUrl,
    keyPrefix: opts.keyPrefix,
    logger: opts.logger,
    connectTimeoutMs: opts.connectTimeoutMs
  })
}
