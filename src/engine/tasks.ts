/**
 * The unit of work the engine hands to a worker thread (or runs inline), and its handler. One
 * task is one op (ops/) on one chunk of rows, or a control message (forget, stats).
 */
import { SessionStore } from './runtime.js'
import { isOpKind, opOf, type OpResult, type OpTask } from './ops/index.js'
import type { SharedOperand } from './ops/op.js'

export type { MatrixData, Matrix64Data, SharedOperand } from './ops/op.js'
export { relativeKey, type RelativeParams } from './ops/relative.js'

export type Task =
  | OpTask
  | { kind: 'forget', key: string }
  | { kind: 'stats' }

/** `input` hands a worker's input buffer back to the engine for reuse (ops with an `input`). */
export type TaskResult = (
  | OpResult
  | { kind: 'forget' }
  | { kind: 'stats', sessions: number, created: number, keys: string[], translators: string[] }
) & { input?: Float32Array }

/** Runs tasks against one SessionStore; holds the local copy of the current shared operands. */
export class TaskHandler {
  private readonly local = new Map<number, Float32Array>()
  private readonly spare: Float32Array[] = []
  /**
   * Translator sessions by caller key, in their own bounded LRU so translators and the relative /
   * matmul graphs do not evict each other. Each is created from translatorModel(map): the very
   * bytes the /onnx export serves.
   */
  readonly translators: SessionStore

  constructor (readonly store: SessionStore, private readonly returnInputs = false, translatorCapacity = 16) {
    this.translators = new SessionStore(store.provider, store.intraOpThreads, translatorCapacity)
  }

  private operand (op: SharedOperand): Float32Array {
    if (!(op.data.buffer instanceof SharedArrayBuffer)) return op.data
    let copy = this.local.get(op.id)
    if (copy === undefined) {
      // Calls interleave chunk by chunk, so keep a few recent operands, not just the last one;
      // an evicted copy's memory is reused for the next operand of the same size.
      if (this.local.size >= 4) {
        const oldest = this.local.keys().next().value as number
        this.spare.push(this.local.get(oldest) as Float32Array)
        this.local.delete(oldest)
        if (this.spare.length > 4) this.spare.shift()
      }
      const reusable = this.spare.findIndex(s => s.length === op.data.length)
      copy = reusable === -1 ? new Float32Array(op.data.length) : this.spare.splice(reusable, 1)[0]
      copy.set(op.data)
      this.local.set(op.id, copy)
    }
    return copy
  }

  async handle (task: Task): Promise<TaskResult> {
    if (task.kind === 'forget') {
      this.translators.forget(task.key)
      return { kind: 'forget' }
    }
    if (task.kind === 'stats') {
      return { kind: 'stats', sessions: this.store.size, created: this.store.created, keys: this.store.keys(), translators: this.translators.keys() }
    }
    const op = opOf(task.kind)
    const result: TaskResult = await op.run(task, { sessions: this.store, translators: this.translators, operand: shared => this.operand(shared) })
    if (this.returnInputs && op.input !== undefined) {
      const input = op.input(task)
      if (input.buffer instanceof ArrayBuffer) result.input = input
    }
    return result
  }

  close (): void {
    this.local.clear()
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
}

export interface ProviderFailureData { provider: string, error: string }

export type ToWorker =
  | { type: 'task', id: number, task: Task }

export type FromWorker =
  | { type: 'ready', provider: string, failures: ProviderFailureData[] }
  | { type: 'init-error', message: string, failures: ProviderFailureData[] }
  | { type: 'result', id: number, result: TaskResult }
  | { type: 'error', id: number, message: string }
