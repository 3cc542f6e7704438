import { spawn, type ChildProcess } from 'node:child_process'
import { randomUUID } from 'node:crypto'
import { accessSync, constants, mkdtempSync, rmSync } from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { delimiter, join } from 'node:path'
import { Redis } from 'ioredis'

export const REDIS_SKIP_MESSAGE =
  'redis-server not found: install it (apt-get install redis-server) or set REDIS_URL to include the Redis suite'

/** The redis-server executable on PATH, or null. */
export function findRedisServer (): string | null {
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    if (dir === '') continue
    const candidate = join(dir, 'redis-server')
    try {
      accessSync(candidate, constants.X_OK)
      return candidate
    } catch {}
  }
  return null
}

/** false when a Redis is available for tests, else the reason to skip (for tap's `skip` option). */
export function redisSkipReason (): string | false {
  if (process.env.REDIS_URL !== undefined && process.env.REDIS_URL !== '') return false
  return findRedisServer() === null ? REDIS_SKIP_MESSAGE : false
}

async function freePort (): Promise<number> {
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
  stop: () => Promise<void>
}

/** Starts a throwaway redis-server on a free port, without persistence, in a temporary directory. */
export async function startRedisServer (executable = findRedisServer()): Promise<RedisServer> {
  if (executable === null) throw new Error(REDIS_SKIP_MESSAGE)
  let lastError: Error | null = null
  // Another process may grab the port between our probe and redis-server's bind: try again then.
  for (let attempt = 0; attempt < 3; attempt++) {
    const port = await freePort()
    try {
      return await spawnRedis(executable, port)
    } catch (err) {
      lastError = err as Error
    }
  }
  throw lastError ?? new Error('redis-server did not start')
}

async function spawnRedis (executable: string, port: number): Promise<RedisServer> {
  const dir = mkdtempSync(join(tmpdir(), 'latentbridge-redis-'))
  const child = spawn(executable, [
    '--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir
  ], { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] })
  running.add(child)
  const exited = new Promise<void>(resolve => child.once('exit', () => {
    running.delete(child)
    rmSync(dir, { recursive: true, force: true })
    resolve()
  }))

  let output = ''
  try {
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`redis-server did not start within 5 s:\n${output}`)), 5000)
      const onData = (chunk: Buffer): void => {
        output += chunk.toString()
        if (output.includes('Ready to accept connections')) {
          clearTimeout(timer)
          resolve()
        }
      }
      child.stdout?.on('data', onData)
      child.stderr?.on('data', onData)
      child.once('error', err => { clearTimeout(timer); reject(err) })
      child.once('exit', code => { clearTimeout(timer); reject(new Error(`redis-server exited with ${code}:\n${output}`)) })
    })
  } catch (err) {
    child.kill('SIGKILL')
    await exited
    throw err
  }
  // Keep draining its output so a full pipe can never block the server.
  child.stdout?.resume()
  child.stderr?.resume()

  let stopping: Promise<void> | null = null
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
  return { url: `redis://127.0.0.1:${port}`, port, stop }
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
