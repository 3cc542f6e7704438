/**
 * What an engine op is: one graph run on one task (a chunk of rows, or a whole float64 operand),
 * described once — its session key, its graph, its feeds from the task, its outputs into the
 * result, the result buffers a worker transfers back, and the input buffer it hands back for
 * reuse. The task handler, the worker's transfer list, the engine's buffer recycling and the
 * metrics all read these descriptions.
 */
import ort from 'onnxruntime-node'
import type { GraphSpec } from '../onnx.js'

export interface MatrixData { rows: number, cols: number, data: Float32Array }
export interface Matrix64Data { rows: number, cols: number, data: Float64Array }

/**
 * An operand shared by every chunk task of one call (the anchors, or B of a matmul). In worker
 * mode its data lives in a SharedArrayBuffer, so chunks do not clone it again and again; ORT
 * rejects tensors over shared memory, so each worker copies it once (keyed by id).
 *
 * With a `key` (naming the operand's exact content, e.g. the anchors' upload revisions) the
 * worker keeps its copy resident across calls, and `data` is left out for a worker the engine
 * believes holds it: a worker that does not (evicted) answers 'operand-missing' and the task is
 * sent again with the data.
 */
export interface SharedOperand { id: number, rows: number, cols: number, data?: Float32Array, key?: string }

/** Thrown by OpContext.operand for a keyed operand sent without data that the worker lacks. */
export class OperandMissing extends Error {
  constructor (readonly key: string) {
    super(`operand '${key}' is not resident here`)
    this.name = 'OperandMissing'
  }
}

export interface TensorOut { data: Float32Array, dims: number[] }

/** The sessions an op runs on (SessionStore satisfies this). */
export interface Sessions {
  /** Runs the graph `build` describes (built and cached under `key` on first use). */
  run: (key: string, build: () => GraphSpec, feeds: Record<string, ort.Tensor>) => Promise<Record<string, TensorOut>>
  /** Calls `use` with the key's session, created from `model()` when missing; undefined when missing and no model. */
  withSession: <T>(key: string, model: (() => Uint8Array) | undefined, use: (session: ort.InferenceSession) => Promise<T>) => Promise<T | undefined>
}

/** What the task handler gives an op to run on. */
export interface OpContext {
  sessions: Sessions
  /** Translator sessions, in their own LRU. */
  translators: Sessions
  /** The worker-local copy of a shared operand; throws OperandMissing (see SharedOperand). */
  operand: (shared: SharedOperand) => Float32Array
}

/** The engine method an op serves, for the metrics: its name (the `op` label) and its batch rows. */
export interface OpMethod {
  name: string
  /** Input rows of one call, read from the method's arguments; undefined when it has none. */
  rows: (args: any[]) => number | undefined
}

export interface EngineOp<K extends string, T extends { kind: K }, R extends { kind: K }> {
  kind: K
  method: OpMethod
  run: (task: T, context: OpContext) => Promise<R>
  /** Result arrays a worker hands over without a copy. */
  outputs: (result: R) => Array<Float32Array | Float64Array>
  /** The task's input chunk, handed back with the result so the engine reuses its buffer. */
  input?: (task: T) => Float32Array
}

/** The declarative form of an op that runs one graph from the main session store. */
export interface GraphOpSpec<K extends string, T extends { kind: K }, R extends { kind: K }> {
  kind: K
  method: OpMethod
  key: (task: T) => string
  graph: (task: T) => GraphSpec
  feeds: (task: T, operand: OpContext['operand']) => Record<string, ort.Tensor>
  result: (outputs: Record<string, TensorOut>, task: T) => R
  outputs: EngineOp<K, T, R>['outputs']
  input?: EngineOp<K, T, R>['input']
}

export function graphOp<K extends string, T extends { kind: K }, R extends { kind: K }> (spec: GraphOpSpec<K, T, R>): EngineOp<K, T, R> {
  return {
    kind: spec.kind,
    method: spec.method,
    outputs: spec.outputs,
    input: spec.input,
    run: async (task, context) => spec.result(await context.sessions.run(spec.key(task), () => spec.graph(task), spec.feeds(task, context.operand)), task)
  }
}

export function tensor (data: Float32Array, dims: number[]): ort.Tensor {
  return new ort.Tensor('float32', data, dims)
}

export function tensor64 (m: Matrix64Data): ort.Tensor {
  return new ort.Tensor('float64', m.data, [m.rows, m.cols])
}

/** A float32 graph output as a matrix. */
export function matrixOut (out: TensorOut): MatrixData {
  return { rows: out.dims[0], cols: out.dims[1], data: out.data }
}

/** A float64 graph output as a matrix (ORT hands float64 outputs over as Float64Array). */
export function matrix64Out (out: TensorOut): Matrix64Data {
  return { rows: out.dims[0], cols: out.dims[1], data: out.data as unknown as Float64Array }
}
