import t from 'tap'
import { Permits } from '../../src/util/permits.js'

/*
 * Permits.acquire: waiting callers are granted in order as units are released, an aborted
 * waiter takes nothing and stops holding back those behind it. Order is checked by events.
 */

t.test('waiters are granted in order as units are released', async t => {
  const pool = new Permits(10)
  const first = pool.tryAcquire(8)
  t.ok(first !== undefined)
  const granted: string[] = []
  const a = pool.acquire(5, new AbortController().signal).then(release => { granted.push('a'); return release })
  const b = pool.acquire(2, new AbortController().signal).then(release => { granted.push('b'); return release })
  await Promise.resolve()
  t.same(granted, [], 'b fits the 2 free units but waits behind a')
  first?.()
  const releaseA = await a
  const releaseB = await b
  t.same(granted, ['a', 'b'])
  t.equal(pool.inUse, 7)
  releaseA()
  releaseB()
  releaseB()
  t.equal(pool.inUse, 0, 'release is idempotent')
})

t.test('an aborted waiter takes nothing and lets the ones behind it through', async t => {
  const pool = new Permits(10)
  const held = pool.tryAcquire(8)
  const big = new AbortController()
  const refused = pool.acquire(9, big.signal)
  const small = pool.acquire(2, new AbortController().signal)
  big.abort(new Error('cancelled'))
  await t.rejects(refused, { message: 'cancelled' })
  const release = await small
  t.equal(pool.inUse, 10, 'the small waiter got its units once the head left')
  release()
  held?.()
  t.equal(pool.inUse, 0)
  await t.rejects(pool.acquire(1, AbortSignal.abort(new Error('already'))), { message: 'already' })
  await t.rejects(pool.acquire(11, new AbortController().signal), RangeError, 'more than the capacity would never be free')
  t.equal(pool.inUse, 0)
})
