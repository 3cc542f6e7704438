import type { Test } from 'tap'
import { ProblemError, problemType } from '../../src/errors.js'
import type { QueueOptions } from '../../src/jobs/memory.js'
import type { JobProcessor, Operation, OperationProgress, OperationQueue } from '../../src/jobs/types.js'
import { waitUntil } from './redis-server.js'

/**
 * The contract every operations queue backend passes (memory in process, BullMQ on Redis), run by
 * test/operations/queue-memory.test.ts and queue-bullmq.test.ts. Jobs here are driven by gates the
 * test opens, never by sleeps.
 */

export type QueueFactory = (processor: JobProcessor, opts?: Partial<QueueOptions>) => Promise<OperationQueue>

export const CONTRACT_DEFAULTS: QueueOptions = { concurrency: 1, maxQueued: 100, ttlMs: 60_000, idempotencyTtlMs: 60_000, retryAfterSeconds: 7 }

/** A processor whose jobs hold until the test opens their gate; it records what ran. */
export function gatedProcessor (): {
  processor: JobProcessor
  open: (name: string) => void
  started: (name: string) => boolean
  runs: string[]
  published: Map<string, OperationProgress[]>
} {
  const gates = new Map<string, { promise: Promise<void>, open: () => void }>()
  const gate = (name: string): { promise: Promise<void>, open: () => void } => {
    let found = gates.get(name)
    if (found === undefined) {
      let open = (): void => {}
      const promise = new Promise<void>(resolve => { open = resolve })
      found = { promise, open }
      gates.set(name, found)
    }
    return found
  }
  const runs: string[] = []
  const published = new Map<string, OperationProgress[]>()
  const processor: JobProcessor = async (job, signal, publish) => {
    const input = job.input as { name: string, fail?: 'problem' | 'crash', steps?: number }
    runs.push(input.name)
    const mine: OperationProgress[] = published.get(job.id) ?? []
    published.set(job.id, mine)
    const steps = input.steps ?? 2
    const report = (done: number): void => {
      const p = { phase: 'work', done, total: steps, fraction: done / steps }
      mine.push(p)
      publish(p)
    }
    report(0)
    await Promise.race([gate(input.name).promise, new Promise((_resolve, reject) => {
      signal.addEventListener('abort', () => reject(signal.reason), { once: true })
    })])
    signal.throwIfAborted()
    for (let i = 1; i <= steps; i++) report(i)
    if (input.fail === 'problem') throw new ProblemError('unprocessable', `job ${input.name} cannot be done`)
    if (input.fail === 'crash') throw new Error('boom')
    return { echoed: input.name }
  }
  return { processor, open: name => gate(name).open(), started: name => runs.includes(name), runs, published }
}

async function finished (queue: OperationQueue, id: string): Promise<Operation> {
  let op: Operation | null = null
  await waitUntil(`operation ${id} to finish`, async () => {
    op = await queue.wait(id, 1000)
    return op !== null && op.finishedAt !== null
  }, 60_000, 0)
  return op as unknown as Operation
}

export function queueContract (t: Test, name: string, factory: QueueFactory): void {
  t.test(`${name}: a job runs to its result, with its times, attempts and progress`, async t => {
    const g = gatedProcessor()
    const queue = await factory(g.processor)
    t.teardown(async () => { await queue.close() })
    const { operation, created } = await queue.enqueue('echo', { name: 'a', steps: 3 })
    t.equal(created, true)
    // A worker may have taken it already by the time enqueue reads it back.
    t.ok(['queued', 'running'].includes(operation.status), `enqueued: ${operation.status}`)
    t.match(operation, { kind: 'echo', finishedAt: null })
    t.match(operation.id, /^[0-9a-f-]{36}$/)
    await waitUntil('the job to start', () => g.started('a'))
    await waitUntil('running', async () => (await queue.get(operation.id))?.status === 'running')
    t.equal((await queue.stats()).running, 1)
    g.open('a')
    const done = await finished(queue, operation.id)
    t.match(done, { status: 'succeeded', result: { echoed: 'a' }, attempts: 1 })
    t.equal(done.error, undefined)
    t.ok(done.createdAt <= (done.startedAt as string) && (done.startedAt as string) <= (done.finishedAt as string), `created ≤ started ≤ finished: ${done.createdAt} ${String(done.startedAt)} ${String(done.finishedAt)}`)
    t.same(done.progress, { phase: 'work', done: 3, total: 3, fraction: 1 }, 'the last progress published')
    t.same(await queue.get('00000000-0000-4000-8000-000000000000'), null, 'an unknown id is null')
  })

  t.test(`${name}: a client's problem fails the operation at once, with the problem`, async t => {
    const g = gatedProcessor()
    const queue = await factory(g.processor)
    t.teardown(async () => { await queue.close() })
    const { operation } = await queue.enqueue('echo', { name: 'bad', fail: 'problem' })
    g.open('bad')
    const done = await finished(queue, operation.id)
    t.match(done, { status: 'failed', attempts: 1, error: { type: problemType('unprocessable'), status: 422, detail: 'job bad cannot be done' } })
    t.equal(done.result, undefined)
    t.same(g.runs, ['bad'], 'not retried')
  })

  t.test(`${name}: cancel stops a running job, a queued one never runs, and the worker is free for the next`, async t => {
    const g = gatedProcessor()
    const queue = await factory(g.processor)
    t.teardown(async () => { await queue.close() })
    const running = (await queue.enqueue('echo', { name: 'long' })).operation
    const queued = (await queue.enqueue('echo', { name: 'waiting' })).operation
    const next = (await queue.enqueue('echo', { name: 'next' })).operation
    await waitUntil('the first job to start', () => g.started('long'))
    t.equal((await queue.get(queued.id))?.status, 'queued', 'one worker: the second waits')
    t.equal((await queue.cancel(queued.id))?.status, 'cancelled', 'a queued job is cancelled at once')
    await queue.cancel(running.id)
    const stopped = await finished(queue, running.id)
    t.match(stopped, { status: 'cancelled', error: { type: problemType('cancelled') } })
    t.equal(stopped.result, undefined)
    g.open('next')
    t.match(await finished(queue, next.id), { status: 'succeeded' }, 'the worker ran the next job')
    t.notOk(g.runs.includes('waiting'), 'the cancelled queued job never ran')
    t.equal((await queue.get(queued.id))?.status, 'cancelled')
    t.equal((await queue.cancel(next.id))?.status, 'succeeded', 'cancelling a finished operation changes nothing')
    t.equal(await queue.cancel('00000000-0000-4000-8000-000000000000'), null)
  })

  t.test(`${name}: an idempotency key finds its operation; another body with it is refused`, async t => {
    const g = gatedProcessor()
    const queue = await factory(g.processor)
    t.teardown(async () => { await queue.close() })
    const all = await Promise.all(Array.from({ length: 10 }, async () => await queue.enqueue('echo', { name: 'once' }, { idempotencyKey: 'k1', fingerprint: 'f1' })))
    t.equal(new Set(all.map(e => e.operation.id)).size, 1, 'ten concurrent enqueues with one key: one operation')
    t.equal(all.filter(e => e.created).length, 1, 'one of them created it')
    g.open('once')
    await finished(queue, all[0].operation.id)
    const again = await queue.enqueue('echo', { name: 'once' }, { idempotencyKey: 'k1', fingerprint: 'f1' })
    t.match(again, { created: false, operation: { id: all[0].operation.id, status: 'succeeded', result: { echoed: 'once' } } })
    t.same(g.runs, ['once'], 'run once')
    const err = await queue.enqueue('echo', { name: 'other' }, { idempotencyKey: 'k1', fingerprint: 'f2' }).then(() => null, (e: unknown) => e)
    t.ok(err instanceof ProblemError && err.type === problemType('idempotency-key-reused') && err.status === 422, 'another fingerprint: 422 idempotency-key-reused')
    const other = await queue.enqueue('echo', { name: 'other' }, { idempotencyKey: 'k2', fingerprint: 'f2' })
    t.not(other.operation.id, all[0].operation.id, 'another key: another operation')
    g.open('other')
  })

  t.test(`${name}: a full queue refuses with 429 operations-full and Retry-After`, async t => {
    const g = gatedProcessor()
    const queue = await factory(g.processor, { maxQueued: 2 })
    t.teardown(async () => { await queue.close() })
    const first = (await queue.enqueue('echo', { name: 'q0' })).operation
    await waitUntil('the first to run', () => g.started('q0'))
    await queue.enqueue('echo', { name: 'q1' })
    await queue.enqueue('echo', { name: 'q2' })
    const err = await queue.enqueue('echo', { name: 'q3' }).then(() => null, (e: unknown) => e)
    t.ok(err instanceof ProblemError && err.type === problemType('operations-full') && err.status === 429, '429 operations-full')
    t.equal((err as ProblemError).headers?.['retry-after'], '7')
    t.same(await queue.stats(), { queued: 2, running: 1 })
    for (const n of ['q0', 'q1', 'q2']) g.open(n)
    await finished(queue, first.id)
  })

  t.test(`${name}: list filters by status and kind, newest first`, async t => {
    const g = gatedProcessor()
    const queue = await factory(g.processor)
    t.teardown(async () => { await queue.close() })
    const a = (await queue.enqueue('echo', { name: 'l1' })).operation
    g.open('l1')
    await finished(queue, a.id)
    const b = (await queue.enqueue('other', { name: 'l2' })).operation
    await waitUntil('l2 to run', () => g.started('l2'))
    const all = await queue.list({}, 10)
    t.same(all.map(o => o.id), [b.id, a.id])
    t.same((await queue.list({ status: 'succeeded' }, 10)).map(o => o.id), [a.id])
    t.same((await queue.list({ status: 'running' }, 10)).map(o => o.id), [b.id])
    t.same((await queue.list({ kind: 'other' }, 10)).map(o => o.id), [b.id])
    t.same((await queue.list({ kind: 'echo', status: 'running' }, 10)).map(o => o.id), [])
    t.same((await queue.list({}, 1)).map(o => o.id), [b.id], 'at most limit')
    const waited = await queue.wait(b.id, 50)
    t.equal(waited?.status, 'running', 'wait returns the operation as it is when the time passes')
    g.open('l2')
    t.equal((await queue.wait(b.id, 60_000))?.status, 'succeeded', 'wait returns once it ends')
  })

  t.test(`${name}: progress published never goes backwards`, async t => {
    const g = gatedProcessor()
    const queue = await factory(g.processor)
    t.teardown(async () => { await queue.close() })
    const { operation } = await queue.enqueue('echo', { name: 'p', steps: 50 })
    const seen: number[] = []
    const watching = (async () => {
      for (;;) {
        const op = await queue.get(operation.id)
        if (op?.progress != null) seen.push(op.progress.fraction)
        if (op === null || op.finishedAt !== null) return
        await new Promise(resolve => setImmediate(resolve))
      }
    })()
    await waitUntil('p to start', () => g.started('p'))
    g.open('p')
    await watching
    t.ok(seen.length > 0, `${seen.length} readings`)
    t.ok(seen.every((f, i) => i === 0 || f >= seen[i - 1]), 'each reading at least the one before')
    t.equal(seen[seen.length - 1], 1)
  })
}
