import { randomUUID } from 'node:crypto'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Redis } from 'ioredis'
import t from 'tap'
import { ProblemError } from '../../src/errors.js'
import { RedisStore } from '../../src/store/index.js'
import type { StoreChange } from '../../src/store/types.js'
import { failure, ownRedisSkipReason, startRedisServer, waitUntil, type RedisServer } from '../helpers/redis-server.js'
import { anchorSet, space, translator } from './contract.js'

/*
 * The Redis store when Redis misbehaves, against real redis-server processes that the tests stop,
 * freeze (SIGSTOP), kill and restart: failures to reach Redis are 503 problems and come fast, the
 * same store recovers when Redis returns, and its change feed reports a resync.
 */

const skip = ownRedisSkipReason()

function is503 (err: unknown): boolean {
  return err instanceof ProblemError && err.status === 503 && err.headers?.['retry-after'] === '1'
}

async function killFeedConnection (server: RedisServer, connectionName: string): Promise<number> {
  const admin = new Redis(server.port, '127.0.0.1')
  admin.on('error', () => {})
  try {
    let killed = 0
    for (const line of String(await admin.client('LIST')).split('\n')) {
      const id = line.includes(`name=${connectionName}:changes `) ? /id=(\d+)/.exec(line)?.[1] : undefined
      if (id !== undefined) killed += Number(await admin.client('KILL', 'ID', id))
    }
    return killed
  } finally {
    admin.disconnect()
  }
}

t.test('Redis faults, store level', { skip }, async t => {
  t.test('failures to reach Redis are 503 problems with Retry-After; error replies are not', async t => {
    const server = await startRedisServer()
    t.teardown(server.stop)
    const store = await RedisStore.connect({ url: server.url, keyPrefix: 'faults' })
    t.teardown(async () => { await store.close() })
    await store.putSpace(space('A', 2))
    await store.putSpace(space('B', 2))
    await store.putAnchorSet(anchorSet('wiki', ['a']))
    await store.createTranslator(translator('t1', 'A', 'B', 'wiki'), { activate: false })
    const duplicate = await failure(store.createTranslator(translator('t1', 'B', 'A', 'wiki'), { activate: false }))
    t.notOk(duplicate.err instanceof ProblemError, 'a script error (a bug) stays a plain error, a 500')
    t.match((duplicate.err as Error).message, /already exists/)

    await server.stop()
    for (const [what, call] of [
      ['getSpace', () => store.getSpace('A')],
      ['listSpaces', () => store.listSpaces()],
      ['putSpace (script)', () => store.putSpace(space('C', 2))],
      ['getEmbeddings', () => store.getEmbeddings('wiki', 'A')],
      ['getActiveTranslatorId', () => store.getActiveTranslatorId('A', 'B')],
      ['stats (MULTI)', () => store.stats()]
    ] as Array<[string, () => Promise<unknown>]>) {
      const { err, ms } = await failure(call())
      t.ok(is503(err), `${what}: 503 problem (${(err as Error).message})`)
      t.ok(ms < 200, `${what}: at once (${ms} ms)`)
    }
    await t.rejects(store.ping(), 'ping rejects')
  })

  t.test('a frozen Redis (SIGSTOP): commands give up after the command timeout, as 503; they work again when it resumes', async t => {
    const server = await startRedisServer()
    t.teardown(async () => {
      process.kill(server.pid, 'SIGCONT')
      await server.stop()
    })
    const store = await RedisStore.connect({ url: server.url, keyPrefix: 'frozen', commandTimeoutMs: 300 })
    t.teardown(async () => { await store.close() })
    await store.putSpace(space('A', 2))
    process.kill(server.pid, 'SIGSTOP')
    const { err, ms } = await failure(store.getSpace('A'))
    t.ok(is503(err), `503 problem: ${(err as Error).message}`)
    t.ok(ms >= 250 && ms < 1000, `after the command timeout (${ms} ms)`)
    const started = Date.now()
    await t.rejects(store.ping(), 'ping rejects too')
    t.ok(Date.now() - started < 1500, 'within its own timeout')
    process.kill(server.pid, 'SIGCONT')
    await waitUntil('the store to answer again', async () => (await store.getSpace('A')) !== null, 5000)
    t.pass('it answers again without a new connection being made by hand')
  })

  t.test('a killed Redis: commands in flight and new ones fail at once; after a restart on the same port the same store recovers and its feed resyncs', async t => {
    const dir = mkdtempSync(join(tmpdir(), 'latentbridge-faults-'))
    t.teardown(() => rmSync(dir, { recursive: true, force: true }))
    const first = await startRedisServer({ dir, args: ['--appendonly', 'yes', '--appendfsync', 'always'] })
    const port = first.port
    let current: RedisServer = first
    t.teardown(async () => { await current.stop() })
    const connectionName = `lb-faults-${randomUUID().slice(0, 8)}`
    const store = await RedisStore.connect({ url: first.url, keyPrefix: 'killed', connectionName })
    t.teardown(async () => { await store.close() })
    const changes: StoreChange[] = []
    store.onChange(change => changes.push(change))
    await waitUntil('the feed to carry changes', async () => {
      await store.putSpace(space('probe', 1, { description: String(Math.random()) }))
      await new Promise(resolve => setTimeout(resolve, 20))
      return changes.some(c => c.key === 'probe')
    }, 5000, 10)
    await store.putSpace(space('A', 2))

    // Frozen, so the next command stays in flight; then killed under it.
    process.kill(first.pid, 'SIGSTOP')
    const inFlight = failure(store.getSpace('A'))
    await new Promise(resolve => setTimeout(resolve, 50))
    const killedAt = Date.now()
    await first.kill('SIGKILL')
    const { err } = await inFlight
    t.ok(is503(err), `the command in flight: 503 problem (${(err as Error).message})`)
    t.ok(Date.now() - killedAt < 500, `at once (${Date.now() - killedAt} ms after the kill)`)
    const next = await failure(store.putSpace(space('B', 2)))
    t.ok(is503(next.err) && next.ms < 100, `a new command: 503 at once (${next.ms} ms)`)

    changes.length = 0
    await new Promise(resolve => setTimeout(resolve, 300))
    const restartedAt = Date.now()
    current = await startRedisServer({ port, dir, args: ['--appendonly', 'yes', '--appendfsync', 'always'] })
    await waitUntil('the store to answer again', async () => (await store.getSpace('A')) !== null, 5000, 10)
    const back = Date.now() - restartedAt
    t.ok(back < 2000, `the same store answers ${back} ms after Redis restarted`)
    t.same(await store.getSpace('A'), space('A', 2), 'with the data from before (AOF)')
    await waitUntil('the feed to resync', () => changes.some(c => c.kind === 'resync'), 3000)
    t.same(changes.filter(c => c.kind === 'resync'), [{ kind: 'resync', key: '' }], 'one resync')
    changes.length = 0
    await store.putSpace(space('C', 2))
    await waitUntil('a change after the restart', () => changes.some(c => c.key === 'C'), 2000)
    t.pass('the feed carries changes again')
  })

  t.test('losing only the feed\'s connection: resync, then changes are heard again; the first subscription is no resync', async t => {
    const server = await startRedisServer()
    t.teardown(server.stop)
    const connectionName = `lb-feed-${randomUUID().slice(0, 8)}`
    const store = await RedisStore.connect({ url: server.url, keyPrefix: 'feed', connectionName })
    const writer = await RedisStore.connect({ url: server.url, keyPrefix: 'feed' })
    t.teardown(async () => { await Promise.all([store.close(), writer.close()]) })
    const changes: StoreChange[] = []
    store.onChange(change => changes.push(change))
    await waitUntil('the feed to carry changes', async () => {
      await writer.putSpace(space('probe', 1, { description: String(Math.random()) }))
      await new Promise(resolve => setTimeout(resolve, 20))
      return changes.some(c => c.key === 'probe')
    }, 5000, 10)
    t.notOk(changes.some(c => c.kind === 'resync'), 'no resync for the first subscription')
    t.equal(await killFeedConnection(server, connectionName), 1, 'killed the feed\'s connection')
    // Published while the feed is down: lost, which is what the resync stands for.
    await writer.putSpace(space('missed', 1))
    await waitUntil('a resync', () => changes.some(c => c.kind === 'resync'), 3000)
    changes.length = 0
    await writer.putSpace(space('after', 1))
    await waitUntil('a change after the resync', () => changes.some(c => c.key === 'after'), 2000)
    t.pass('heard again')
    await store.close()
    t.equal(await killFeedConnection(server, connectionName), 0, 'close() ends the feed\'s connection')
  })
})
