import { createHash, randomUUID } from 'node:crypto'
import { Queue, UnrecoverableError, Worker, type Job } from 'bullmq'
import type { Cluster, Redis } from 'ioredis'
import { ProblemError } from '../errors.js'
import { withTimeout, type RedisTarget } from '../store/redis/connection.js'
import { keyReused, queueFull, type QueueOptions } from './memory.js'
import { createJobConnection } from './redis.js'
import {
  cancelledError, JobCancelled, operationErrorOf,
  type Enqueued, type EnqueueOptions, type JobProcessor, type Operation, type OperationError, type OperationFilter,
  type OperationProgress, type OperationQueue, type OperationStatus, type QueueEvents, type QueueStats
} from './types.js'

/**
 * Operations as BullMQ jobs on the store's Redis. Every replica runs a worker; a replica that dies
 * mid-job stops renewing the job's lock, another replica's stalled-job check (every
 * `stalledIntervalMs`) moves it back to the queue, and a worker runs it again (a job stalled more
 * than `maxStalled` times fails). A job that fails with a server-side error is retried up to
 * `attempts` runs in all; a client's problem (missing space, over budget) fails at once. The
 * operation id is the job id; what a job stores is named by it (a second run stores nothing new).
 *
 * All keys share one hash tag (`{<prefix>:ops}`), as BullMQ needs on a Redis Cluster. Next to the
 * queue's own keys: `idem:<sha256 of key>` (the operation an Idempotency-Key made, with the
 * request's fingerprint) and `cancel:<id>` (a cancel asked for; the worker running the job polls
 * it, whichever replica it is on).
 */

export interface BullQueueOptions extends QueueOptions {
  target: RedisTarget
  keyPrefix: string
  attempts: number
  lockMs: number
  stalledIntervalMs: number
  maxStalled: number
  /** How often a running job looks for a cancel. Default 250 ms. */
  cancelPollMs?: number
  /** How often `wait` looks at the operation. Default 200 ms. */
  waitPollMs?: number
  /** Name of this replica's worker (in the job's record). */
  workerName?: string
  logger?: { warn: Function, error: Function }
}

interface JobData {
  kind: string
  input: unknown
}

const QUEUE_NAME = 'operations'
/** The failure reason of a cancelled job. */
const CANCELLED = 'cancelled'
/** The most jobs of one state `list` reads. */
const LIST_READ_MAX = 1000

function queueTypes (status: OperationStatus | undefined): Array<'waiting' | 'delayed' | 'prioritized' | 'active' | 'completed' | 'failed'> {
  switch (status) {
    case undefined: return ['waiting', 'delayed', 'prioritized', 'active', 'completed', 'failed']
    case 'queued': return ['waiting', 'delayed', 'prioritized']
    case 'running': return ['active']
    case 'succeeded': return ['completed']
    case 'failed': case 'cancelled': return ['failed', 'waiting', 'delayed', 'prioritized']
  }
}

function parseError (reason: string | undefined): OperationError {
  try {
    const parsed = JSON.parse(reason ?? '') as OperationError
    if (typeof parsed.type === 'string' && typeof parsed.status === 'number') return parsed
  } catch {}
  return operationErrorOf(new Error(reason)).error
}

const iso = (ms: number | undefined): string | null => ms === undefined || ms === null || ms === 0 ? null : new Date(ms).toISOString()

export class BullQueue implements OperationQueue {
  readonly backend = 'bullmq' as const
  private readonly prefix: string
  private readonly queue: Queue<JobData>
  private readonly worker: Worker<JobData>
  private readonly client: Redis | Cluster
  private readonly workerClient: Redis | Cluster
  private readonly running = new Map<string, AbortController>()
  private closed = false

  private constructor (private readonly processor: JobProcessor, private readonly opts: BullQueueOptions, private readonly events: QueueEvents) {
    this.prefix = `{${opts.keyPrefix}:ops}`
    const name = opts.workerName ?? `latentbridge-${randomUUID().slice(0, 8)}`
    this.client = createJobConnection(opts.target, `${name}:ops`)
    this.queue = new Queue<JobData>(QUEUE_NAME, {
      connection: this.client,
      prefix: this.prefix,
      defaultJobOptions: {
        attempts: opts.attempts,
        backoff: { type: 'fixed', delay: 1000 },
        removeOnComplete: { age: Math.ceil(opts.ttlMs / 1000) },
        removeOnFail: { age: Math.ceil(opts.ttlMs / 1000) }
      }
    })
    this.workerClient = createJobConnection(opts.target, `${name}:worker`)
    this.worker = new Worker<JobData>(QUEUE_NAME, async (job, _token, signal) => await this.process(job, signal), {
      connection: this.workerClient,
      prefix: this.prefix,
      name,
      concurrency: opts.concurrency,
      lockDuration: opts.lockMs,
      stalledInterval: opts.stalledIntervalMs,
      maxStalledCount: opts.maxStalled,
      drainDelay: 1,
      autorun: false
    })
    this.worker.on('stalled', (id: string) => this.events.onStalled?.(id))
    this.worker.on('failed', (job: Job<JobData> | undefined, err: Error) => {
      if (job === undefined || err instanceof UnrecoverableError) return
      if (job.attemptsMade < (job.opts.attempts ?? 1)) this.events.onRetry?.(String(job.id), job.attemptsMade + 1)
    })
    this.worker.on('error', (err: Error) => { this.opts.logger?.warn({ err }, 'operations worker: Redis error') })
    this.queue.on('error', (err: Error) => { this.opts.logger?.warn({ err }, 'operations queue: Redis error') })
  }

  /**
   * The queue and this replica's worker. Start-up does not wait for Redis (the store's own
   * connection is the readiness gate): the connections reconnect by themselves and the worker
   * takes jobs once they are up.
   */
  static async connect (processor: JobProcessor, opts: BullQueueOptions, events: QueueEvents = {}): Promise<BullQueue> {
    const queue = new BullQueue(processor, opts, events)
    void queue.worker.run().catch((err: unknown) => { opts.logger?.error({ err }, 'operations worker stopped') })
    return queue
  }

  private key (...parts: string[]): string {
    return [this.prefix, QUEUE_NAME, ...parts].join(':')
  }

  private async process (job: Job<JobData>, bullSignal?: AbortSignal): Promise<unknown> {
    const id = String(job.id)
    if (await this.client.exists(this.key('cancel', id)) === 1) throw new UnrecoverableError(CANCELLED)
    const controller = new AbortController()
    this.running.set(id, controller)
    bullSignal?.addEventListener('abort', () => controller.abort(bullSignal.reason))
    let cancelled = false
    const poll = setInterval(() => {
      this.client.exists(this.key('cancel', id)).then(found => {
        if (found === 1 && !cancelled) {
          cancelled = true
          controller.abort(new JobCancelled())
        }
      }, () => {})
    }, this.opts.cancelPollMs ?? 250)
    // Progress goes to Redis one write at a time, the latest winning: the work never waits for it.
    let latest: OperationProgress | null = null
    let writing: Promise<void> | null = null
    const flush = async (): Promise<void> => {
      while (latest !== null) {
        const next = latest
        latest = null
        await job.updateProgress(next as unknown as object).catch(() => {})
      }
    }
    const publish = (progress: OperationProgress): void => {
      latest = progress
      if (writing === null) writing = flush().finally(() => { writing = null })
    }
    try {
      const started = job.progress
      const result = await this.processor({
        id, kind: job.data.kind, input: job.data.input, attempt: job.attemptsStarted,
        progress: typeof started === 'object' && started !== null ? started as unknown as OperationProgress : null
      }, controller.signal, publish)
      await writing
      if (cancelled) throw new JobCancelled()
      return result
    } catch (err) {
      await writing
      if (cancelled || err instanceof JobCancelled) throw new UnrecoverableError(CANCELLED)
      if (this.closed) throw new Error(JSON.stringify(operationErrorOf(new Error('the replica running it shut down')).error))
      const { error, retryable } = operationErrorOf(err)
      throw retryable ? new Error(JSON.stringify(error)) : new UnrecoverableError(JSON.stringify(error))
    } finally {
      clearInterval(poll)
      this.running.delete(id)
    }
  }

  private async toOperation (read: Job<JobData>): Promise<Operation> {
    let job = read
    const id = String(job.id)
    const [state, cancelAsked] = await Promise.all([job.getState(), this.client.exists(this.key('cancel', id))])
    // The job's fields were read before its state: one that finished in between is read again.
    if ((state === 'completed' || state === 'failed') && (job.finishedOn === undefined || job.finishedOn === null)) job = await this.queue.getJob(id) ?? job
    let status: OperationStatus
    switch (state) {
      case 'completed': status = 'succeeded'; break
      case 'failed': status = job.failedReason === CANCELLED ? 'cancelled' : 'failed'; break
      case 'active': status = 'running'; break
      default: status = cancelAsked === 1 ? 'cancelled' : 'queued'
    }
    const progress = typeof job.progress === 'object' && job.progress !== null ? job.progress as unknown as OperationProgress : null
    return {
      id,
      kind: job.data.kind,
      status,
      progress,
      ...(status === 'succeeded' && job.returnvalue !== null && job.returnvalue !== undefined ? { result: job.returnvalue } : {}),
      ...(status === 'failed' ? { error: parseError(job.failedReason) } : {}),
      ...(status === 'cancelled' ? { error: cancelledError() } : {}),
      attempts: job.attemptsStarted,
      createdAt: new Date(job.timestamp).toISOString(),
      // A worker stamps processedOn with the time it began fetching, which can precede the job's creation.
      startedAt: iso(job.processedOn === undefined ? undefined : Math.max(job.processedOn, job.timestamp)),
      finishedAt: state === 'completed' || state === 'failed' ? iso(job.finishedOn) : null
    }
  }

  async enqueue (kind: string, input: unknown, opts: EnqueueOptions = {}): Promise<Enqueued> {
    if (this.closed) throw new ProblemError('unavailable', 'the service is shutting down; retry on another replica', { headers: { 'retry-after': '1' } })
    const id = randomUUID()
    const fingerprint = opts.fingerprint ?? ''
    if (opts.idempotencyKey !== undefined) {
      const key = this.key('idem', createHash('sha256').update(opts.idempotencyKey).digest('hex'))
      const claimed = await this.client.set(key, JSON.stringify({ id, fingerprint }), 'PX', this.opts.idempotencyTtlMs, 'NX')
      if (claimed === null) {
        const held = JSON.parse(await this.client.get(key) ?? '{}') as { id?: string, fingerprint?: string }
        if (held.fingerprint !== fingerprint) throw keyReused()
        // The request that claimed the key adds its job right after: wait for it briefly.
        for (let i = 0; i < 50; i++) {
          const existing = await this.get(String(held.id))
          if (existing !== null) return { operation: existing, created: false }
          await new Promise(resolve => setTimeout(resolve, 100))
        }
        throw new ProblemError('unavailable', 'another request with this Idempotency-Key has not enqueued its operation yet; retry in a moment', { headers: { 'retry-after': '1' } })
      }
    }
    const queued = await this.queue.getJobCountByTypes('waiting', 'delayed', 'prioritized')
    if (queued >= this.opts.maxQueued) throw queueFull(this.opts.maxQueued, this.opts.retryAfterSeconds)
    const job = await this.queue.add(kind, { kind, input }, { jobId: id })
    return { operation: await this.toOperation(job), created: true }
  }

  async get (id: string): Promise<Operation | null> {
    const job = await this.queue.getJob(id)
    return job === undefined || job === null ? null : await this.toOperation(job)
  }

  async list (filter: OperationFilter, limit: number): Promise<Operation[]> {
    const jobs = await this.queue.getJobs(queueTypes(filter.status), 0, Math.min(limit, LIST_READ_MAX) - 1, false)
    const ops = await Promise.all(jobs.filter(j => j !== undefined && j !== null).map(async job => await this.toOperation(job)))
    return ops
      .filter(op => (filter.status === undefined || op.status === filter.status) && (filter.kind === undefined || op.kind === filter.kind))
      .sort((a, b) => b.createdAt.localeCompare(a.createdAt) || b.id.localeCompare(a.id))
      .slice(0, limit)
  }

  async cancel (id: string): Promise<Operation | null> {
    const job = await this.queue.getJob(id)
    if (job === undefined || job === null) return null
    const state = await job.getState()
    if (state !== 'completed' && state !== 'failed') {
      await this.client.set(this.key('cancel', id), '1', 'PX', this.opts.ttlMs)
      this.running.get(id)?.abort(new JobCancelled())
    }
    return await this.toOperation(job)
  }

  async wait (id: string, ms: number, signal?: AbortSignal): Promise<Operation | null> {
    const deadline = Date.now() + ms
    for (;;) {
      const op = await this.get(id)
      if (op === null || op.status === 'succeeded' || op.status === 'failed' || (op.status === 'cancelled' && op.finishedAt !== null)) return op
      if (op.status === 'cancelled' && op.startedAt === null) return op
      const left = deadline - Date.now()
      if (left <= 0 || (signal?.aborted ?? false)) return op
      await new Promise(resolve => setTimeout(resolve, Math.min(left, this.opts.waitPollMs ?? 200)))
    }
  }

  async stats (): Promise<QueueStats> {
    const counts = await this.queue.getJobCounts('waiting', 'delayed', 'prioritized', 'active')
    return { queued: (counts.waiting ?? 0) + (counts.delayed ?? 0) + (counts.prioritized ?? 0), running: counts.active ?? 0 }
  }

  async close (): Promise<void> {
    this.closed = true
    // Running jobs stop at their next step and go back to the queue (a retry) for another replica.
    for (const controller of this.running.values()) controller.abort(new Error('shutting down'))
    // Bounded: a queue whose Redis never answered must not hold the shutdown.
    await withTimeout(Promise.all([this.worker.close(), this.queue.close()]), 5000, 'closing the operations queue timed out').catch(() => {})
    await withTimeout(Promise.all([this.worker.disconnect(), this.queue.disconnect()]), 1000, 'disconnecting the operations queue timed out').catch(() => {})
    this.client.disconnect()
    this.workerClient.disconnect()
  }
}
