import { Cluster, Redis, type ClusterOptions, type RedisOptions } from 'ioredis'
import { ProblemError } from '../../errors.js'

/**
 * Where the Redis store's data lives and how the connections to it are tuned.
 *
 * Three deployments, one store: a single Redis (REDIS_URL), a Redis Sentinel group
 * (REDIS_SENTINELS: ioredis asks the sentinels for the current primary and follows failovers), or a
 * Redis Cluster (REDIS_CLUSTER_NODES: ioredis learns the slot map and routes each command). All the
 * store's keys share one hash tag, so on a cluster every script runs on the one primary that owns
 * the slot.
 *
 * The command connection is tuned for a request path: no offline queue once connected (a command
 * issued while the connection is down fails at once), no retries of in-flight commands after a
 * disconnect (maxRetriesPerRequest 0: a write whose reply was lost is not sent twice), a command
 * timeout, and reconnection for ever with a backoff capped at one second, so the service recovers
 * by itself when Redis returns. Such failures reach clients as 503 problems (see `unavailable`).
 */

export interface HostPort {
  host: string
  port: number
}

export type RedisTarget =
  | { mode: 'standalone', url: string, username?: string, password?: string }
  | {
    mode: 'sentinel'
    sentinels: HostPort[]
    /** The master group name the sentinels monitor (Bitnami's chart: "mymaster"). */
    name: string
    username?: string
    password?: string
    sentinelUsername?: string
    sentinelPassword?: string
    tls?: boolean
  }
  | { mode: 'cluster', nodes: HostPort[], username?: string, password?: string, tls?: boolean }

export interface ConnectionTuning {
  /** Per connection attempt (the store waits longer for the first ready connection). */
  connectTimeoutMs: number
  /** Upper bound for one command on the request path. */
  commandTimeoutMs: number
  /** CLIENT SETNAME of the command connection; the change feed's is `<name>:changes`. */
  connectionName: string
}

export type RedisClient = Redis | Cluster

/** Delay before reconnection attempt `attempt` (1, 2, ...): 100, 200, 400, 800, then 1000 ms. */
export function reconnectDelay (attempt: number): number {
  return Math.min(50 * 2 ** Math.min(Math.max(attempt, 1), 5), 1000)
}

/** The Redis URL without user name and password, for messages and logs. */
export function redactRedisUrl (url: string): string {
  try {
    const parsed = new URL(url)
    parsed.username = ''
    parsed.password = ''
    return parsed.toString()
  } catch {
    return url.replace(/\/\/[^@/]*@/, '//')
  }
}

const list = (nodes: HostPort[]): string => nodes.map(n => `${n.host}:${n.port}`).join(',')

/** The target for logs and messages, without credentials. */
export function describeTarget (target: RedisTarget): string {
  switch (target.mode) {
    case 'standalone': return redactRedisUrl(target.url)
    case 'sentinel': return `sentinel master "${target.name}" via ${list(target.sentinels)}`
    case 'cluster': return `cluster ${list(target.nodes)}`
  }
}

function auth (target: { username?: string, password?: string }): Pick<RedisOptions, 'username' | 'password'> {
  return {
    ...(target.username !== undefined ? { username: target.username } : {}),
    ...(target.password !== undefined ? { password: target.password } : {})
  }
}

/** Options for one connection to a Redis node or primary, shared by every mode. */
function nodeOptions (target: RedisTarget, tuning: ConnectionTuning): RedisOptions {
  return {
    ...auth(target),
    ...(target.mode !== 'standalone' && target.tls === true ? { tls: {} } : {}),
    connectTimeout: Math.min(tuning.connectTimeoutMs, 5000),
    commandTimeout: tuning.commandTimeoutMs,
    connectionName: tuning.connectionName,
    maxRetriesPerRequest: 0,
    autoResendUnfulfilledCommands: false
  }
}

/** How any connection of this service finds and follows the primary through the sentinels. */
export function sentinelOptions (target: Extract<RedisTarget, { mode: 'sentinel' }>): RedisOptions {
  return {
    sentinels: target.sentinels,
    name: target.name,
    role: 'master',
    ...(target.sentinelUsername !== undefined ? { sentinelUsername: target.sentinelUsername } : {}),
    ...(target.sentinelPassword !== undefined ? { sentinelPassword: target.sentinelPassword } : {}),
    ...(target.tls === true ? { enableTLSForSentinelMode: true } : {}),
    sentinelRetryStrategy: reconnectDelay,
    // Subscribe to the sentinels' +switch-master and move to the new primary at once.
    failoverDetector: true
  }
}

/**
 * The command client, not yet connected (lazyConnect). It keeps its offline queue until the
 * store has seen it ready; `requestPathMode` then turns the queue off.
 */
export function createCommandClient (target: RedisTarget, tuning: ConnectionTuning): RedisClient {
  const node = nodeOptions(target, tuning)
  if (target.mode === 'cluster') {
    const options: ClusterOptions = {
      lazyConnect: true,
      redisOptions: node,
      clusterRetryStrategy: reconnectDelay,
      // A command to a primary that went away is retried on the refreshed slot map, 16 times
      // 100 ms at most; then it fails (503). A cluster failover takes cluster-node-timeout, longer
      // than a request should wait.
      retryDelayOnFailover: 100,
      retryDelayOnClusterDown: 100,
      retryDelayOnTryAgain: 100,
      maxRedirections: 16,
      slotsRefreshTimeout: Math.min(tuning.connectTimeoutMs, 2000)
    }
    return new Cluster(target.nodes, options)
  }
  const options: RedisOptions = {
    ...node,
    lazyConnect: true,
    retryStrategy: reconnectDelay,
    // A primary demoted to replica answers writes with READONLY: reconnect (through the sentinels,
    // to the new primary); the failed command itself is not resent.
    reconnectOnError: (err: Error) => err.message.startsWith('READONLY')
  }
  if (target.mode === 'sentinel') return new Redis({ ...options, ...sentinelOptions(target) })
  return new Redis(target.url, options)
}

/** After the first ready: commands issued while disconnected fail at once instead of queueing. */
export async function requestPathMode (client: RedisClient): Promise<void> {
  if (client instanceof Cluster) {
    // Open the connection to every primary first: with the queue off, a command sent to a node
    // connection that is still connecting fails.
    await Promise.all(client.nodes('master').map(async node => { await node.ping() }))
    client.options.enableOfflineQueue = false
  } else {
    client.options.enableOfflineQueue = false
  }
}

/**
 * A fresh connection for the change feed (attempt 0, 1, ...). It does not reconnect by itself: it
 * ends, and the feed opens another, so that on a cluster the next attempt goes to another node.
 * Plain PUBLISH on a cluster reaches subscribers on every node, so any node will do.
 */
export function createSubscriberConnection (target: RedisTarget, tuning: ConnectionTuning, attempt: number, cluster?: RedisClient): Redis {
  const options: RedisOptions = {
    ...auth(target),
    ...(target.mode !== 'standalone' && target.tls === true ? { tls: {} } : {}),
    connectTimeout: Math.min(tuning.connectTimeoutMs, 5000),
    connectionName: `${tuning.connectionName}:changes`,
    retryStrategy: () => null,
    autoResubscribe: false,
    maxRetriesPerRequest: null,
    enableOfflineQueue: true
  }
  switch (target.mode) {
    case 'standalone': return new Redis(target.url, options)
    case 'sentinel': return new Redis({ ...options, ...sentinelOptions(target) })
    case 'cluster': {
      // The nodes the client knows now (failovers change them), else the configured ones.
      const known = cluster instanceof Cluster
        ? cluster.nodes('all').map(n => ({ host: String(n.options.host), port: Number(n.options.port) }))
        : []
      const nodes = known.length > 0 ? known : target.nodes
      const node = nodes[attempt % nodes.length]
      return new Redis({ ...options, host: node.host, port: node.port })
    }
  }
}

/** What went wrong, in words for a client (the original error stays the problem's cause, for the log). */
function reason (err: Error): string {
  const message = err.message
  if (err.name === 'MaxRetriesPerRequestError' || message.startsWith('Reached the max retries')) return 'the connection to Redis was lost during the request'
  if (message.startsWith("Stream isn't writeable") || message === 'Connection is closed.' || message.startsWith("Cluster isn't ready")) return 'no connection to Redis'
  if (message === 'Command timed out') return 'Redis did not answer in time'
  if (err.name === 'ReplyError') return `Redis answered ${message.split(' ')[0]}`
  return `Redis: ${message}`
}

/** Server replies that mean "not now" rather than "wrong": the store is unavailable. */
const TRANSIENT_REPLIES = /^(LOADING|BUSY|CLUSTERDOWN|TRYAGAIN|MASTERDOWN|READONLY|NOREPLICAS|MOVED|ASK)\b/

/**
 * Maps an error from a Redis command to what a client should see: a failure to reach Redis (no
 * connection, timeout, a node down or loading) becomes a 503 problem with Retry-After; an error
 * reply to the command itself (a bug) stays as it is and becomes a 500.
 */
export function unavailable (err: unknown): unknown {
  if (!(err instanceof Error)) return err
  if (err instanceof ProblemError) return err
  if (err.name === 'ReplyError' && !TRANSIENT_REPLIES.test(err.message)) return err
  const problem = new ProblemError('unavailable', `the store is unavailable (${reason(err)}); retry in a moment`, {
    headers: { 'retry-after': '1' }
  })
  problem.cause = err
  return problem
}

/** The promise, or a rejection with `message` after `ms`; the timer is cleared either way. */
export function withTimeout<T> (promise: Promise<T>, ms: number, message: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const timeout = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => reject(new Error(message)), ms)
  })
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer))
}

/** Ends a connection: QUIT when it is up (so pending replies arrive), else drop it at once. */
export async function closeConnection (redis: RedisClient): Promise<void> {
  if (redis.status === 'ready') {
    try {
      await withTimeout(redis.quit(), 1000, 'QUIT timed out')
    } catch {}
  }
  // Also after QUIT: only disconnect() releases a Sentinel client's failover-detector connections.
  redis.disconnect()
}
