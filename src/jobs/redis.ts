import { Cluster, Redis, type RedisOptions } from 'ioredis'
import { reconnectDelay, sentinelOptions, type RedisTarget } from '../store/redis/connection.js'

/**
 * Connections for the job queue, on the store's Redis (standalone, Sentinel or Cluster). Unlike
 * the store's request-path connection, BullMQ's must wait out a disconnect (no per-command retry
 * limit, offline queue on): a worker blocks on the queue and renews its locks for as long as it
 * runs, and should carry on by itself once Redis is back.
 */
export function createJobConnection (target: RedisTarget, connectionName: string): Redis | Cluster {
  const auth: RedisOptions = {
    ...(target.username !== undefined ? { username: target.username } : {}),
    ...(target.password !== undefined ? { password: target.password } : {}),
    ...(target.mode !== 'standalone' && target.tls === true ? { tls: {} } : {})
  }
  const common: RedisOptions = { ...auth, connectionName, maxRetriesPerRequest: null, retryStrategy: reconnectDelay }
  switch (target.mode) {
    case 'standalone': return new Redis(target.url, common)
    case 'sentinel': return new Redis({
      ...common,
      ...sentinelOptions(target),
      reconnectOnError: (err: Error) => err.message.startsWith('READONLY')
    })
    case 'cluster': return new Cluster(target.nodes, {
      redisOptions: { ...auth, connectionName },
      clusterRetryStrategy: reconnectDelay,
      maxRetriesPerRequest: null
    } as ConstructorParameters<typeof Cluster>[1])
  }
}
