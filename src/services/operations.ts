import { createHash } from 'node:crypto'
import type { FastifyInstance } from 'fastify'
import fp from 'fastify-plugin'
import { Counter, Gauge, Histogram } from 'prom-client'
import { overBudget } from '../budget/budget.js'
import { toEstimate } from '../budget/cost.js'
import type { WorkPlan } from '../budget/work.js'
import { PROBLEM_TYPE_BASE, PROBLEM_KINDS, ProblemError, type ProblemKind } from '../errors.js'
import { BullQueue } from '../jobs/bullmq.js'
import { JOB_KINDS } from '../jobs/kinds.js'
import { MemoryQueue } from '../jobs/memory.js'
import { JobCancelled, ProgressTracker, type JobProcessor, type Operation, type OperationError, type OperationQueue } from '../jobs/types.js'
import { stableJson } from '../store/redis/scripts.js'
import type { RedisTarget } from '../store/redis/connection.js'

/**
 * Long work as operations (docs/operations.md, "Operations"): the app's queue (BullMQ on the
 * configured Redis, else in process), the processor its workers run (a kind's work under the
 * working-memory pool, with progress and metrics, logged under the operation id), and what the
 * routes need to start one and answer with it.
 */

declare module 'fastify' {
  interface FastifyInstance {
    operations: OperationsService
  }
}

export interface OperationsOptions {
  /** Where BullMQ keeps its jobs; the in-process queue without one. */
  redis?: RedisTarget
  keyPrefix: string
  concurrency: number
  asyncAfterMs: number
  syncWaitMs: number
  ttlMs: number
  maxQueued: number
  retryAfterSeconds: number
  idempotencyTtlMs: number
  attempts: number
  lockMs: number
  stalledIntervalMs: number
  maxStalled: number
}

export interface StartOptions {
  /** The client's Idempotency-Key header, if any. */
  idempotencyKey?: string
  /** What identifies the request besides the key: its route and body. */
  route: string
  body: unknown
}

export interface OperationsService {
  queue: OperationQueue
  /** ASYNC_AFTER_MS: a synchronous request whose estimate exceeds it is made an operation. */
  asyncAfterMs: number
  /** How long a synchronous request with an Idempotency-Key waits for its operation before answering 202. */
  syncWaitMs: number
  /** Estimated milliseconds of a plan. */
  estimateMs: (plan: WorkPlan) => number
  /** Refuses at once (422 over-budget) a plan the working-memory budget can never hold. */
  checkMemory: (plan: WorkPlan) => void
  /** Enqueues (or, with a known Idempotency-Key, finds) the operation of a request. */
  start: (kind: string, input: unknown, opts: StartOptions) => Promise<{ operation: Operation, created: boolean }>
  /** The operation's problem as an error to throw (a failed or cancelled operation answered synchronously). */
  problemOf: (error: OperationError) => ProblemError
}

/** Whether a Prefer header asks for respond-async (RFC 7240). */
export function prefersAsync (prefer: string | string[] | undefined): boolean {
  const values = Array.isArray(prefer) ? prefer : prefer === undefined ? [] : [prefer]
  return values.some(v => v.split(',').some(p => p.split(';')[0].trim().toLowerCase() === 'respond-async'))
}

/** How long a metrics scrape waits for the queue's counts. */
const STATS_TIMEOUT_MS = 500

async function operations (app: FastifyInstance, opts: OperationsOptions): Promise<void> {
  const registers = [app.metrics.registry]
  const durations = new Histogram({
    name: 'latentbridge_operation_duration_seconds',
    help: 'Run time of operations (one run of a job), by kind and outcome (succeeded, failed, cancelled)',
    labelNames: ['kind', 'outcome'] as const,
    buckets: [0.1, 0.5, 1, 2, 5, 10, 30, 60, 120, 300, 900, 3600],
    registers
  })
  const stalls = new Counter({ name: 'latentbridge_operation_stalls_total', help: 'Jobs found stalled (their replica stopped renewing the lock) and put back to run again', registers })
  const retries = new Counter({ name: 'latentbridge_operation_retries_total', help: 'Job runs that failed with a server-side error and will be run again', registers })
  const budgets = app.budgets

  const deps = { store: app.store, engine: app.engine, maxTranslatorBytes: budgets.maxTranslatorBytes, translators: app.translators }
  const processor: JobProcessor = async (job, signal, publish) => {
    const log = app.log.child({ operationId: job.id, kind: job.kind, attempt: job.attempt })
    const kind = JOB_KINDS[job.kind]
    if (kind === undefined) throw new Error(`no job kind "${job.kind}" on this replica`)
    const timer = durations.startTimer({ kind: job.kind })
    let outcome = 'failed'
    log.info('operation started')
    try {
      const prepared = await kind(job.input, deps, job.id)
      const estimate = toEstimate(prepared.plan.cost)
      // A job waits its turn for memory instead of being refused (its estimate was checked against
      // the budget when it was started).
      const release = await app.workPool.acquire(Math.min(estimate.bytes, app.workPool.capacity), signal)
      try {
        const tracker = new ProgressTracker(prepared.phases, job.progress)
        const result = await prepared.run(signal, progress => {
          const next = tracker.update(progress)
          if (next !== null) publish(next)
        })
        outcome = 'succeeded'
        return result
      } finally {
        release()
      }
    } catch (err) {
      if (signal.aborted && signal.reason instanceof JobCancelled) outcome = 'cancelled'
      if (outcome === 'failed') {
        if (err instanceof ProblemError) log.info({ detail: err.detail, type: err.type }, 'operation failed')
        else log.error({ err }, 'operation failed')
      }
      throw err
    } finally {
      timer({ outcome })
      log.info({ outcome }, 'operation ended')
    }
  }

  const queueOptions = { concurrency: opts.concurrency, maxQueued: opts.maxQueued, ttlMs: opts.ttlMs, idempotencyTtlMs: opts.idempotencyTtlMs, retryAfterSeconds: opts.retryAfterSeconds }
  const events = { onStalled: () => stalls.inc(), onRetry: () => retries.inc() }
  const queue: OperationQueue = opts.redis === undefined
    ? new MemoryQueue(processor, queueOptions, events)
    : await BullQueue.connect(processor, {
      ...queueOptions,
      target: opts.redis,
      keyPrefix: opts.keyPrefix,
      attempts: opts.attempts,
      lockMs: opts.lockMs,
      stalledIntervalMs: opts.stalledIntervalMs,
      maxStalled: opts.maxStalled,
      logger: app.log
    }, events)
  app.addHook('onClose', async () => { await queue.close() })

  // A scrape must answer while Redis is stalled (the store's breaker answers 503 meanwhile): the
  // queue's counts are read with a short bound, and the last counts read stand in when it passes.
  let lastStats = { queued: 0, running: 0 }
  const statsBounded = async (): Promise<{ queued: number, running: number }> => {
    let timer: NodeJS.Timeout | undefined
    const late = new Promise<null>(resolve => { timer = setTimeout(() => resolve(null), STATS_TIMEOUT_MS) })
    try {
      const read = await Promise.race([queue.stats().catch(() => null), late])
      if (read !== null) lastStats = { queued: read.queued, running: read.running }
      return lastStats
    } finally {
      clearTimeout(timer)
    }
  }
  // eslint-disable-next-line no-new
  new Gauge({
    name: 'latentbridge_operations_queued',
    help: 'Operations waiting for a worker (all replicas, with Redis)',
    registers,
    async collect () { this.set((await statsBounded()).queued) }
  })
  // eslint-disable-next-line no-new
  new Gauge({
    name: 'latentbridge_operations_running',
    help: 'Operations being run (all replicas, with Redis)',
    registers,
    async collect () { this.set((await statsBounded()).running) }
  })

  const service: OperationsService = {
    queue,
    asyncAfterMs: opts.asyncAfterMs,
    syncWaitMs: opts.syncWaitMs,
    estimateMs: plan => toEstimate(plan.cost).ms,
    checkMemory: plan => {
      // Operations are the way to run long work: only the memory budget applies to them.
      const refused = overBudget(plan.what, toEstimate(plan.cost), { ...budgets, timeMs: Infinity }, plan.instead)
      if (refused !== null) throw refused
    },
    start: async (kind, input, start) => {
      const fingerprint = createHash('sha256').update(stableJson({ route: start.route, body: start.body })).digest('hex')
      return await queue.enqueue(kind, input, start.idempotencyKey !== undefined ? { idempotencyKey: start.idempotencyKey, fingerprint } : {})
    },
    problemOf: error => {
      const kind = error.type.startsWith(PROBLEM_TYPE_BASE) ? error.type.slice(PROBLEM_TYPE_BASE.length) : 'internal'
      return new ProblemError(kind in PROBLEM_KINDS ? kind as ProblemKind : 'internal', error.detail)
    }
  }
  app.decorate('operations', service)
}

export default fp(operations, { name: 'operations', dependencies: ['metrics', 'budget', 'store', 'engine', 'translators'] })
