/**
 * The unit of work the engine hands to a worker thread (or runs inline), and its handler. One
 * task is one graph run on one chunk of rows.
 */
import type { Projection, RelativeOptions } from './types.js'
import { SessionStore, tensor } from './runtime.js'
import { relativeGraph, matmulGraph, probeGraph, RELATIVE_IO, MATMUL_IO } from './graphs.js'

export interface MatrixData { rows: number, cols: number, data: Float32Array }

/**
 * An operand shared by every chunk task of one call (the anchors, or B of a matmul). In worker
 * mode its data lives in a SharedArrayBuffer, so chunks do not clone it again and again; ORT
 * rejects tensors over shared memory, so each worker copies it once per call (keyed by id).
 */
export interface SharedOperand extends MatrixData { id: number }

/** The graph-shaping part of RelativeOptions, with defaults applied. */
export interface RelativeParams {
  projections: Projection[]
  center: boolean
  topK?: number
  power: number
  normalize: RelativeOptions['normalize']
}

export type Task =
  | { kind: 'relative', params: RelativeParams, anchors: SharedOperand, x: MatrixData }
  | { kind: 'matmul', transposeB: boolean, a: MatrixData, b: SharedOperand }
  | { kind: 'probe' }
  | { kind: 'stats' }

/** `input` hands a worker's input buffer back to the engine for reuse. */
export type TaskResult =
  | { kind: 'relative', y: MatrixData, rowNorms: Float32Array, input?: Float32Array }
  | { kind: 'matmul', y: MatrixData, input?: Float32Array }
  | { kind: 'probe' }
  | { kind: 'stats', sessions: number, created: number, keys: string[] }

/**
 * Session key of a relative graph: anchors are a runtime input, so only the options shape it.
 *
 * Measured against anchors baked in as initializers (bench/relative.ts --all; cosine, 1,024 x 768
 * inputs, 1,000 anchors, in-process, warm medians over several runs on this noisy VM):
 *   1 thread:  initializer 11.2–15.8 ms, input 12.3–16.1 ms
 *   2 threads: initializer  5.9–11.0 ms, input  7.0–11.3 ms
 * Baking saves 0.5–2 ms a call (ORT folds the anchors' normalisation into constants), but a
 * session per anchor matrix needs a content key, and sha256 of the anchors costs 2.1 ms a call
 * (keying on object identity would serve stale results if a caller mutated the array); its
 * first call is 17–44 ms against 10–34 ms, and every anchor set × options × worker holds its own
 * copy. So anchors are inputs: one session per options shape serves every anchor set.
 */
export function relativeKey (params: RelativeParams): string {
  const { projections, center, topK, power, normalize } = params
  return `relative:${projections.join('+')}:c${center ? 1 : 0}:k${topK ?? '-'}:p${power}:${normalize}`
}

/** Runs tasks against one SessionStore; holds the local copy of the current shared operands. */
export class TaskHandler {
  private readonly local = new Map<number, Float32Array>()
  private readonly spare: Float32Array[] = []

  constructor (readonly store: SessionStore, private readonly returnInputs = false) {}

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

  private input (data: Float32Array): { input?: Float32Array } {
    return this.returnInputs && data.buffer instanceof ArrayBuffer ? { input: data } : {}
  }

  async handle (task: Task): Promise<TaskResult> {
    switch (task.kind) {
      case 'relative': {
        const { params, anchors, x } = task
        const out = await this.store.run(relativeKey(params), () => relativeGraph(params), {
          [RELATIVE_IO.x]: tensor(x.data, [x.rows, x.cols]),
          [RELATIVE_IO.anchors]: tensor(this.operand(anchors), [anchors.rows, anchors.cols])
        })
        const y = out[RELATIVE_IO.output]
        return { kind: 'relative', y: { rows: y.dims[0], cols: y.dims[1], data: y.data }, rowNorms: out[RELATIVE_IO.rowNorms].data, ...this.input(x.data) }
      }
      case 'matmul': {
        const { a, b, transposeB } = task
        const out = await this.store.run(`matmul:t${transposeB ? 1 : 0}`, () => matmulGraph(transposeB), {
          [MATMUL_IO.a]: tensor(a.data, [a.rows, a.cols]),
          [MATMUL_IO.b]: tensor(this.operand(b), [b.rows, b.cols])
        })
        const y = out[MATMUL_IO.output]
        return { kind: 'matmul', y: { rows: y.dims[0], cols: y.dims[1], data: y.data }, ...this.input(a.data) }
      }
      case 'probe': {
        const one = Float32Array.from([1, 2, 3, 4])
        const out = await this.store.run('probe', probeGraph, {
          [MATMUL_IO.a]: tensor(one, [2, 2]),
          [MATMUL_IO.b]: tensor(one, [2, 2])
        })
        const y = out[MATMUL_IO.output].data
        if (y[0] !== 5 || y[3] !== 25) throw new Error(`probe graph computed [${Array.from(y).join(', ')}], expected [5, 11, 11, 25]`)
        return { kind: 'probe' }
      }
      case 'stats':
        return { kind: 'stats', sessions: this.store.size, created: this.store.created, keys: this.store.keys() }
    }
  }

  close (): void {
    this.local.clear()
    this.spare.length = 0
    this.store.close()
  }
}

/** The buffers a result can hand over without a copy. */
export function resultTransferList (result: TaskResult): ArrayBuffer[] {
  const buffers: ArrayBuffer[] = []
  const add = (a: Float32Array): void => {
    if (a.buffer instanceof ArrayBuffer && !buffers.includes(a.buffer)) buffers.push(a.buffer)
  }
  if (result.kind === 'relative') { add(result.y.data); add(result.rowNorms) }
  if (result.kind === 'matmul') add(result.y.data)
  if ((result.kind === 'relative' || result.kind === 'matmul') && result.input !== undefined) add(result.input)
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
