/**
 * The unit of work the engine hands to a worker thread (or runs inline), and its handler. One
 * task is one graph run on one chunk of rows.
 */
import ort from 'onnxruntime-node'
import type { Projection, RelativeOptions, TranslatorMapSpec } from './types.js'
import { SessionStore, tensor } from './runtime.js'
import {
  relativeGraph, matmulGraph, probeGraph, matmul64Graph, polarStepGraph, translatorModel,
  RELATIVE_IO, MATMUL_IO, MATMUL64_IO, POLAR_IO, TRANSLATOR_IO
} from './graphs.js'

export interface MatrixData { rows: number, cols: number, data: Float32Array }
export interface Matrix64Data { rows: number, cols: number, data: Float64Array }

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
  | { kind: 'matmul64', transposeA: boolean, transposeB: boolean, a: Matrix64Data, b: Matrix64Data }
  | { kind: 'polar-step', x: Matrix64Data, coefficients: Float64Array, normalize: boolean }
  /** `map` travels only when the engine believes this worker lacks the key's session. */
  | { kind: 'translate', key: string, x: MatrixData, map?: TranslatorMapSpec }
  | { kind: 'forget', key: string }
  | { kind: 'probe' }
  | { kind: 'stats' }

/** `input` hands a worker's input buffer back to the engine for reuse. */
export type TaskResult =
  | { kind: 'relative', y: MatrixData, rowNorms: Float32Array, input?: Float32Array }
  | { kind: 'matmul', y: MatrixData, input?: Float32Array }
  | { kind: 'matmul64', y: Matrix64Data }
  | { kind: 'polar-step', x: Matrix64Data, change: number, scale: number }
  | { kind: 'translate', y: MatrixData, input?: Float32Array }
  /** The worker has no session for the key and the task carried no map: send it again with one. */
  | { kind: 'translate-missing', input?: Float32Array }
  | { kind: 'forget' }
  | { kind: 'probe' }
  | { kind: 'stats', sessions: number, created: number, keys: string[], translators: string[] }

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

function tensor64 (m: Matrix64Data): ort.Tensor {
  return new ort.Tensor('float64', m.data, [m.rows, m.cols])
}

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
      case 'matmul64': {
        const { a, b, transposeA, transposeB } = task
        const out = await this.store.run(`matmul64:${transposeA ? 1 : 0}${transposeB ? 1 : 0}`, () => matmul64Graph(transposeA, transposeB), {
          [MATMUL64_IO.a]: tensor64(a),
          [MATMUL64_IO.b]: tensor64(b)
        })
        const y = out[MATMUL64_IO.output]
        return { kind: 'matmul64', y: { rows: y.dims[0], cols: y.dims[1], data: y.data as unknown as Float64Array } }
      }
      case 'polar-step': {
        const { x, coefficients, normalize } = task
        const wide = x.rows < x.cols
        const out = await this.store.run(`polar:${wide ? 'wide' : 'tall'}:${normalize ? 'n' : '-'}`, () => polarStepGraph(wide, normalize), {
          [POLAR_IO.x]: tensor64(x),
          [POLAR_IO.coefficients]: new ort.Tensor('float64', coefficients, [3])
        })
        const next = out[POLAR_IO.output]
        const change = Math.sqrt((out[POLAR_IO.change].data as unknown as Float64Array)[0])
        const scale = normalize ? (out[POLAR_IO.scale].data as unknown as Float64Array)[0] : 1
        return { kind: 'polar-step', x: { rows: next.dims[0], cols: next.dims[1], data: next.data as unknown as Float64Array }, change, scale }
      }
      case 'translate': {
        const { map, x } = task
        const y = await this.translators.withSession(task.key, map === undefined ? undefined : () => translatorModel(map), async session => {
          const out = await session.run({ [TRANSLATOR_IO.x]: tensor(x.data, [x.rows, x.cols]) })
          const result = out[TRANSLATOR_IO.output]
          return { rows: Number(result.dims[0]), cols: Number(result.dims[1]), data: result.data as Float32Array }
        })
        if (y === undefined) return { kind: 'translate-missing', ...this.input(task.x.data) }
        return { kind: 'translate', y, ...this.input(task.x.data) }
      }
      case 'forget':
        this.translators.forget(task.key)
        return { kind: 'forget' }
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
        return { kind: 'stats', sessions: this.store.size, created: this.store.created, keys: this.store.keys(), translators: this.translators.keys() }
    }
  }

  close (): void {
    this.local.clear()
    this.spare.length = 0
    this.store.close()
    this.translators.close()
  }
}

/** The buffers a result can hand over without a copy. */
export function resultTransferList (result: TaskResult): ArrayBuffer[] {
  const buffers: ArrayBuffer[] = []
  const add = (a: Float32Array | Float64Array): void => {
    if (a.buffer instanceof ArrayBuffer && !buffers.includes(a.buffer)) buffers.push(a.buffer)
  }
  if (result.kind === 'relative') { add(result.y.data); add(result.rowNorms) }
  if (result.kind === 'matmul' || result.kind === 'matmul64' || result.kind === 'translate') add(result.y.data)
  if (result.kind === 'polar-step') add(result.x.data)
  if ((result.kind === 'relative' || result.kind === 'matmul' || result.kind === 'translate' || result.kind === 'translate-missing') && result.input !== undefined) add(result.input)
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
