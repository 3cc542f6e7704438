import type { Config } from '../config.js'
import { BreakerStore } from './breaker.js'
import { MemoryStore } from './memory.js'
import { RedisStore, type RedisTarget } from './redis/index.js'
import type { Store } from './types.js'

export type { Store } from './types.js'
export type { RedisTarget } from './redis/index.js'
export { MemoryStore } from './memory.js'
export { BreakerStore } from './breaker.js'
export { RedisStore, redactRedisUrl } from './redis/index.js'

export interface CreateStoreOptions {
  /** A single Redis. Without it (and without `redis`) the store lives in process memory (one replica, lost on restart). */
  redisUrl?: string
  /** A single Redis, a Sentinel group or a Cluster; takes precedence over redisUrl. */
  redis?: RedisTarget
  keyPrefix: string
  logger?: { info: Function, warn: Function, error: Function }
  /** How long to wait for Redis before giving up. Default 5000 ms. */
  connectTimeoutMs?: number
  /** Upper bound for one Redis command on the request path. Default 5000 ms. */
  commandTimeoutMs?: number
  /** While Redis is known down, how often the circuit breaker pings it for its return. Default 500 ms. */
  breakerProbeIntervalMs?: number
}

/** Where the configuration says the data lives: REDIS_URL, REDIS_SENTINELS, REDIS_CLUSTER_NODES, or nowhere (memory). */
export function redisTargetFromConfig (config: Config): RedisTarget | undefined {
  const credentials = {
    ...(config.REDIS_USERNAME !== undefined ? { username: config.REDIS_USERNAME } : {}),
    ...(config.REDIS_PASSWORD !== undefined ? { password: config.REDIS_PASSWORD } : {})
  }
  if (config.REDIS_CLUSTER_NODES !== undefined) {
    return { mode: 'cluster', nodes: config.REDIS_CLUSTER_NODES, ...credentials, tls: config.REDIS_TLS }
  }
  if (config.REDIS_SENTINELS !== undefined) {
    return {
      mode: 'sentinel',
      sentinels: config.REDIS_SENTINELS,
      name: config.REDIS_SENTINEL_NAME,
      ...credentials,
      ...(config.REDIS_SENTINEL_USERNAME !== undefined ? { sentinelUsername: config.REDIS_SENTINEL_USERNAME } : {}),
      ...(config.REDIS_SENTINEL_PASSWORD !== undefined ? { sentinelPassword: config.REDIS_SENTINEL_PASSWORD } : {}),
      tls: config.REDIS_TLS
    }
  }
  if (config.REDIS_URL !== undefined) return { mode: 'standalone', url: config.REDIS_URL, ...credentials }
  return undefined
}

/** createStore's options from the configuration (the logger is the caller's). */
export function storeOptionsFromConfig (config: Config): CreateStoreOptions {
  return {
    redis: redisTargetFromConfig(config),
    keyPrefix: config.REDIS_KEY_PREFIX,
    connectTimeoutMs: config.REDIS_CONNECT_TIMEOUT_MS,
    commandTimeoutMs: config.REDIS_COMMAND_TIMEOUT_MS,
    breakerProbeIntervalMs: config.STORE_BREAKER_PROBE_INTERVAL_MS
  }
}

/**
 * The memory store when no Redis is configured, else a Redis store that has answered, behind a
 * circuit breaker (a stalled Redis is refused at once rather than waited for, request after
 * request). Rejects when Redis cannot be reached within connectTimeoutMs; the message names the
 * target without credentials.
 */
export async function createStore (opts: CreateStoreOptions): Promise<Store> {
  const target = opts.redis ?? (opts.redisUrl !== undefined && opts.redisUrl !== '' ? { mode: 'standalone', url: opts.redisUrl } : undefined)
  if (target === undefined) {
    opts.logger?.info('store: in memory (no Redis URL configured)')
    return new MemoryStore({ logger: opts.logger })
  }
  const redis = await RedisStore.connect({
    target,
    keyPrefix: opts.keyPrefix,
    logger: opts.logger,
    connectTimeoutMs: opts.connectTimeoutMs,
    commandTimeoutMs: opts.commandTimeoutMs
  })
  return new BreakerStore(redis, { probeIntervalMs: opts.breakerProbeIntervalMs ?? 500, logger: opts.logger })
}
