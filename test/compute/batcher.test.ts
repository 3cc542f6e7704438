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

/** A run that waits for its gate to open; records its inputs' row counts. */
function gated (): { rows: number[], open: () => void, run: (x: Matrix) => Promise<Matrix>, started: Promise<void> } {
  const rows: number[] = []
  let release = (): void => {}
  const gate = new Promise<void>(resolve => { release = resolve })
  let signal = (): void => {}
  const started = new Promise<void>(resolve => { signal = resolve })
  return {
    rows,
    open: () => { release() },
    started,
    run: async x => {
      rows.push(x.rows)
      signal()
      await gate
      return x
    }
  }
}

t.test('maxRunning: while a run is in flight, later requests wait in one open batch and run together when it ends', async t => {
  const runs: BatchRunInfo[] = []
  const batcher = new MicroBatcher({ windowMs: 0, maxRows: 100, maxRunning: 1, onRun: r => runs.push(r) })
  const first = gated()
  const firstDone = batcher.submit('k', m(2, 1, 0), first.run)
  await first.started
  t.equal(batcher.inFlight, 1)
  // Three requests arrive in separate event-loop turns while the engine is busy: their windows
  // close, but no run may start, so they keep joining one batch.
  const { calls, run } = recorder()
  const later: Array<Promise<unknown>> = []
  for (let i = 0; i < 3; i++) {
    later.push(batcher.submit('k', m(1, 1, 10 * i), run))
    await new Promise(resolve => setImmediate(resolve))
  }
  t.equal(calls.length, 0, 'nothing runs while the first run is in flight')
  t.equal(batcher.pending, 1, 'one open batch holds them')
  first.open()
  await firstDone
  const outcomes = await Promise.all(later) as Array<{ offset: number, batchRequests: number }>
  t.same(calls.map(c => c.rows), [3], 'the three ran as one batch once the first run ended')
  t.same(outcomes.map(o => o.offset), [0, 1, 2])
  t.same(runs.map(r => r.requests), [1, 3])
  t.equal(batcher.inFlight, 0)
})

t.test('maxRunning: a waiting batch that fills up runs at once; requests of other keys wait their turn in order', async t => {
  const batcher = new MicroBatcher({ windowMs: 0, maxRows: 4, maxRunning: 1 })
  const first = gated()
  const firstDone = batcher.submit('busy', m(1, 1, 0), first.run)
  await first.started
  const order: string[] = []
  const tagged = (name: string) => async (x: Matrix): Promise<Matrix> => { order.push(`${name}:${x.rows}`); return x }
  const b = batcher.submit('b', m(1, 1, 0), tagged('b'))
  await new Promise(resolve => setImmediate(resolve))
  const c = batcher.submit('c', m(1, 1, 0), tagged('c'))
  await new Promise(resolve => setImmediate(resolve))
  t.same(order, [], 'b and c wait for the busy run')
  // c's batch fills up (4 rows): it no longer waits.
  const cFull = batcher.submit('c', m(3, 1, 0), tagged('c'))
  await cFull
  t.same(order, ['c:4'], 'a full batch starts without waiting')
  first.open()
  await Promise.all([firstDone, b, c])
  t.same(order, ['c:4', 'b:1'], 'b ran when a run ended')
  // A request of at least maxRows never waits either.
  const second = gated()
  const secondDone = batcher.submit('busy', m(1, 1, 0), second.run)
  await second.started
  await batcher.submit('d', m(4, 1, 0), tagged('d'))
  t.same(order.at(-1), 'd:4')
  second.open()
  await secondDone
})

t.test('maxRunning: a failed run still lets the waiting batches run', async t => {
  const batcher = new MicroBatcher({ windowMs: 0, maxRows: 100, maxRunning: 1 })
  let fail = (): void => {}
  let begun = (): void => {}
  const started = new Promise<void>(resolve => { begun = resolve })
  const failing = batcher.submit('k', m(1, 1, 0), async () => {
    begun()
    await new Promise<void>(resolve => { fail = resolve })
    throw new Error('engine down')
  })
  await started
  const { calls, run } = recorder()
  const waiting = batcher.submit('k', m(2, 1, 0), run)
  await new Promise(resolve => setImmediate(resolve))
  t.equal(calls.length, 0)
  fail()
  await t.rejects(failing, { message: 'engine down' })
  const o = await waiting
  t.same(Array.from(o.result.data), [0, 2])
  t.equal(batcher.inFlight, 0)
  t.throws(() => new MicroBatcher({ windowMs: 0, maxRows: 1, maxRunning: 0 }), RangeError)
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
