import { spawn, type ChildProcess } from 'node:child_process'
import { randomUUID } from 'node:crypto'
import { accessSync, constants, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { delimiter, join } from 'node:path'
import { Redis } from 'ioredis'

export const REDIS_SKIP_MESSAGE =
  'redis-server not found: install it (apt-get install redis-server) or set REDIS_URL to include the Redis suite'

/** An executable on PATH, or null. */
export function findExecutable (name: string): string | null {
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    if (dir === '') continue
    const candidate = join(dir, name)
    try {
      accessSync(candidate, constants.X_OK)
      return candidate
    } catch {}
  }
  return null
}

/** The redis-server executable on PATH, or null. */
export function findRedisServer (): string | null {
  return findExecutable('redis-server')
}

/** false when a Redis is available for tests, else the reason to skip (for tap's `skip` option). */
export function redisSkipReason (): string | false {
  if (process.env.REDIS_URL !== undefined && process.env.REDIS_URL !== '') return false
  return findRedisServer() === null ? REDIS_SKIP_MESSAGE : false
}

/** false when tests can start their own redis-server processes (to kill, restart, cluster), else why not. */
export function ownRedisSkipReason (): string | false {
  return findRedisServer() === null ? 'redis-server not found: install it (apt-get install redis-server) to run the Redis fault tests' : false
}

export async function freePort (): Promise<number> {
  return await new Promise((resolve, reject) => {
    const server = createServer()
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const address = server.address()
      const port = typeof address === 'object' && address !== null ? address.port : 0
      server.close(() => resolve(port))
    })
  })
}

const running = new Set<ChildProcess>()
// Last resort if a test run dies before its teardown: never leave a redis-server behind.
process.once('exit', () => { for (const child of running) child.kill('SIGKILL') })

export interface RedisServer {
  url: string
  port: number
  /** Its working directory (AOF and RDB files live there). */
  dir: string
  pid: number
  /** SIGTERM (SIGKILL after 3 s); resolves once it has exited. */
  stop: () => Promise<void>
  /** Sends a signal (default SIGKILL) and resolves once it has exited. */
  kill: (signal?: NodeJS.Signals) => Promise<void>
  /** Everything it printed so far. */
  output: () => string
}

export interface RedisServerOptions {
  executable?: string | null
  /** A fixed port (e.g. to restart a server where it was); default a free one. */
  port?: number
  /** A working directory the caller owns (kept after exit); default a temporary one, removed on exit. */
  dir?: string
  /** More redis-server arguments; they override the defaults (no persistence). */
  args?: string[]
  /** What its output says once it is ready. Default "Ready to accept connections". */
  readyWhen?: string
  /** A config file to start from (Sentinel needs one). */
  configFile?: string
}

/**
 * Starts a throwaway redis-server on a free port, without persistence unless `args` ask for it, in
 * a temporary directory (or `dir`). Accepts the executable path for compatibility.
 */
export async function startRedisServer (opts: RedisServerOptions | string | null = {}): Promise<RedisServer> {
  const options: RedisServerOptions = typeof opts === 'object' && opts !== null ? opts : { executable: opts }
  const executable = options.executable === undefined ? findRedisServer() : options.executable
  if (executable === null) throw new Error(REDIS_SKIP_MESSAGE)
  if (options.port !== undefined) return await spawnRedis(executable, options.port, options)
  let lastError: Error | null = null
  // Another process may grab the port between our probe and redis-server's bind: try again then.
  for (let attempt = 0; attempt < 3; attempt++) {
    const port = await freePort()
    try {
      return await spawnRedis(executable, port, options)
    } catch (err) {
      lastError = err as Error
    }
  }
  throw lastError ?? new Error('redis-server did not start')
}

async function spawnRedis (executable: string, port: number, options: RedisServerOptions): Promise<RedisServer> {
  const ownsDir = options.dir === undefined
  const dir = options.dir ?? mkdtempSync(join(tmpdir(), 'latentbridge-redis-'))
  const args = [
    ...(options.configFile !== undefined ? [options.configFile] : []),
    '--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir,
    ...(options.args ?? [])
  ]
  const child = spawn(executable, args, { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] })
  running.add(child)
  const exited = new Promise<void>(resolve => {
    const done = (): void => {
      running.delete(child)
      if (ownsDir) rmSync(dir, { recursive: true, force: true })
      resolve()
    }
    child.once('exit', done)
    // A process that could not be spawned never exits.
    child.once('error', () => { if (child.pid === undefined) done() })
  })

  let output = ''
  const readyWhen = options.readyWhen ?? 'Ready to accept connections'
  const onData = (chunk: Buffer): void => {
    // Keep the tail only: a long-running server must not grow this for ever.
    output = (output + chunk.toString()).slice(-20_000)
  }
  child.stdout?.on('data', onData)
  child.stderr?.on('data', onData)
  try {
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`redis-server did not start within 5 s:\n${output}`)), 5000)
      const check = (): void => {
        if (output.includes(readyWhen)) {
          clearTimeout(timer)
          resolve()
        }
      }
      child.stdout?.on('data', check)
      child.stderr?.on('data', check)
      child.once('error', err => { clearTimeout(timer); reject(err) })
      child.once('exit', code => { clearTimeout(timer); reject(new Error(`redis-server exited with ${code}:\n${output}`)) })
    })
  } catch (err) {
    child.kill('SIGKILL')
    await exited
    throw err
  }

  let stopping: Promise<void> | null = null
  const kill = async (signal: NodeJS.Signals = 'SIGKILL'): Promise<void> => {
    if (child.exitCode === null && child.signalCode === null) child.kill(signal)
    await exited
  }
  const stop = async (): Promise<void> => {
    stopping ??= (async () => {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGTERM')
        const timer = setTimeout(() => child.kill('SIGKILL'), 3000)
        await exited
        clearTimeout(timer)
      }
    })()
    await stopping
  }
  return { url: `redis://127.0.0.1:${port}`, port, dir, pid: child.pid ?? 0, stop, kill, output: () => output }
}

/** Polls `check` every `everyMs` until it returns true; throws `what` after `timeoutMs`. */
export async function waitUntil (what: string, check: () => Promise<boolean> | boolean, timeoutMs = 10_000, everyMs = 20): Promise<void> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    try {
      if (await check()) return
    } catch {}
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)
    await new Promise(resolve => setTimeout(resolve, everyMs))
  }
}

async function withConnection<T> (port: number, fn: (redis: Redis) => Promise<T>): Promise<T> {
  const redis = new Redis({ port, host: '127.0.0.1', lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null })
  redis.on('error', () => {})
  try {
    await redis.connect()
    return await fn(redis)
  } finally {
    redis.disconnect()
  }
}

export const CLUSTER_SKIP_MESSAGE =
  'redis-server and redis-cli are needed to start a Redis Cluster (apt-get install redis-server); skipping the cluster suite'

/** false when a Redis Cluster can be started here, else why not. */
export function clusterSkipReason (): string | false {
  return findRedisServer() === null || findExecutable('redis-cli') === null ? CLUSTER_SKIP_MESSAGE : false
}

export interface RedisCluster {
  nodes: Array<{ host: string, port: number }>
  servers: RedisServer[]
  stop: () => Promise<void>
}

/**
 * A Redis Cluster of `masters` primaries without replicas: redis-server --cluster-enabled yes
 * processes joined with `redis-cli --cluster create ... --cluster-yes`, ready once every node
 * reports cluster_state:ok.
 */
export async function startRedisCluster (masters = 3): Promise<RedisCluster> {
  const cli = findExecutable('redis-cli')
  if (cli === null || findRedisServer() === null) throw new Error(CLUSTER_SKIP_MESSAGE)
  const servers: RedisServer[] = []
  const stop = async (): Promise<void> => { await Promise.all(servers.map(async s => { await s.stop() })) }
  try {
    servers.push(...await Promise.all(Array.from({ length: masters }, async () => await startRedisServer({
      args: ['--cluster-enabled', 'yes', '--cluster-config-file', 'nodes.conf', '--cluster-node-timeout', '5000']
    }))))
    const nodes = servers.map(s => ({ host: '127.0.0.1', port: s.port }))
    const created = await new Promise<{ code: number | null, output: string }>((resolve, reject) => {
      const child = spawn(cli, ['--cluster', 'create', ...nodes.map(n => `${n.host}:${n.port}`), '--cluster-replicas', '0', '--cluster-yes'],
        { stdio: ['ignore', 'pipe', 'pipe'] })
      running.add(child)
      let output = ''
      child.stdout?.on('data', (c: Buffer) => { output += c.toString() })
      child.stderr?.on('data', (c: Buffer) => { output += c.toString() })
      const timer = setTimeout(() => child.kill('SIGKILL'), 30_000)
      child.once('error', reject)
      child.once('exit', code => {
        clearTimeout(timer)
        running.delete(child)
        resolve({ code, output })
      })
    })
    if (created.code !== 0) throw new Error(`redis-cli --cluster create failed (${created.code}):\n${created.output}`)
    for (const node of nodes) {
      await waitUntil(`cluster_state:ok on ${node.port}`, async () =>
        await withConnection(node.port, async redis => String(await redis.cluster('INFO')).includes('cluster_state:ok')))
    }
    return { nodes, servers, stop }
  } catch (err) {
    await stop()
    throw err
  }
}

export interface RedisSentinelGroup {
  /** The sentinel's address (one sentinel, quorum 1). */
  sentinels: Array<{ host: string, port: number }>
  name: string
  primary: RedisServer
  replica: RedisServer
  sentinel: RedisServer
  stop: () => Promise<void>
}

/**
 * A primary, one replica and one sentinel (quorum 1) monitoring them as `name`, ready once the
 * replica is in sync and the sentinel knows both.
 */
export async function startRedisSentinelGroup (name = 'mymaster'): Promise<RedisSentinelGroup> {
  const started: RedisServer[] = []
  const stop = async (): Promise<void> => { await Promise.all(started.map(async s => { await s.stop() })) }
  try {
    // Without the default 5 s delay before a diskless full sync, the replica is in sync at once.
    const primary = await startRedisServer({ args: ['--repl-diskless-sync-delay', '0'] })
    started.push(primary)
    const replica = await startRedisServer({ args: ['--replicaof', '127.0.0.1', String(primary.port), '--repl-diskless-sync-delay', '0'] })
    started.push(replica)
    await waitUntil('the replica in sync', async () =>
      await withConnection(replica.port, async redis => String(await redis.info('replication')).includes('master_link_status:up')))
    const dir = mkdtempSync(join(tmpdir(), 'latentbridge-sentinel-'))
    const configFile = join(dir, 'sentinel.conf')
    writeFileSync(configFile, [
      `sentinel monitor ${name} 127.0.0.1 ${primary.port} 1`,
      `sentinel down-after-milliseconds ${name} 1000`,
      `sentinel failover-timeout ${name} 5000`,
      ''
    ].join('\n'))
    const sentinel = await startRedisServer({ configFile, args: ['--sentinel'], readyWhen: '+monitor master', dir })
    started.push(sentinel)
    const sentinelStop = sentinel.stop
    sentinel.stop = async () => {
      await sentinelStop()
      rmSync(dir, { recursive: true, force: true })
    }
    await waitUntil('the sentinel to know the replica', async () =>
      await withConnection(sentinel.port, async redis => {
        const replicas = await redis.call('SENTINEL', 'REPLICAS', name) as unknown[]
        return Array.isArray(replicas) && replicas.length > 0
      }))
    return { sentinels: [{ host: '127.0.0.1', port: sentinel.port }], name, primary, replica, sentinel, stop }
  } catch (err) {
    await stop()
    throw err
  }
}

export interface TestRedis {
  url: string
  /** true when REDIS_URL pointed at a Redis we must share (and clean up after) */
  external: boolean
  /** A fresh key prefix, unique to this test run, for one store's data. */
  newPrefix: () => string
  /** Deletes every key of a prefix (its `{prefix}:` hash tag). */
  deletePrefix: (prefix: string) => Promise<void>
  /** A plain connection for inspecting raw keys. */
  admin: Redis
  stop: () => Promise<void>
}

interface TeardownTarget { teardown: (fn: () => unknown) => void }

/**
 * A Redis for a test: REDIS_URL when set, else a redis-server started for this run. Registers its
 * own teardown on `t` (connections closed, keys deleted, server stopped).
 */
export async function redisForTests (t: TeardownTarget): Promise<TestRedis> {
  const externalUrl = process.env.REDIS_URL
  const external = externalUrl !== undefined && externalUrl !== ''
  const server = external ? null : await startRedisServer()
  const url = external ? externalUrl : server!.url
  const admin = new Redis(url, { maxRetriesPerRequest: 1, lazyConnect: true })
  admin.on('error', () => {})
  await admin.connect()

  const run = `lbtest-${randomUUID().slice(0, 8)}`
  const prefixes: string[] = []
  let counter = 0
  const deletePrefix = async (prefix: string): Promise<void> => {
    const pattern = `${globEscape(`{${prefix}}`)}:*`
    let cursor = '0'
    do {
      const [next, keys] = await admin.scan(cursor, 'MATCH', pattern, 'COUNT', 1000)
      if (keys.length > 0) await admin.del(...keys)
      cursor = next
    } while (cursor !== '0')
  }

  let stopped = false
  const stop = async (): Promise<void> => {
    if (stopped) return
    stopped = true
    try {
      if (admin.status === 'ready') for (const prefix of prefixes) await deletePrefix(prefix)
    } finally {
      admin.disconnect()
      await server?.stop()
    }
  }
  t.teardown(stop)
  return {
    url,
    external,
    newPrefix: () => {
      const prefix = `${run}-${++counter}`
      prefixes.push(prefix)
      return prefix
    },
    deletePrefix,
    admin,
    stop
  }
}

function globEscape (s: string): string {
  return s.replace(/[*?[\]\\]/g, c => `\\${c}`)
}

/** The error a promise rejects with (fails when it resolves), and how long that took. */
export async function failure (promise: Promise<unknown>): Promise<{ err: unknown, ms: number }> {
  const started = Date.now()
  try {
    await promise
  } catch (err) {
    return { err, ms: Date.now() - started }
  }
  throw new Error('expected a rejection')
}
