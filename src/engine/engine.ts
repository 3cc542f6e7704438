/**
 * The compute engine: relative projection and matmul on ONNX Runtime, run in worker threads,
 * with execution-provider fallback, row chunking and a bounded session cache per worker.
 * Over 400 lines: the engine methods share the chunking, operand sharing and buffer recycling
 * state of OnnxEngine; what each op computes lives in ops/.
 */
import { tmpdir } from 'node:os'
import { stat, unlink } from 'node:fs/promises'
import { join } from 'node:path'
import { NORM_EPS, type Matrix } from '../math/matrix.js'
import type { Engine, EngineInfo, Matrix64, Projection, RelativeOptions, RelativeResult, TranslatorMapSpec } from './types.js'
import { pairwiseBytesPerRow } from './ops/relative.js'
import { checkTranslatorMap } from './ops/translate.js'
import { resolveProvider, SessionStore, ProviderError } from './runtime.js'
import { WorkerPool, type TaskSource, type WorkerLauncher } from './pool.js'
import { BufferPool } from '../util/buffer-pool.js'
import { defaultThreadLayout } from './defaults.js'
import { DEFAULT_RESIDENT_BYTES, TaskHandler, type Matrix64Data, type MatrixData, type ProviderFailureData, type RelativeParams, type SharedOperand, type Task, type TaskResult } from './tasks.js'

/** pino-compatible: (object, message). */
export interface EngineLogger {
  info: (obj: object, msg?: string) => void
  warn: (obj: object, msg?: string) => void
  error: (obj: object, msg?: string) => void
}

export interface EngineConfig {
  /** Tried in order, e.g. ['cuda', 'cpu']; 'cpu' is always appended as the last resort. */
  executionProviders: string[]
  /** Reject instead of falling back when a requested provider fails to load. */
  strict: boolean
  /** ORT intra-op threads per session (each worker owns its sessions' pools). */
  intraOpThreads: number
  /** Worker threads running sessions; 0 runs them on the calling thread (blocks its event loop). */
  workers: number
  /** Inputs with more rows are split into chunks of at most this many rows. */
  rowBudget: number
  /** Sessions kept per worker (LRU; evicted sessions are released). */
  sessionCacheSize: number
  logger?: EngineLogger
  /**
   * Memory for the N·k·d pairwise-difference tensors of the l1 / linf projections per chunk;
   * rows are chunked further so one chunk stays within it. Default 64 MiB.
   */
  pairwiseBudgetBytes?: number
  /**
   * Memory for one float64 product run (a row block of the result, its rows of A, and B); larger
   * products run in row blocks of the result, one after another. Default 64 MiB.
   */
  float64BlockBytes?: number
  /**
   * Bytes of keyed operands (anchors named by their content, see Engine.relative) each worker
   * keeps resident between calls, so they are not sent again. Default 128 MiB.
   */
  residentBytes?: number
  /** Overrides how worker threads are started (tests). */
  launchers?: WorkerLauncher[]
}

const DEFAULT_PAIRWISE_BUDGET = 64 * 1024 * 1024
const DEFAULT_FLOAT64_BLOCK = 64 * 1024 * 1024
/** Below this many rows per worker, splitting a request costs more than it saves. */
const PARALLEL_MIN_ROWS = 256
const PROJECTIONS: ReadonlySet<Projection> = new Set<Projection>(['cosine', 'angular', 'euclidean', 'l1', 'linf', 'dot'])
/** The graphs compare norms in float32. */
const ZERO_NORM = Math.fround(NORM_EPS)

/** The measured default thread layout (defaultThreadLayout) and the default budgets. */
export function defaultEngineConfig (): EngineConfig {
  const { workers, intraOpThreads } = defaultThreadLayout()
  return {
    executionProviders: ['cpu'],
    strict: false,
    intraOpThreads,
    workers,
    rowBudget: 4096,
    sessionCacheSize: 16,
    pairwiseBudgetBytes: DEFAULT_PAIRWISE_BUDGET
  }
}

/**
 * `translators`: the translator keys whose sessions that worker holds, oldest first; `resident`:
 * the keyed operands it holds (e.g. 'anchors:<key>'), oldest first.
 */
export interface SessionStats { sessions: number, created: number, keys: string[], translators: string[], resident: string[] }

/** One step of the polar iteration (src/fit/polar.ts): the next iterate, ‖X_next − X‖_F, and α. */
export interface PolarStepResult { x: Matrix64, change: number, scale: number }

/** The engine with a few extras for tests, operations and fitting. */
export interface OrtEngine extends Engine {
  /** Session-cache figures of one worker (all of them, inline). */
  sessionStats: () => Promise<SessionStats>
  /**
   * X ← a·X + X·(b·G + c·G²) with G the smaller Gram of X, in float64, as one graph run (with
   * `normalize`, X is first divided by α = ‖G‖_F^{1/2}, returned as `scale`).
   */
  polarStep: (x: Matrix64, coefficients: [number, number, number], normalize: boolean) => Promise<PolarStepResult>
  /** How workers were started ('inline', 'direct', 'tsx-register'). */
  readonly launcher: string
}

interface Executor {
  readonly shared: boolean
  /** Workers free right now (inline: 1). */
  idle: () => number
  run: (prepare: TaskSource, group: number) => Promise<TaskResult>
  /** Runs the task once on every worker. */
  broadcast: (prepare: TaskSource) => Promise<TaskResult[]>
  close: () => Promise<void>
}

function checkPositiveInteger (value: number, name: string, min = 1): void {
  if (!Number.isInteger(value) || value < min) throw new RangeError(`${name} must be an integer ≥ ${min}, got ${value}`)
}

function checkMatrix (m: Matrix, name: string): void {
  if (!(m.data instanceof Float32Array)) throw new TypeError(`${name}.data must be a Float32Array`)
  if (!Number.isInteger(m.rows) || !Number.isInteger(m.cols) || m.rows < 0 || m.cols < 0 || m.data.length !== m.rows * m.cols) {
    throw new RangeError(`${name} must be a rows x cols matrix with rows·cols values (got ${m.rows} x ${m.cols} with ${m.data.length})`)
  }
}

/** Rows [start, end) of m, copied. */
function rows64 (m: Matrix64, start: number, end: number): Matrix64 {
  return { rows: end - start, cols: m.cols, data: m.data.slice(start * m.cols, end * m.cols) }
}

/** Columns [start, end) of m, copied (m.rows x (end − start)). */
function columns64 (m: Matrix64, start: number, end: number): Matrix64 {
  const width = end - start
  const out = new Float64Array(m.rows * width)
  for (let i = 0; i < m.rows; i++) out.set(m.data.subarray(i * m.cols + start, i * m.cols + end), i * width)
  return { rows: m.rows, cols: width, data: out }
}

function checkMatrix64 (m: Matrix64, name: string): void {
  if (!(m.data instanceof Float64Array)) throw new TypeError(`${name}.data must be a Float64Array`)
  if (!Number.isInteger(m.rows) || !Number.isInteger(m.cols) || m.rows < 0 || m.cols < 0 || m.data.length !== m.rows * m.cols) {
    throw new RangeError(`${name} must be a rows x cols matrix with rows·cols values (got ${m.rows} x ${m.cols} with ${m.data.length})`)
  }
}

/** Validates RelativeOptions and applies defaults (power 1). */
export function relativeParams (opts: RelativeOptions): RelativeParams {
  if (!Array.isArray(opts.projections) || opts.projections.length === 0) throw new RangeError('projections must name at least one projection')
  for (const p of opts.projections) if (!PROJECTIONS.has(p)) throw new RangeError(`unknown projection '${String(p)}'`)
  if (opts.topK !== undefined) checkPositiveInteger(opts.topK, 'topK')
  const power = opts.power ?? 1
  if (!Number.isFinite(power) || power <= 0) throw new RangeError(`power must be a finite number > 0, got ${power}`)
  if (!['none', 'l2', 'layernorm'].includes(opts.normalize)) throw new RangeError(`unknown normalize '${String(opts.normalize)}'`)
  return { projections: [...opts.projections], center: opts.center, topK: opts.topK, power, normalize: opts.normalize }
}

/** Row ranges [start, end) of at most `size` rows. */
export function rowChunks (rows: number, size: number): Array<[number, number]> {
  const chunks: Array<[number, number]> = []
  for (let start = 0; start < rows; start += size) chunks.push([start, Math.min(rows, start + size)])
  return chunks
}

async function removeOrtDebugLog (): Promise<void> {
  // onnxruntime-node 1.30 leaves an empty mat-debug-<pid>.log per process (docs/engine-notes.md §8).
  const file = join(tmpdir(), `mat-debug-${process.pid}.log`)
  try {
    if ((await stat(file)).size === 0) await unlink(file)
  } catch {}
}

class InlineExecutor implements Executor {
  readonly shared = false
  constructor (private readonly handler: TaskHandler) {}
  idle (): number {
    return 1
  }

  async run (prepare: TaskSource): Promise<TaskResult> {
    return await this.handler.handle(prepare(0).task)
  }

  async broadcast (prepare: TaskSource): Promise<TaskResult[]> {
    return [await this.handler.handle(prepare(0).task)]
  }

  async close (): Promise<void> {
    this.handler.close()
  }
}

class PoolExecutor implements Executor {
  readonly shared = true
  constructor (private readonly pool: WorkerPool) {}
  idle (): number {
    return this.pool.idle
  }

  async run (prepare: TaskSource, group: number): Promise<TaskResult> {
    return await this.pool.run(prepare, group)
  }

  async broadcast (prepare: TaskSource): Promise<TaskResult[]> {
    return await this.pool.broadcast(prepare)
  }

  async close (): Promise<void> {
    await this.pool.close()
  }
}

class OnnxEngine implements OrtEngine {
  private operandId = 0
  private group = 0
  private closed = false
  private readonly sharedBuffers = new BufferPool<SharedArrayBuffer>(bytes => new SharedArrayBuffer(bytes), 2, 4)
  private readonly inputBuffers = new BufferPool<ArrayBuffer>(bytes => new ArrayBuffer(bytes), 8, 4)
  /**
   * Translator keys each worker was sent a map for. A belief, not a mirror of the workers' LRUs:
   * a worker that evicted the session answers 'translate-missing' and the chunk is sent again
   * with the map, so a stale entry costs one round trip, never a wrong result.
   */
  private readonly sentKeys = new Map<number, Set<string>>()
  /** Keyed operands each worker was sent, a belief like sentKeys (a stale one costs a resend). */
  private readonly residentKeys = new Map<number, Set<string>>()

  constructor (
    private readonly executor: Executor,
    private readonly config: EngineConfig,
    private readonly provider: string,
    private readonly failures: ProviderFailureData[],
    readonly launcher: string
  ) {}

  info (): EngineInfo {
    return {
      executionProvider: this.provider,
      requested: [...this.config.executionProviders],
      failed: this.failures.map(f => ({ ...f })),
      threads: this.config.intraOpThreads,
      workers: this.config.workers
    }
  }

  private async run (prepare: TaskSource, group = 0): Promise<TaskResult> {
    if (this.closed) throw new Error('engine is closed')
    return await this.executor.run(prepare, group)
  }

  async probe (): Promise<void> {
    await this.run(() => ({ task: { kind: 'probe' }, transfer: [] }))
  }

  async sessionStats (): Promise<SessionStats> {
    const result = await this.run(() => ({ task: { kind: 'stats' }, transfer: [] }))
    if (result.kind !== 'stats') throw new Error('unexpected result')
    return { sessions: result.sessions, created: result.created, keys: result.keys, translators: result.translators, resident: result.resident }
  }

  /**
   * An operand every chunk task of one call refers to. Worker mode: one copy into shared memory,
   * made when the first task that needs the data is built; a keyed operand goes without data to
   * a worker that holds it already (operandFor), so anchors named by their content are copied
   * once per worker, not once per call. Pass the result to `unshare` once the call's tasks are done.
   */
  private share (m: Matrix, key?: string): SharedOperand {
    const id = this.operandId++
    if (!this.executor.shared) return { id, rows: m.rows, cols: m.cols, data: m.data }
    // An operand the workers cannot keep would be missed and resent on every call.
    const residentLimit = this.config.residentBytes ?? DEFAULT_RESIDENT_BYTES
    const keyed = key !== undefined && m.data.byteLength <= residentLimit / 2
    return { id, rows: m.rows, cols: m.cols, key: keyed ? key : undefined, source: m } as SharedOperand
  }

  /** The operand as the task for `worker` carries it: without data where the worker holds it. */
  private operandFor (op: SharedOperand, worker: number, retry: boolean): SharedOperand {
    const source = (op as SharedSource).source
    if (source === undefined) return op
    const { id, rows, cols, key } = op
    let held: Set<string> | undefined
    if (key !== undefined) {
      held = this.residentKeys.get(worker)
      if (held === undefined) this.residentKeys.set(worker, held = new Set())
      if (!retry && held.has(key)) return { id, rows, cols, key }
      held.add(key)
    }
    let data = (op as SharedSource).shared
    if (data === undefined) {
      data = new Float32Array(this.sharedBuffers.acquire(source.data.byteLength), 0, source.data.length)
      data.set(source.data)
      ;(op as SharedSource).shared = data
    }
    return { id, rows, cols, key, data }
  }

  private unshare (op: SharedOperand): void {
    const shared = (op as SharedSource).shared
    if (shared?.buffer instanceof SharedArrayBuffer) this.sharedBuffers.release(shared.buffer)
  }

  /**
   * Rows [start, end) as a task operand: a view inline or in shared memory, a transferable copy
   * for a worker otherwise. A single row goes as two copies of itself: ORT takes another kernel
   * path for a one-row input to the relative and matmul graphs, whose last bits differ from the
   * same row inside a larger batch (2,187 of 150,000 values in a measured run), so a row's answer
   * would depend on what it was batched with. Two rows cost the same as one.
   */
  private rowsOf (m: Matrix, start: number, end: number, transfer: ArrayBuffer[]): MatrixData {
    if (end - start === 1) {
      const one = m.data.subarray(start * m.cols, end * m.cols)
      const pair = this.executor.shared ? new Float32Array(this.inputBuffers.acquire(one.byteLength * 2), 0, one.length * 2) : new Float32Array(one.length * 2)
      pair.set(one)
      pair.set(one, one.length)
      if (this.executor.shared) transfer.push(pair.buffer as ArrayBuffer)
      return { rows: 2, cols: m.cols, data: pair }
    }
    const view = m.data.subarray(start * m.cols, end * m.cols)
    // Rows in shared memory (pooled request bodies, stacked batches): the worker reads them there
    // and copies them for ORT itself, so the main thread makes no copy.
    if (!this.executor.shared || view.buffer instanceof SharedArrayBuffer) return { rows: end - start, cols: m.cols, data: view }
    const copy = new Float32Array(this.inputBuffers.acquire(view.byteLength), 0, view.length)
    copy.set(view)
    transfer.push(copy.buffer as ArrayBuffer)
    return { rows: end - start, cols: m.cols, data: copy }
  }

  /** A worker hands the input chunk's buffer back with its result. */
  private recycle (result: TaskResult): void {
    if (result.input?.buffer instanceof ArrayBuffer) this.inputBuffers.release(result.input.buffer)
  }

  /**
   * Runs one task per chunk of rows and joins the outputs. Input copies are made when a worker
   * takes the chunk and outputs are copied in as they arrive, so the main thread never does one
   * long copy of the whole matrix. `collect` may answer undefined once per chunk (the worker
   * lacked something the task left out): the chunk is then sent again with `retry` set.
   */
  private async chunked (
    m: Matrix, chunkRows: number, outCols: number,
    task: (rows: MatrixData, worker: number, retry: boolean) => Task,
    collect: (result: TaskResult, start: number, rows: number, worker: number) => Float32Array | undefined
  ): Promise<Float32Array> {
    const group = this.group++
    const chunks = rowChunks(m.rows, chunkRows)
    const run = async ([start, end]: [number, number], retry = false): Promise<Float32Array> => {
      let worker = -1
      const result = await this.run(w => {
        worker = w
        const transfer: ArrayBuffer[] = []
        return { task: task(this.rowsOf(m, start, end, transfer), w, retry), transfer }
      }, group)
      this.recycle(result)
      if (result.kind === 'operand-missing') {
        // The worker evicted a keyed operand since it was sent: forget the belief, resend.
        this.residentKeys.get(worker)?.delete(result.key)
        if (retry) throw new Error('a worker could not run a chunk sent with everything it needs')
        return await run([start, end], true)
      }
      const y = collect(result, start, end - start, worker)
      if (y === undefined) {
        if (retry) throw new Error('a worker could not run a chunk sent with everything it needs')
        return await run([start, end], true)
      }
      // A padded single row (rowsOf) comes back twice: keep the first.
      return end - start === 1 ? y.subarray(0, outCols) : y
    }
    if (chunks.length === 1) return await run(chunks[0])
    const out = new Float32Array(m.rows * outCols)
    // Settles only once every chunk has: a worker may read m's memory in place (shared), and the
    // caller reuses it as soon as this call settles, a failed one included.
    const settled = await Promise.allSettled(chunks.map(async chunk => { out.set(await run(chunk), chunk[0] * outCols) }))
    for (const outcome of settled) if (outcome.status === 'rejected') throw outcome.reason
    return out
  }

  /**
   * Rows per chunk: at most the row budget; and when several workers are idle, a request of at
   * least 2·PARALLEL_MIN_ROWS rows is spread over them, so one request uses every core. Under
   * load it is not split further: splitting then only adds copies (2 workers × 1 thread, 16
   * concurrent requests: 76,000 rows/s split against 82,000 unsplit).
   */
  private chunkRows (rows: number): number {
    const idle = this.executor.idle()
    const spread = idle > 1 && rows >= 2 * PARALLEL_MIN_ROWS ? Math.max(PARALLEL_MIN_ROWS, Math.ceil(rows / idle)) : rows
    return Math.max(1, Math.min(this.config.rowBudget, spread))
  }

  /** As chunkRows, and fewer when l1/linf would materialise N·k·d differences. */
  private relativeChunkRows (rows: number, params: RelativeParams, anchors: number, dim: number): number {
    const perRow = pairwiseBytesPerRow(params.projections, anchors, dim)
    const chunk = this.chunkRows(rows)
    if (perRow === 0) return chunk
    const budget = this.config.pairwiseBudgetBytes ?? DEFAULT_PAIRWISE_BUDGET
    return Math.min(chunk, Math.max(1, Math.floor(budget / perRow)))
  }

  async relative (x: Matrix, anchors: Matrix, opts: RelativeOptions, anchorsKey?: string): Promise<RelativeResult> {
    const params = relativeParams(opts)
    checkMatrix(x, 'x')
    checkMatrix(anchors, 'anchors')
    if (anchors.rows === 0) throw new RangeError('relative projection needs at least one anchor')
    if (x.cols !== anchors.cols) throw new RangeError(`inputs have ${x.cols} columns, anchors have ${anchors.cols}`)
    const outCols = anchors.rows * params.projections.length
    if (x.rows === 0) return { matrix: { rows: 0, cols: outCols, data: new Float32Array(0) }, zeroRows: 0, zeroRowFlags: new Uint8Array(0) }

    const shared = this.share(anchors, anchorsKey === undefined ? undefined : `anchors:${anchorsKey}`)
    let zeroRows = 0
    const zeroRowFlags = new Uint8Array(x.rows)
    try {
      const data = await this.chunked(x, this.relativeChunkRows(x.rows, params, anchors.rows, anchors.cols), outCols,
        (rows, worker, retry) => ({ kind: 'relative', params, anchors: this.operandFor(shared, worker, retry), x: rows }),
        (result, start, rows) => {
          if (result.kind !== 'relative') throw new Error('unexpected result')
          for (let i = 0; i < rows; i++) {
            if (!(result.rowNorms[i] > ZERO_NORM)) { zeroRows++; zeroRowFlags[start + i] = 1 }
          }
          return result.y.data
        })
      return { matrix: { rows: x.rows, cols: outCols, data }, zeroRows, zeroRowFlags }
    } finally {
      this.unshare(shared)
    }
  }

  async matmul (a: Matrix, b: Matrix, opts: { transposeB?: boolean } = {}): Promise<Matrix> {
    const transposeB = opts.transposeB === true
    checkMatrix(a, 'a')
    checkMatrix(b, 'b')
    const inner = transposeB ? b.cols : b.rows
    const outCols = transposeB ? b.rows : b.cols
    if (a.cols !== inner) throw new RangeError(`cannot multiply ${a.rows} x ${a.cols} by ${transposeB ? `(${b.rows} x ${b.cols})ᵀ` : `${b.rows} x ${b.cols}`}`)
    if (a.rows === 0 || outCols === 0 || inner === 0) return { rows: a.rows, cols: outCols, data: new Float32Array(a.rows * outCols) }
    const shared = this.share(b)
    try {
      const data = await this.chunked(a, this.chunkRows(a.rows), outCols,
        (rows, worker, retry) => ({ kind: 'matmul', transposeB, a: rows, b: this.operandFor(shared, worker, retry) }),
        result => {
          if (result.kind !== 'matmul') throw new Error('unexpected result')
          return result.y.data
        })
      return { rows: a.rows, cols: outCols, data }
    } finally {
      this.unshare(shared)
    }
  }

  /** A float64 operand for a worker: a transferable copy (the caller's array stays usable). */
  private operand64 (m: Matrix64, transfer: ArrayBuffer[]): Matrix64Data {
    if (!this.executor.shared) return { rows: m.rows, cols: m.cols, data: m.data }
    const copy = m.data.slice()
    transfer.push(copy.buffer)
    return { rows: m.rows, cols: m.cols, data: copy }
  }

  async matmul64 (a: Matrix64, b: Matrix64, opts: { transposeA?: boolean, transposeB?: boolean } = {}): Promise<Matrix64> {
    const transposeA = opts.transposeA === true
    const transposeB = opts.transposeB === true
    checkMatrix64(a, 'a')
    checkMatrix64(b, 'b')
    const [m, inner] = transposeA ? [a.cols, a.rows] : [a.rows, a.cols]
    const [innerB, n] = transposeB ? [b.cols, b.rows] : [b.rows, b.cols]
    if (inner !== innerB) {
      const shape = (x: Matrix64, t: boolean): string => t ? `(${x.rows} x ${x.cols})ᵀ` : `${x.rows} x ${x.cols}`
      throw new RangeError(`cannot multiply ${shape(a, transposeA)} by ${shape(b, transposeB)}`)
    }
    if (m === 0 || n === 0 || inner === 0) return { rows: m, cols: n, data: new Float64Array(m * n) }
    const runBlock = async (block: Matrix64): Promise<Matrix64> => {
      const result = await this.run(() => {
        const transfer: ArrayBuffer[] = []
        return { task: { kind: 'matmul64', transposeA, transposeB, a: this.operand64(block, transfer), b: this.operand64(b, transfer) }, transfer }
      })
      if (result.kind !== 'matmul64') throw new Error('unexpected result')
      return { rows: result.y.rows, cols: result.y.cols, data: result.y.data }
    }
    // Bounded memory per run: row blocks of the result (rows of op(A)), at least two rows each
    // (ORT takes another kernel path for a single row).
    const budget = this.config.float64BlockBytes ?? DEFAULT_FLOAT64_BLOCK
    const blockRows = Math.max(2, Math.floor((budget - 8 * inner * n) / (8 * (inner + n))))
    if (m <= blockRows) return await runBlock(a)
    const out = new Float64Array(m * n)
    for (let start = 0; start < m;) {
      let end = Math.min(m, start + blockRows)
      if (m - end === 1) end = m
      out.set((await runBlock(transposeA ? columns64(a, start, end) : rows64(a, start, end))).data, start * n)
      start = end
    }
    return { rows: m, cols: n, data: out }
  }

  async polarStep (x: Matrix64, coefficients: [number, number, number], normalize: boolean): Promise<PolarStepResult> {
    checkMatrix64(x, 'x')
    if (x.rows === 0 || x.cols === 0) throw new RangeError('the polar step needs a non-empty matrix')
    const result = await this.run(() => {
      const transfer: ArrayBuffer[] = []
      return { task: { kind: 'polar-step', x: this.operand64(x, transfer), coefficients: Float64Array.from(coefficients), normalize }, transfer }
    })
    if (result.kind !== 'polar-step') throw new Error('unexpected result')
    return { x: { rows: result.x.rows, cols: result.x.cols, data: result.x.data }, change: result.change, scale: result.scale }
  }

  /**
   * Runs the map's graph (translatorGraph, the /onnx bytes) on x, chunked by the row budget. Each
   * worker builds the key's session once; the map's parameters travel only to a worker that
   * lacks it.
   */
  async translate (x: Matrix, map: TranslatorMapSpec, key: string): Promise<Matrix> {
    checkMatrix(x, 'x')
    checkTranslatorMap(map)
    if (typeof key !== 'string' || key === '') throw new TypeError('translate needs a non-empty key')
    if (x.cols !== map.sourceDim) throw new RangeError(`inputs have ${x.cols} columns, the translator expects ${map.sourceDim}`)
    const outCols = map.targetDim
    if (x.rows === 0) return { rows: 0, cols: outCols, data: new Float32Array(0) }
    const data = await this.chunked(x, this.chunkRows(x.rows), outCols,
      (rows, worker, retry) => {
        let sent = this.sentKeys.get(worker)
        if (sent === undefined) this.sentKeys.set(worker, sent = new Set())
        const withMap = retry || !sent.has(key)
        if (withMap) sent.add(key)
        return { kind: 'translate', key, x: rows, map: withMap ? map : undefined }
      },
      (result, _start, _rows, worker) => {
        if (result.kind !== 'translate') throw new Error('unexpected result')
        // No session for the key on that worker (evicted): forget the belief, resend with the map.
        if (result.y === undefined) this.sentKeys.get(worker)?.delete(key)
        return result.y?.data
      })
    return { rows: x.rows, cols: outCols, data }
  }

  async forget (key: string): Promise<void> {
    if (this.closed) return
    for (const sent of this.sentKeys.values()) sent.delete(key)
    await this.executor.broadcast(() => ({ task: { kind: 'forget', key }, transfer: [] }))
  }

  async close (): Promise<void> {
    if (this.closed) return
    this.closed = true
    await this.executor.close()
    await removeOrtDebugLog()
  }
}

/** The engine's side of a shared operand: the caller's matrix and, once made, its shared copy. */
interface SharedSource extends SharedOperand { source?: Matrix, shared?: Float32Array }

function validateConfig (config: EngineConfig): void {
  if (!Array.isArray(config.executionProviders)) throw new TypeError('executionProviders must be an array of provider names')
  checkPositiveInteger(config.intraOpThreads, 'intraOpThreads')
  checkPositiveInteger(config.workers, 'workers', 0)
  checkPositiveInteger(config.rowBudget, 'rowBudget')
  checkPositiveInteger(config.sessionCacheSize, 'sessionCacheSize')
  if (config.pairwiseBudgetBytes !== undefined) checkPositiveInteger(config.pairwiseBudgetBytes, 'pairwiseBudgetBytes')
  if (config.float64BlockBytes !== undefined) checkPositiveInteger(config.float64BlockBytes, 'float64BlockBytes')
  if (config.residentBytes !== undefined) checkPositiveInteger(config.residentBytes, 'residentBytes')
}

/**
 * Starts the engine: probes the execution providers in order (the first session creation),
 * logging each one that fails once, then starts the workers on the provider that worked.
 */
export async function createEngine (config: EngineConfig): Promise<OrtEngine> {
  validateConfig(config)
  const logger = config.logger
  let executor: Executor
  let provider: string
  let failures: ProviderFailureData[]
  let launcher = 'inline'
  try {
    if (config.workers === 0) {
      ({ provider, failures } = await resolveProvider(config.executionProviders, config.strict, config.intraOpThreads))
      executor = new InlineExecutor(new TaskHandler(new SessionStore(provider, config.intraOpThreads, config.sessionCacheSize)))
    } else {
      const started = await WorkerPool.start(config.workers, {
        requested: config.executionProviders,
        strict: config.strict,
        intraOpThreads: config.intraOpThreads,
        sessionCacheSize: config.sessionCacheSize,
        residentBytes: config.residentBytes
      }, config.launchers)
      ;({ provider, failures, launcher } = started)
      executor = new PoolExecutor(started.pool)
    }
  } catch (error) {
    await removeOrtDebugLog()
    if (error instanceof ProviderError) {
      for (const failure of error.failures) logger?.error({ provider: failure.provider, err: failure.error }, 'execution provider failed to load')
    }
    throw error
  }
  // ORT creates the file once per process, on its first session: every worker has run one now.
  await removeOrtDebugLog()
  for (const failure of failures) {
    logger?.warn({ provider: failure.provider, err: failure.error }, 'execution provider failed to load; falling back to the next one')
  }
  logger?.info({ executionProvider: provider, requested: config.executionProviders, workers: config.workers, intraOpThreads: config.intraOpThreads, launcher }, 'compute engine ready')
  return new OnnxEngine(executor, config, provider, failures, launcher)
}
