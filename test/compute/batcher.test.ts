/**
 * The micro-batcher and the row permits on their own: which requests are joined, where each
 * caller's rows are in the joint result, and what happens on failure. A fake clock and a gated
 * run function stand in for time and the engine; nothing here is timed.
 */
import t from 'tap'
import { MicroBatcher, sliceRows, stackRows, type BatchRunInfo } from '../../src/compute/batcher.js'
import { Permits } from '../../src/util/permits.js'
import type { Matrix } from '../../src/math/matrix.js'

const m = (rows: number, cols: number, start: number): Matrix =>
  ({ rows, cols, data: Float32Array.from({ length: rows * cols }, (_, i) => start + i) })

/** A run that records its inputs and returns them doubled. */
function recorder (): { calls: Matrix[], run: (x: Matrix) => Promise<Matrix> } {
  const calls: Matrix[] = []
  return {
    calls,
    run: async x => {
      calls.push(x)
      return { rows: x.rows, cols: x.cols, data: x.data.map(v => 2 * v) }
    }
  }
}

t.test('requests of one key in one window are joined; each gets its own rows back', async t => {
  const runs: BatchRunInfo[] = []
  const batcher = new MicroBatcher({ windowMs: 20, maxRows: 100, onRun: r => runs.push(r) })
  const { calls, run } = recorder()
  const inputs = [m(1, 3, 0), m(2, 3, 100), m(3, 3, 200)]
  const outcomes = await Promise.all(inputs.map(async x => await batcher.submit('k', x, run)))
  t.equal(calls.length, 1, 'one run for three requests')
  t.equal(calls[0].rows, 6)
  t.same(runs, [{ key: 'k', tag: '', requests: 3, rows: 6 }])
  outcomes.forEach((o, i) => {
    const mine = sliceRows(o.result, o.offset, o.rows)
    t.same(Array.from(mine.data), Array.from(inputs[i].data).map(v => 2 * v), `request ${i} gets its rows`)
    t.equal(o.batchRequests, 3)
    t.equal(o.batchRows, 6)
    t.ok(o.queueMs >= 0 && o.computeMs >= 0)
  })
  t.same(outcomes.map(o => o.offset), [0, 1, 3])
  t.equal(batcher.runs, 1)
  t.equal(batcher.requests, 3)
})

t.test('different keys never share a run', async t => {
  const batcher = new MicroBatcher({ windowMs: 10, maxRows: 100 })
  const a = recorder()
  const b = recorder()
  await Promise.all([batcher.submit('a', m(1, 2, 0), a.run), batcher.submit('b', m(1, 2, 5), b.run), batcher.submit('a', m(1, 2, 9), a.run)])
  t.equal(a.calls.length, 1)
  t.equal(a.calls[0].rows, 2)
  t.equal(b.calls.length, 1)
  t.equal(b.calls[0].rows, 1)
})

t.test('a batch runs as soon as it holds maxRows rows, without waiting for the window', async t => {
  // A window far longer than the test's time limit: only the row budget can start this run.
  const batcher = new MicroBatcher({ windowMs: 1000, maxRows: 4 })
  const { calls, run } = recorder()
  const outcomes = await Promise.all([batcher.submit('k', m(2, 1, 0), run), batcher.submit('k', m(2, 1, 10), run)])
  t.equal(calls.length, 1)
  t.equal(calls[0].rows, 4)
  t.same(outcomes.map(o => o.offset), [0, 2])
  t.equal(batcher.pending, 0, 'nothing left waiting')
})

t.test('a request that would overflow the open batch starts the next one; big requests run alone', async t => {
  const batcher = new MicroBatcher({ windowMs: 5, maxRows: 4 })
  const { calls, run } = recorder()
  await Promise.all([
    batcher.submit('k', m(3, 1, 0), run),
    batcher.submit('k', m(2, 1, 10), run), // 3 + 2 > 4: the first batch goes, this opens another
    batcher.submit('k', m(9, 1, 20), run) // ≥ maxRows: alone, not joined
  ])
  t.same(calls.map(c => c.rows).sort((x, y) => x - y), [2, 3, 9])
})

t.test('window 0 joins what arrives in the same event-loop turn', async t => {
  const batcher = new MicroBatcher({ windowMs: 0, maxRows: 100 })
  const { calls, run } = recorder()
  await Promise.all([batcher.submit('k', m(1, 1, 0), run), batcher.submit('k', m(1, 1, 1), run)])
  t.equal(calls.length, 1)
  await batcher.submit('k', m(1, 1, 2), run)
  t.equal(calls.length, 2)
})

t.test('a failed run rejects every request of its batch, and only those', async t => {
  const batcher = new MicroBatcher({ windowMs: 5, maxRows: 100 })
  const failing = async (): Promise<Matrix> => { throw new Error('engine down') }
  const results = await Promise.allSettled([batcher.submit('k', m(1, 1, 0), failing), batcher.submit('k', m(1, 1, 1), failing)])
  t.same(results.map(r => r.status), ['rejected', 'rejected'])
  t.match((results[0] as PromiseRejectedResult).reason, { message: 'engine down' })
  const { run } = recorder()
  const ok = await batcher.submit('k', m(1, 1, 3), run)
  t.same(Array.from(ok.result.data), [6], 'the next batch is unaffected')
})

t.test('queue time runs from submit to the run start, compute time over the run', async t => {
  let clock = 0
  const batcher = new MicroBatcher({ windowMs: 5, maxRows: 100, now: () => clock })
  const outcome = batcher.submit('k', m(1, 1, 0), async x => {
    clock += 7 // the run takes 7 "ms"
    return x
  })
  clock = 3 // the window closes at "3 ms" on the fake clock
  const o = await outcome
  t.equal(o.queueMs, 3)
  t.equal(o.computeMs, 7)
})

t.test('stackRows copies once; sliceRows is a view', async t => {
  const a = m(1, 2, 0)
  t.equal(stackRows([a], 2), a, 'a single input passes through')
  const s = stackRows([a, m(2, 2, 10)], 2)
  t.same(Array.from(s.data), [0, 1, 10, 11, 12, 13])
  const v = sliceRows(s, 1, 2)
  t.equal(v.data.buffer, s.data.buffer)
  t.same(Array.from(v.data), [10, 11, 12, 13])
  t.throws(() => new MicroBatcher({ windowMs: -1, maxRows: 1 }), RangeError)
  t.throws(() => new MicroBatcher({ windowMs: 1, maxRows: 0 }), RangeError)
})

t.test('row permits: try-acquire per row, refused when too few are free, released once', async t => {
  const p = new Permits(10)
  const a = p.tryAcquire(6)
  t.ok(a)
  t.equal(p.inUse, 6)
  t.equal(p.tryAcquire(5), undefined, '5 more do not fit')
  const b = p.tryAcquire(4)
  t.ok(b)
  t.equal(p.available, 0)
  a?.()
  a?.()
  t.equal(p.inUse, 4, 'a second release does nothing')
  b?.()
  t.equal(p.available, 10)
  t.equal(p.tryAcquire(11), undefined, 'more than the capacity never fits')
  t.throws(() => new Permits(0), RangeError)
  t.throws(() => p.tryAcquire(-1), RangeError)
})
