/**
 * The unit of work the engine hands to a worker thread (or runs inline), and its handler. One
 * task is one op (ops/) on one chunk of rows, or a control message (forget, stats).
 */
import { SessionStore } from './runtime.js'
import { isOpKind, opOf, type OpResult, type OpTask } from './ops/index.js'
import { OperandMissing, type MatrixData, type SharedOperand } from './ops/op.js'
import { BufferPool } from '../util/buffer-pool.js'
import { LruCache } from '../util/lru.js'

export type { MatrixData, Matrix64Data, SharedOperand } from './ops/op.js'
export { relativeKey, type RelativeParams } from './ops/relative.js'

export type Task =
  | OpTask
  | { kind: 'forget', key: string }
  | { kind: 'stats' }

/**
 * `input` hands a worker's input buffer back to the engine for reuse (ops with an `input`).
 * 'operand-missing': a keyed operand came without data and this worker does not hold it.
 */
export type TaskResult = (
  | OpResult
  | { kind: 'forget' }
  | { kind: 'stats', sessions: number, created: number, keys: string[], translators: string[], resident: string[] }
  | { kind: 'operand-missing', key: string }
) & { input?: Float32Array }

/** Default bound on the bytes of keyed operands a worker keeps resident (SharedOperand). */
export const DEFAULT_RESIDENT_BYTES = 128 * 1024 * 1024

/** A task field that is a chunk of rows (not a shared operand, which has an id). */
function isRowsField (value: unknown): value is MatrixData {
  return typeof value === 'object' && value !== null && !('id' in value) && (value as MatrixData).data instanceof Float32Array
}

/** Runs tasks against one SessionStore; holds the local copies of shared and resident operands. */
export class TaskHandler {
  private readonly local = new Map<number, Float32Array>()
  private readonly spare: Float32Array[] = []
  /** Keyed operands, bounded by their bytes; an evicted copy goes back to the spares. */
  private readonly resident: LruCache<string, Float32Array>
  /**
   * Worker-side copies of input chunks that arrived in shared memory (ORT rejects tensors over a
   * SharedArrayBuffer): in power-of-two sizes, reused, so a copy does not pay fresh-page faults.
   */
  private readonly scratch = new BufferPool<ArrayBuffer>(bytes => new ArrayBuffer(bytes), 2, 6)
  /**
   * Translator sessions by caller key, in their own bounded LRU so translators and the relative /
   * matmul graphs do not evict each other. Each is created from translatorModel(map): the very
   * bytes the /onnx export serves.
   */
  readonly translators: SessionStore

  constructor (readonly store: SessionStore, private readonly returnInputs = false, translatorCapacity = 16, private readonly residentLimit = DEFAULT_RESIDENT_BYTES) {
    this.translators = new SessionStore(store.provider, store.intraOpThreads, translatorCapacity)
    this.resident = new LruCache(Infinity, copy => { this.retire(copy) }, { of: copy => copy.byteLength, max: residentLimit })
  }

  /** A Float32Array of `length` values: a spare of that size, or fresh memory. */
  private buffer (length: number): Float32Array {
    const reusable = this.spare.findIndex(s => s.length === length)
    return reusable === -1 ? new Float32Array(length) : this.spare.splice(reusable, 1)[0]
  }

  private retire (copy: Float32Array): void {
    this.spare.push(copy)
    if (this.spare.length > 4) this.spare.shift()
  }

  private operand (op: SharedOperand): Float32Array {
    if (op.key !== undefined) return this.residentOperand(op, op.key)
    if (op.data === undefined) throw new Error('a shared operand without a key must carry its data')
    if (!(op.data.buffer instanceof SharedArrayBuffer)) return op.data
    let copy = this.local.get(op.id)
    if (copy === undefined) {
      // Calls interleave chunk by chunk, so keep a few recent operands, not just the last one;
      // an evicted copy's memory is reused for the next operand of the same size.
      if (this.local.size >= 4) {
        const oldest = this.local.keys().next().value as number
        this.retire(this.local.get(oldest) as Float32Array)
        this.local.delete(oldest)
      }
      copy = this.buffer(op.data.length)
      copy.set(op.data)
      this.local.set(op.id, copy)
    }
    return copy
  }

  /**
   * A keyed operand: the resident copy (refreshed as most recently used), or a new one from the
   * data sent, kept within the byte bound (oldest out first). Evicted copies are not reused while
   * this task may still read them: a worker runs one task at a time, and the spare list is only
   * drawn from by later tasks.
   */
  private residentOperand (op: SharedOperand, key: string): Float32Array {
    const held = this.resident.get(key)
    if (held !== undefined && held.length === op.rows * op.cols) return held
    if (op.data === undefined) throw new OperandMissing(key)
    if (!(op.data.buffer instanceof SharedArrayBuffer)) return op.data
    if (held !== undefined) {
      this.resident.delete(key)
      this.retire(held)
    }
    const copy = this.buffer(op.data.length)
    copy.set(op.data)
    this.resident.set(key, copy)
    return copy
  }

  /**
   * The task with its row chunks in memory ORT accepts: a chunk in shared memory (read there by
   * the engine without a copy on the main thread) is copied here, into scratch memory that goes
   * back to the pool once the run is over.
   */
  private localInputs (task: Task): { task: Task, scratch: ArrayBuffer[] } {
    const scratch: ArrayBuffer[] = []
    let local: Record<string, unknown> | undefined
    for (const [field, value] of Object.entries(task)) {
      if (!isRowsField(value) || !(value.data.buffer instanceof SharedArrayBuffer)) continue
      const memory = this.scratch.acquire(2 ** Math.ceil(Math.log2(Math.max(4, value.data.byteLength))))
      scratch.push(memory)
      const copy = new Float32Array(memory, 0, value.data.length)
      copy.set(value.data)
      local ??= { ...task }
      local[field] = { ...value, data: copy }
    }
    return { task: (local ?? task) as Task, scratch }
  }

  async handle (task: Task): Promise<TaskResult> {
    if (task.kind === 'forget') {
      this.translators.forget(task.key)
      return { kind: 'forget' }
    }
    if (task.kind === 'stats') {
      return { kind: 'stats', sessions: this.store.size, created: this.store.created, keys: this.store.keys(), translators: this.translators.keys(), resident: this.resident.keys() }
    }
    const op = opOf(task.kind)
    const { task: run, scratch } = this.localInputs(task)
    let result: TaskResult
    try {
      result = await op.run(run as OpTask, { sessions: this.store, translators: this.translators, operand: shared => this.operand(shared) })
    } catch (error) {
      if (error instanceof OperandMissing) return { kind: 'operand-missing', key: error.key }
      throw error
    } finally {
      for (const memory of scratch) this.scratch.release(memory)
    }
    // A chunk copied into scratch memory stays here; one the engine transferred goes back to it.
    if (this.returnInputs && op.input !== undefined && scratch.length === 0) {
      const input = op.input(task as OpTask)
      if (input.buffer instanceof ArrayBuffer) result.input = input
    }
    return result
  }

  close (): void {
    this.local.clear()
    this.resident.clear()
    this.spare.length = 0
    this.store.close()
    this.translators.close()
  }
}

/** The buffers a result can hand over without a copy: its op's outputs and the returned input. */
export function resultTransferList (result: TaskResult): ArrayBuffer[] {
  const arrays = isOpKind(result.kind) ? opOf(result.kind).outputs(result as OpResult) : []
  if (result.input !== undefined) arrays.push(result.input)
  const buffers: ArrayBuffer[] = []
  for (const a of arrays) {
    if (a.buffer instanceof ArrayBuffer && !buffers.includes(a.buffer)) buffers.push(a.buffer)
  }
  return buffers
}

/** What a worker is started with (workerData). */
export interface WorkerInit {
  requested: string[]
  strict: boolean
  /** Set once the first worker has resolved the provider: later workers skip the probe. */
  provider?: string
  intraOpThreads: number
  sessionCacheSize: number
  /** Bound on the bytes of keyed operands the worker keeps resident. */
  residentBytes?: number
}

export interface ProviderFailureData { provider: string, error: string }

export type ToWorker =
  | { type: 'task', id: number, task: Task }

export type FromWorker =
  | { type: 'ready', provider: string, failures: ProviderFailureData[] }
  | { type: 'init-error', message: string, failures: ProviderFailureData[] }
  | { type: 'result', id: number, result: TaskResult }
  | { type: 'error', id: number, message: string }
