/**
 * Dynamic micro-batching: small requests for the same computation (the same translator, or the
 * same relative projection) that arrive within a short window are stacked into one matrix and run
 * as one engine call; each caller gets back its rows' offset in the joint result. One engine call
 * costs about the same for 1 row as for 32 (0.08 vs 0.13 ms for 768 x 768, measured on this project's 2-core machines), so
 * under concurrency this turns many tiny runs, each paying the per-call and worker hand-off cost,
 * into a few larger ones.
 *
 * With `maxRunning`, a batch whose window has closed while that many runs are in flight stays
 * open and keeps taking requests until a run ends (or it is full), as text-embeddings-inference's
 * queue does: under load the engine then gets one run of many rows instead of a queue of runs of
 * a few rows each, every one of which pays the hand-off to the worker and its wake-ups.
 *
 * Pure: no HTTP and no engine here; the caller passes the run function and splits the result.
 */
import { BufferPool } from '../util/buffer-pool.js'
import type { Matrix } from '../math/matrix.js'

export interface BatcherOptions {
  /**
   * How long the first request of a batch waits for others, in ms. 0: only requests that arrive
   * in the same event-loop turn are joined (the batch runs on setImmediate).
   */
  windowMs: number
  /** A batch runs as soon as it holds this many rows; requests of at least this many run alone. */
  maxRows: number
  /**
   * Runs in flight at most before a batch whose window closed waits (still open, still joined)
   * for one to end; a full batch and a request of at least maxRows start at once regardless.
   * Default: no limit (every batch starts when its window closes).
   */
  maxRunning?: number
  /** Told about each engine run (metrics). */
  onRun?: (run: BatchRunInfo) => void
  /** Clock in ms (tests may pass their own). */
  now?: () => number
}

export interface BatchRunInfo {
  key: string
  /** The tag its requests were submitted with (the façade's op). */
  tag: string
  /** Requests joined in this run (1 when a request ran alone). */
  requests: number
  rows: number
}

/** What a caller gets: the joint result and where its rows are in it. */
export interface BatchOutcome<R> {
  result: R
  /** First row of this request in the joint result. */
  offset: number
  rows: number
  /** ms from submit until its batch's run started. */
  queueMs: number
  /** ms the batch's run took. */
  computeMs: number
  /** Requests and rows in the run that computed it. */
  batchRequests: number
  batchRows: number
}

interface Waiter<R> {
  x: Matrix
  submittedAt: number
  resolve: (outcome: BatchOutcome<R>) => void
  reject: (error: unknown) => void
}

interface Batch<R> {
  key: string
  tag: string
  cols: number
  rows: number
  run: (x: Matrix) => Promise<R>
  waiters: Array<Waiter<R>>
  timer?: NodeJS.Timeout
  immediate?: NodeJS.Immediate
  /** Its window has closed and it waits for a run to end (it is in `ready`). */
  due?: boolean
}

/**
 * The inputs stacked row-wise into one matrix (one copy; a single input is passed through).
 * `memory` supplies the buffer (at least rows·cols·4 bytes).
 */
export function stackRows (inputs: Matrix[], cols: number, memory?: (bytes: number) => ArrayBufferLike): Matrix {
  if (inputs.length === 1) return inputs[0]
  let rows = 0
  for (const m of inputs) rows += m.rows
  const data = memory === undefined ? new Float32Array(rows * cols) : new Float32Array(memory(rows * cols * 4), 0, rows * cols)
  let at = 0
  for (const m of inputs) {
    data.set(m.data, at)
    at += m.data.length
  }
  return { rows, cols, data }
}

/** Rows [offset, offset + rows) of m as a view (no copy). */
export function sliceRows (m: Matrix, offset: number, rows: number): Matrix {
  if (offset === 0 && rows === m.rows) return m
  return { rows, cols: m.cols, data: m.data.subarray(offset * m.cols, (offset + rows) * m.cols) }
}

export class MicroBatcher {
  private readonly open = new Map<string, Batch<any>>()
  /** Open batches whose window has closed, waiting for a run to end, oldest first. */
  private readonly ready: Array<Batch<any>> = []
  private readonly maxRunning: number
  private running = 0
  private readonly now: () => number
  /**
   * Stacking buffers, reused across runs in power-of-two sizes: fresh memory costs page faults
   * on these VMs (about 3 ms per MB, docs/engine-notes.md §1), more than the stacking copy itself.
   * Shared memory, so an engine worker reads the stacked batch where it is, without another copy
   * on the main thread.
   */
  private readonly buffers = new BufferPool<SharedArrayBuffer>(bytes => new SharedArrayBuffer(bytes), 4, 16)
  /** Engine runs started, and requests served by them. */
  runs = 0
  requests = 0

  constructor (private readonly opts: BatcherOptions) {
    if (!(opts.windowMs >= 0) || !Number.isFinite(opts.windowMs)) throw new RangeError(`windowMs must be a finite number ≥ 0, got ${opts.windowMs}`)
    if (!Number.isSafeInteger(opts.maxRows) || opts.maxRows < 1) throw new RangeError(`maxRows must be an integer ≥ 1, got ${opts.maxRows}`)
    const maxRunning = opts.maxRunning ?? Infinity
    if (!(maxRunning >= 1)) throw new RangeError(`maxRunning must be ≥ 1, got ${maxRunning}`)
    this.maxRunning = maxRunning
    this.now = opts.now ?? (() => performance.now())
  }

  /** Batches not started yet: in their window, or waiting for a run to end. */
  get pending (): number {
    return this.open.size
  }

  /** Runs started and not yet settled. */
  get inFlight (): number {
    return this.running
  }

  /**
   * Runs `run` on x, joined with other inputs submitted under the same key meanwhile. Every
   * submitter of one key must mean the same computation: the first one's `run` serves them all.
   * `run` must be done with its input when it settles and return no view of it (the stacking
   * buffer is reused). A run that fails rejects every request of its batch.
   */
  async submit<R> (key: string, x: Matrix, run: (x: Matrix) => Promise<R>, tag = ''): Promise<BatchOutcome<R>> {
    const submittedAt = this.now()
    if (x.rows >= this.opts.maxRows || x.rows === 0) {
      return await new Promise((resolve, reject) => {
        void this.execute({ key, tag, cols: x.cols, rows: x.rows, run, waiters: [{ x, submittedAt, resolve, reject }] })
      })
    }
    let batch = this.open.get(key) as Batch<R> | undefined
    if (batch !== undefined && (batch.cols !== x.cols || batch.rows + x.rows > this.opts.maxRows)) {
      this.start(batch)
      batch = undefined
    }
    return await new Promise((resolve, reject) => {
      if (batch === undefined) {
        batch = { key, tag, cols: x.cols, rows: 0, run, waiters: [] }
        this.open.set(key, batch)
        const opened = batch
        if (this.opts.windowMs === 0) opened.immediate = setImmediate(() => { this.flush(opened) })
        else opened.timer = setTimeout(() => { this.flush(opened) }, this.opts.windowMs)
      }
      batch.waiters.push({ x, submittedAt, resolve, reject })
      batch.rows += x.rows
      if (batch.rows >= this.opts.maxRows) this.start(batch)
    })
  }

  /** The window has closed: start now, or wait (open) for a run to end when maxRunning are in flight. */
  private flush (batch: Batch<any>): void {
    batch.timer = undefined
    batch.immediate = undefined
    if (this.running < this.maxRunning) {
      this.start(batch)
    } else if (batch.due !== true) {
      batch.due = true
      this.ready.push(batch)
    }
  }

  /** Closes the batch to further requests and runs it. */
  private start (batch: Batch<any>): void {
    if (this.open.get(batch.key) === batch) this.open.delete(batch.key)
    if (batch.timer !== undefined) clearTimeout(batch.timer)
    if (batch.immediate !== undefined) clearImmediate(batch.immediate)
    batch.timer = undefined
    batch.immediate = undefined
    if (batch.due === true) {
      batch.due = false
      const at = this.ready.indexOf(batch)
      if (at !== -1) this.ready.splice(at, 1)
    }
    void this.execute(batch)
  }

  /** A run has ended: start the batches that waited for it, oldest first. */
  private settled (): void {
    this.running--
    while (this.running < this.maxRunning && this.ready.length > 0) this.start(this.ready[0])
  }

  private async execute<R> (batch: Batch<R>): Promise<void> {
    const { waiters } = batch
    this.runs++
    this.requests += waiters.length
    this.opts.onRun?.({ key: batch.key, tag: batch.tag, requests: waiters.length, rows: batch.rows })
    const started = this.now()
    let computeMs = 0
    let result: R
    let memory: SharedArrayBuffer | undefined
    this.running++
    try {
      // The engine has done with its input when a run settles (it waits for every chunk, even
      // after one fails) and results never view it, so the buffer is free again then.
      result = await batch.run(stackRows(waiters.map(w => w.x), batch.cols, bytes => (memory = this.buffers.acquire(2 ** Math.ceil(Math.log2(bytes))))))
    } catch (error) {
      for (const w of waiters) w.reject(error)
      return
    } finally {
      computeMs = this.now() - started
      if (memory !== undefined) this.buffers.release(memory)
      // Before the callers hear of it: the engine gets its next batch at once.
      this.settled()
    }
    let offset = 0
    for (const w of waiters) {
      w.resolve({
        result,
        offset,
        rows: w.x.rows,
        queueMs: started - w.submittedAt,
        computeMs,
        batchRequests: waiters.length,
        batchRows: batch.rows
      })
      offset += w.x.rows
    }
  }

  /** Runs every open batch now (shutdown: nothing is left waiting for a timer). */
  flushAll (): void {
    for (const batch of [...this.open.values()]) this.start(batch)
  }
}
