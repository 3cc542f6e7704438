import t, { type Test } from 'tap'
import { ProblemError } from '../../src/errors.js'
import { BreakerStore } from '../../src/store/breaker.js'
import { MemoryStore } from '../../src/store/memory.js'
import { RedisStore } from '../../src/store/redis/index.js'
import { failure, ownRedisSkipReason, startRedisServer, waitUntil, type RedisServer } from '../helpers/redis-server.js'
import { space, storeContract } from './contract.js'

/*
 * The store's circuit breaker: closed, it passes everything through (the contract suite over a
 * wrapped memory store); around a real Redis frozen with SIGSTOP, the first call waits for the
 * command timeout and opens it, the following ones are refused at once (never sent), and it
 * closes by itself once Redis answers again (SIGCONT), with everything acknowledged still there.
 */

storeContract(t, async () => {
  const store = new BreakerStore(new MemoryStore(), { probeIntervalMs: 50 })
  return { store, cleanup: async () => { await store.close() } }
})

const skip = ownRedisSkipReason()

const isUnavailable = (err: unknown): boolean =>
  err instanceof ProblemError && err.kind === 'unavailable' && err.status === 503 && err.headers?.['retry-after'] !== undefined

async function frozenRedis (t: Test): Promise<RedisServer> {
  const server = await startRedisServer()
  t.teardown(async () => {
    process.kill(server.pid, 'SIGCONT')
    await server.stop()
  })
  return server
}

t.test('a frozen Redis behind the breaker', { skip }, async t => {
  t.test('a timed-out command opens it; later calls are refused at once; it closes by itself when Redis resumes', async t => {
    const server = await frozenRedis(t)
    const commandTimeoutMs = 3000
    const store = new BreakerStore(await RedisStore.connect({ url: server.url, keyPrefix: 'breaker', commandTimeoutMs }), { probeIntervalMs: 100 })
    t.teardown(async () => { await store.close() })
    t.equal((await store.putSpace(space('A', 2))).status, 'created', 'acknowledged before the stall')
    t.same(store.breaker, { state: 'closed', trips: 0, refused: 0 })

    process.kill(server.pid, 'SIGSTOP')
    const first = await failure(store.getSpace('A'))
    t.ok(isUnavailable(first.err), `the first call: 503 problem (${(first.err as Error).message})`)
    t.ok(first.ms >= commandTimeoutMs - 100, `after the command timeout (${first.ms} ms)`)
    t.equal(store.breaker?.state, 'open', 'and the breaker is open')

    const calls: Array<[string, () => Promise<unknown>]> = [
      ['getSpace', async () => await store.getSpace('A')],
      ['putSpace', async () => await store.putSpace(space('B', 2))],
      ['listTranslators', async () => await store.listTranslators({})],
      ['getActiveTranslatorId', async () => await store.getActiveTranslatorId('A', 'B')],
      ['translatorExists', async () => await store.translatorExists('t1')],
      ['stats', async () => await store.stats()]
    ]
    for (const [what, call] of calls) {
      const { err, ms } = await failure(call())
      t.ok(isUnavailable(err), `${what}: 503 problem`)
      t.match((err as Error).message, /store is unavailable \(Redis did not answer in time, [\d.]+ s ago\)/, `${what}: says why`)
      t.ok(ms < commandTimeoutMs / 2, `${what}: refused without waiting for the command timeout (${ms} ms)`)
    }
    t.equal(store.breaker?.refused, calls.length, 'each refused by the breaker, not sent to Redis')
    await t.rejects(store.ping(), 'ping (readiness) rejects while Redis is frozen')
    t.not(store.breaker?.state, 'closed', 'still not closed')

    process.kill(server.pid, 'SIGCONT')
    // No call is made: the breaker's own probes find Redis back.
    await waitUntil('the breaker to close by itself', () => store.breaker?.state === 'closed', 10_000, 10)
    t.equal(store.breaker?.trips, 1, 'it opened once')
    t.same(await store.getSpace('A'), space('A', 2), 'what was acknowledged before the stall is there')
    t.equal(await store.getSpace('B'), null, 'a refused write was never sent')
    t.equal((await store.putSpace(space('B', 2))).status, 'created', 'writes work again')
    await store.ping()
  })

  t.test('a failed ping (the readiness probe) opens it: calls are refused without waiting for any timeout', async t => {
    const server = await frozenRedis(t)
    // A command sent to the frozen Redis would wait ten minutes: the test ends only if none is.
    const store = new BreakerStore(await RedisStore.connect({ url: server.url, keyPrefix: 'breaker-ping', commandTimeoutMs: 600_000, pingTimeoutMs: 200 }), { probeIntervalMs: 100 })
    t.teardown(async () => { await store.close() })
    await store.putSpace(space('A', 2))
    process.kill(server.pid, 'SIGSTOP')
    await t.rejects(store.ping(), 'ping rejects after its own timeout')
    t.equal(store.breaker?.state, 'open')
    const { err } = await failure(store.getSpace('A'))
    t.ok(isUnavailable(err), `refused: ${(err as Error).message}`)
    process.kill(server.pid, 'SIGCONT')
    await waitUntil('the breaker to close by itself', () => store.breaker?.state === 'closed', 10_000, 10)
    t.same(await store.getSpace('A'), space('A', 2))
  })
})
