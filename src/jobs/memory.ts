import { randomUUID } from 'node:crypto'
import { ProblemError } from '../errors.js'
import {
  cancelledError, isFinished, JobCancelled, operationErrorOf,
  type Enqueued, type EnqueueOptions, type JobProcessor, type Operation, type OperationFilter, type OperationQueue, type QueueEvents, type QueueStats
} from './types.js'

/**
 * The operations queue of the embedded (memory) store: jobs run in this process, FIFO, at most
 * `concurrency` at once. Like the memory store it lives and dies with the process; a job is run
 * once (nothing can take it over). Finished operations are forgotten `ttlMs` after they finish.
 */

export interface QueueOptions {
  concurrency: number
  maxQueued: number
  /** How long a finished operation is kept. */
  ttlMs: number
  idempotencyTtlMs: number
  retryAfterSeconds: number
}

interface Entry {
  op: Operation
  input: unknown
  controller: AbortController | null
  cancelRequested: boolean
  waiters: Set<() => void>
  expires: number
}

export function queueFull (maxQueued: number, retryAfterSeconds: number): ProblemError {
  return new ProblemError('operations-full', `${maxQueued} operations are queued already (OPERATIONS_MAX_QUEUED); retry after ${retryAfterSeconds} s`, {
    headers: { 'retry-after': String(retryAfterSeconds) }
  })
}

export function keyReused (): ProblemError {
  return new ProblemError('idempotency-key-reused', 'this Idempotency-Key was used with another request (another body or route) within IDEMPOTENCY_TTL_S; ' +
    'send that request\'s body again to get its operation, or use a new key for a new request')
}

export class MemoryQueue implements OperationQueue {
  readonly backend = 'memory' as const
  private readonly entries = new Map<string, Entry>()
  private readonly pending: string[] = []
  private readonly keys = new Map<string, { id: string, fingerprint: string | undefined, expires: number }>()
  private running = 0
  private closed = false

  constructor (private readonly processor: JobProcessor, private readonly opts: QueueOptions, private readonly events: QueueEvents = {}) {}

  private purge (): void {
    const now = Date.now()
    for (const [id, entry] of this.entries) if (isFinished(entry.op.status) && entry.expires <= now) this.entries.delete(id)
    for (const [key, held] of this.keys) if (held.expires <= now) this.keys.delete(key)
  }

  private view (entry: Entry): Operation {
    return structuredClone(entry.op)
  }

  async enqueue (kind: string, input: unknown, opts: EnqueueOptions = {}): Promise<Enqueued> {
    if (this.closed) throw new ProblemError('unavailable', 'the service is shutting down; retry on another replica', { headers: { 'retry-after': '1' } })
    this.purge()
    if (opts.idempotencyKey !== undefined) {
      const held = this.keys.get(opts.idempotencyKey)
      if (held !== undefined) {
        if (held.fingerprint !== opts.fingerprint) throw keyReused()
        const entry = this.entries.get(held.id)
        if (entry !== undefined) return { operation: this.view(entry), created: false }
      }
    }
    if (this.pending.length >= this.opts.maxQueued) throw queueFull(this.opts.maxQueued, this.opts.retryAfterSeconds)
    const id = randomUUID()
    const entry: Entry = {
      op: { id, kind, status: 'queued', progress: null, attempts: 0, createdAt: new Date().toISOString(), startedAt: null, finishedAt: null },
      input: structuredClone(input),
      controller: null,
      cancelRequested: false,
      waiters: new Set(),
      expires: Infinity
    }
    this.entries.set(id, entry)
    if (opts.idempotencyKey !== undefined) this.keys.set(opts.idempotencyKey, { id, fingerprint: opts.fingerprint, expires: Date.now() + this.opts.idempotencyTtlMs })
    this.pending.push(id)
    const operation = this.view(entry)
    this.pump()
    return { operation, created: true }
  }

  private pump (): void {
    while (!this.closed && this.running < this.opts.concurrency && this.pending.length > 0) {
      const entry = this.entries.get(this.pending.shift() as string)
      if (entry === undefined || entry.op.status !== 'queued') continue
      this.running++
      void this.execute(entry).finally(() => {
        this.running--
        this.pump()
      })
    }
  }

  private async execute (entry: Entry): Promise<void> {
    const { op } = entry
    const controller = new AbortController()
    entry.controller = controller
    op.status = 'running'
    op.attempts++
    op.startedAt = new Date().toISOString()
    this.notify(entry)
    try {
      const result = await this.processor({ id: op.id, kind: op.kind, input: entry.input, attempt: op.attempts, progress: op.progress }, controller.signal, progress => {
        if (op.progress === null || progress.fraction >= op.progress.fraction) op.progress = progress
      })
      if (entry.cancelRequested) throw new JobCancelled()
      op.status = 'succeeded'
      op.result = result
    } catch (err) {
      if (entry.cancelRequested || err instanceof JobCancelled) {
        op.status = 'cancelled'
        op.error = cancelledError()
      } else {
        op.status = 'failed'
        op.error = operationErrorOf(err).error
      }
    }
    this.finish(entry)
  }

  private finish (entry: Entry): void {
    entry.controller = null
    entry.op.finishedAt = new Date().toISOString()
    entry.expires = Date.now() + this.opts.ttlMs
    this.notify(entry)
  }

  private notify (entry: Entry): void {
    for (const wake of entry.waiters) wake()
  }

  async get (id: string): Promise<Operation | null> {
    this.purge()
    const entry = this.entries.get(id)
    return entry === undefined ? null : this.view(entry)
  }

  async list (filter: OperationFilter, limit: number): Promise<Operation[]> {
    this.purge()
    const out: Operation[] = []
    for (const entry of [...this.entries.values()].reverse()) {
      if (out.length >= limit) break
      if (filter.status !== undefined && entry.op.status !== filter.status) continue
      if (filter.kind !== undefined && entry.op.kind !== filter.kind) continue
      out.push(this.view(entry))
    }
    return out
  }

  async cancel (id: string): Promise<Operation | null> {
    const entry = this.entries.get(id)
    if (entry === undefined) return null
    if (entry.op.status === 'queued') {
      entry.cancelRequested = true
      entry.op.status = 'cancelled'
      entry.op.error = cancelledError()
      const at = this.pending.indexOf(id)
      if (at >= 0) this.pending.splice(at, 1)
      this.finish(entry)
    } else if (entry.op.status === 'running') {
      entry.cancelRequested = true
      entry.controller?.abort(new JobCancelled())
    }
    return this.view(entry)
  }

  async wait (id: string, ms: number, signal?: AbortSignal): Promise<Operation | null> {
    const entry = this.entries.get(id)
    if (entry === undefined) return null
    if (isFinished(entry.op.status) || ms <= 0) return this.view(entry)
    await new Promise<void>(resolve => {
      const done = (): void => {
        if (!isFinished(entry.op.status) && !(signal?.aborted ?? false) && Date.now() < deadline) return
        clearTimeout(timer)
        entry.waiters.delete(done)
        signal?.removeEventListener('abort', done)
        resolve()
      }
      const deadline = Date.now() + ms
      const timer = setTimeout(() => { entry.waiters.delete(done); signal?.removeEventListener('abort', done); resolve() }, ms)
      entry.waiters.add(done)
      signal?.addEventListener('abort', done)
    })
    return this.view(entry)
  }

  async stats (): Promise<QueueStats> {
    return { queued: this.pending.length, running: this.running }
  }

  async close (): Promise<void> {
    this.closed = true
    for (const entry of this.entries.values()) {
      if (entry.op.status === 'queued' || entry.op.status === 'running') {
        entry.cancelRequested = true
        entry.controller?.abort(new JobCancelled())
        if (entry.op.status === 'queued') {
          entry.op.status = 'cancelled'
          entry.op.error = cancelledError()
          this.finish(entry)
        }
      }
    }
    this.pending.length = 0
    // Let running jobs see their abort and settle (they stop at their next step).
    while (this.running > 0) await new Promise(resolve => setTimeout(resolve, 10))
    void this.events
  }
}
