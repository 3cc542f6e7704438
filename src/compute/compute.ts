/**
 * The compute façade: what a route calls to run translate and relative on the engine, as
 * text-embeddings-inference's `Infer` is to its queue. It owns the row permits that bound the
 * compute queue, the micro-batcher that joins concurrent requests of one computation, the batch
 * key that says which requests are the same computation, the engine call, and the split of a
 * joint result: each caller gets exactly its own rows, as it would alone.
 *
 * No HTTP here: a caller passes a Timing to be told where its time went.
 */
import type { Engine, RelativeOptions } from '../engine/types.js'
import { ProblemError } from '../errors.js'
import type { Matrix } from '../math/matrix.js'
import { AnchorsCache } from './anchors.js'
import { MicroBatcher, sliceRows, type BatchOutcome } from './batcher.js'
import { Permits } from '../util/permits.js'

export type ComputeOp = 'translate' | 'relative'

/**
 * What makes two requests the same computation. A translator id names immutable parameters; a
 * relative projection is the same when its space, its anchors' content (the uploads' revisions)
 * and its graph options are.
 */
export type BatchKey =
  | { op: 'translate', translator: string }
  | { op: 'relative', space: string, anchors: string, options: RelativeOptions }

/** Where a request's time went, in ms; the façade adds to it. */
export interface Timing { queueMs: number, computeMs: number }

export interface ComputeOptions {
  /** The micro-batching window (BATCH_WINDOW_MS) and batch size (BATCH_MAX_ROWS). */
  windowMs: number
  maxRows: number
  /** Rows in flight at most (QUEUE_MAX_ROWS); a request that finds too few free is refused. */
  queueRows: number
  /** Retry-After of that refusal (QUEUE_RETRY_AFTER_S). */
  retryAfterSeconds: number
  /** Batched runs in flight at most (default: the engine's workers, at least 1); see MicroBatcher. */
  maxRunning?: number
}

/** What the façade reports, for metrics. */
export interface ComputeEvents {
  onRun?: (op: ComputeOp, requests: number, rows: number) => void
  onRejected?: () => void
  onQueued?: (rows: number) => void
  onDone?: (rows: number) => void
}

/** A translator as the façade needs it: the id that names its parameters, and its map. */
export interface TranslatorOperand { id: string, map: Parameters<Engine['translate']>[1] }

/** Anchors of a relative projection and the stamp naming their exact content. */
export interface AnchorsOperand { matrix: Matrix, stamp: string }

export interface RelativeRows {
  matrix: Matrix
  /** Rows of this request with zero norm (after centring). */
  zeroRows: number
}

const keyString = (key: BatchKey): string => key.op === 'translate'
  ? `translate:${key.translator}`
  : `relative:${JSON.stringify([key.space, key.anchors, key.options])}`

export class Compute {
  readonly permits: Permits
  readonly batcher: MicroBatcher
  /** Anchors of relative projections, kept by their uploads' revisions (see AnchorsCache). */
  readonly anchors = new AnchorsCache()
  private readonly retryAfter: string

  constructor (private readonly engine: Engine, opts: ComputeOptions, private readonly events: ComputeEvents = {}) {
    this.permits = new Permits(opts.queueRows)
    this.retryAfter = String(opts.retryAfterSeconds)
    this.batcher = new MicroBatcher({
      windowMs: opts.windowMs,
      maxRows: opts.maxRows,
      // One run per engine worker at a time: while they are all busy, new requests join the
      // batch that runs next instead of queueing runs of a few rows each behind them.
      maxRunning: opts.maxRunning ?? Math.max(1, engine.info().workers),
      onRun: run => { this.events.onRun?.(run.tag as ComputeOp, run.requests, run.rows) }
    })
  }

  /** The translator's map on the rows of x. */
  async translate (translator: TranslatorOperand, x: Matrix, timing?: Timing): Promise<Matrix> {
    const outcome = await this.batched({ op: 'translate', translator: translator.id }, x, timing,
      async joint => await this.engine.translate(joint, translator.map, translator.id))
    return sliceRows(outcome.result, outcome.offset, outcome.rows)
  }

  /** The relative projection of the rows of x on the anchors, in `space`. */
  async relative (space: string, anchors: AnchorsOperand, options: RelativeOptions, x: Matrix, timing?: Timing): Promise<RelativeRows> {
    const outcome = await this.batched({ op: 'relative', space, anchors: anchors.stamp, options }, x, timing,
      // The space and the stamp name the anchors' content: workers keep them resident under it.
      async joint => await this.engine.relative(joint, anchors.matrix, options, JSON.stringify([space, anchors.stamp])))
    let zeroRows = 0
    for (let i = outcome.offset; i < outcome.offset + outcome.rows; i++) zeroRows += outcome.result.zeroRowFlags[i]
    return { matrix: sliceRows(outcome.result.matrix, outcome.offset, outcome.rows), zeroRows }
  }

  /** Engine work that is not batched (evaluate, similarity, confidence), timed as compute time. */
  async timed<R> (work: () => Promise<R>, timing?: Timing): Promise<R> {
    const started = performance.now()
    try {
      return await work()
    } finally {
      if (timing !== undefined) timing.computeMs += performance.now() - started
    }
  }

  /** Runs every open batch now (shutdown: nothing is left waiting for a timer). */
  close (): void {
    this.batcher.flushAll()
    this.anchors.clear()
  }

  private async batched<R> (key: BatchKey, x: Matrix, timing: Timing | undefined, run: (joint: Matrix) => Promise<R>): Promise<BatchOutcome<R>> {
    const release = this.permits.tryAcquire(x.rows)
    if (release === undefined) {
      this.events.onRejected?.()
      const { capacity, inUse } = this.permits
      const detail = x.rows > capacity
        ? `this request has ${x.rows} rows, more than the whole compute queue holds (${capacity} rows, QUEUE_MAX_ROWS); send at most ${capacity} rows per request.`
        : `the compute queue is full: ${inUse} of its ${capacity} rows (QUEUE_MAX_ROWS) are in flight and this request needs ${x.rows}. Retry after ${this.retryAfter} s, or send fewer rows at once.`
      throw new ProblemError('queue-full', detail, { headers: { 'retry-after': this.retryAfter } })
    }
    this.events.onQueued?.(x.rows)
    try {
      const outcome = await this.batcher.submit(keyString(key), x, run, key.op)
      if (timing !== undefined) {
        timing.queueMs += outcome.queueMs
        timing.computeMs += outcome.computeMs
      }
      return outcome
    } finally {
      release()
      this.events.onDone?.(x.rows)
    }
  }
}
