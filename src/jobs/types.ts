import type { WorkPlan } from '../budget/work.js'
import type { Progress, ProgressSink } from '../util/progress.js'
import { ProblemError, problemType, PROBLEM_KINDS } from '../errors.js'
import { WorkCancelled } from '../budget/cancel.js'

/**
 * Long work (a fit, an evaluation) as an operation: a job on a queue that some replica's worker
 * runs, with a record a client reads (status, progress, result or error). Two queue backends
 * implement `OperationQueue` (memory.ts in process, bullmq.ts on Redis) and pass one contract
 * suite; what a kind of job does is in kinds.ts, how a job is run (budgets, metrics) is the
 * processor the service gives the queue.
 */

export type OperationStatus = 'queued' | 'running' | 'succeeded' | 'failed' | 'cancelled'

export const OPERATION_STATUSES: readonly OperationStatus[] = ['queued', 'running', 'succeeded', 'failed', 'cancelled']

export interface OperationProgress extends Progress {
  /** Of the whole work, 0 to 1; never decreases over an operation's life (retries included). */
  fraction: number
}

/** An error as a client sees it (RFC 9457). */
export interface OperationError {
  type: string
  title: string
  status: number
  detail: string
}

export interface Operation {
  id: string
  kind: string
  status: OperationStatus
  progress: OperationProgress | null
  /** What the job returned (succeeded only): the kind's own JSON. */
  result?: unknown
  error?: OperationError
  /** Runs started so far (1 for a job run once; more after a retry or a replica's death). */
  attempts: number
  createdAt: string
  startedAt: string | null
  finishedAt: string | null
}

export const isFinished = (status: OperationStatus): boolean => status === 'succeeded' || status === 'failed' || status === 'cancelled'

/** A job as a worker receives it. */
export interface JobRun {
  id: string
  kind: string
  input: unknown
  /** 1 for the first run. */
  attempt: number
  /** Progress published by earlier runs (a retry starts from it: progress never goes back). */
  progress: OperationProgress | null
}

/**
 * Runs one job: its result (JSON) or a thrown error. `signal` fires on cancel or shutdown;
 * `publish` records progress (the processor keeps it monotonic with a ProgressTracker).
 */
export type JobProcessor = (job: JobRun, signal: AbortSignal, publish: (progress: OperationProgress) => void) => Promise<unknown>

export interface EnqueueOptions {
  /** The client's Idempotency-Key (scoped by the caller): a second enqueue with it finds the first. */
  idempotencyKey?: string
  /** What the request was (a hash of route and body): the same key with another fingerprint is refused. */
  fingerprint?: string
}

export interface Enqueued {
  operation: Operation
  /** false when the idempotency key named an operation enqueued before. */
  created: boolean
}

export interface OperationFilter {
  status?: OperationStatus
  kind?: string
}

export interface QueueStats {
  queued: number
  running: number
}

/** Events for metrics. */
export interface QueueEvents {
  onStalled?: (id: string) => void
  onRetry?: (id: string, attempt: number) => void
}

export interface OperationQueue {
  readonly backend: 'memory' | 'bullmq'
  /**
   * Adds a job, or with an idempotency key already used (within its TTL) finds the operation that
   * key made. Throws `operations-full` (429) when the queue holds its maximum, and
   * `idempotency-key-reused` (422) when the key was used with another fingerprint.
   */
  enqueue: (kind: string, input: unknown, opts?: EnqueueOptions) => Promise<Enqueued>
  get: (id: string) => Promise<Operation | null>
  /** Newest first, at most `limit`. */
  list: (filter: OperationFilter, limit: number) => Promise<Operation[]>
  /**
   * Cancels a queued or running operation (a running one stops at its next step and stores
   * nothing); a finished one is returned as it is. null when it does not exist.
   */
  cancel: (id: string) => Promise<Operation | null>
  /** The operation once finished, or as it is after `ms` (or when `signal` fires). */
  wait: (id: string, ms: number, signal?: AbortSignal) => Promise<Operation | null>
  stats: () => Promise<QueueStats>
  /** Stops taking jobs, aborts those running (they go back to the queue on a shared backend), closes connections. */
  close: () => Promise<void>
}

/** What a kind of job prepares from its input: the work's plan (for the budgets) and the work. */
export interface PreparedJob {
  plan: WorkPlan
  /** The phases its progress goes through, in order (for the fraction). */
  phases: string[]
  run: (signal: AbortSignal, progress: ProgressSink) => Promise<unknown>
}

/**
 * Clamps progress so it never goes backwards: phases come in the order a kind lists them
 * (unknown phases after the known ones), and within a phase `done` only grows. The fraction
 * weighs every listed phase the same.
 */
export class ProgressTracker {
  private last: OperationProgress | null

  constructor (private readonly phases: readonly string[], start: OperationProgress | null = null) {
    this.last = start
  }

  get current (): OperationProgress | null {
    return this.last
  }

  /** The new progress, or null when it would not move forward (a retry redoing earlier steps). */
  update (p: Progress): OperationProgress | null {
    const index = this.phases.indexOf(p.phase)
    const slots = Math.max(1, this.phases.length)
    const position = index < 0 ? slots - 1 : index
    const within = p.total > 0 ? Math.min(1, Math.max(0, p.done / p.total)) : 1
    const fraction = Math.min(1, (position + within) / slots)
    if (this.last !== null && fraction < this.last.fraction) return null
    if (this.last !== null && fraction === this.last.fraction && p.phase === this.last.phase && p.done <= this.last.done) return null
    this.last = { phase: p.phase, done: Math.min(p.done, p.total), total: p.total, fraction: Math.round(fraction * 10_000) / 10_000 }
    return this.last
  }
}

/** Thrown by a processor whose job was cancelled: the job ends `cancelled`, not `failed`. */
export class JobCancelled extends Error {
  constructor () {
    super('the operation was cancelled')
    this.name = 'JobCancelled'
  }
}

/** An error a job threw, as its operation shows it; whether running it again may help. */
export function operationErrorOf (err: unknown): { error: OperationError, retryable: boolean } {
  if (err instanceof ProblemError) {
    // A client's problem (missing space, over budget) stays one: running again changes nothing.
    return { error: { type: err.type, title: err.title, status: err.status, detail: err.detail }, retryable: err.status >= 500 }
  }
  const internal = PROBLEM_KINDS.internal
  const detail = err instanceof WorkCancelled ? err.message : 'the work failed inside the service; the server log has the details under the operation id'
  return { error: { type: problemType('internal'), title: internal.title, status: internal.status, detail }, retryable: true }
}

/** The error of a cancelled operation. */
export function cancelledError (): OperationError {
  const info = PROBLEM_KINDS.cancelled
  return { type: problemType('cancelled'), title: info.title, status: info.status, detail: 'the operation was cancelled before it finished; nothing was stored' }
}
