import type { Matrix } from '../math/matrix.js'

/** Similarity (or distance) of a row to each anchor; the blocks of a relative vector. */
export type Projection = 'cosine' | 'angular' | 'euclidean' | 'l1' | 'linf' | 'dot'

export interface RelativeOptions {
  /** One projection, or several whose blocks are concatenated in this order. */
  projections: Projection[]
  /** Subtract the anchors' column mean from inputs and anchors first. */
  center: boolean
  /** Keep the k largest values per row and block, raise them to `power` keeping their sign (sign(v)·|v|^power), zero the rest. */
  topK?: number
  power?: number
  /** Per row and per block, after top-k. */
  normalize: 'none' | 'l2' | 'layernorm'
}

export interface RelativeResult {
  /** rows x (anchors * projections.length) */
  matrix: Matrix
  /** Input rows with zero norm (after centring): their cosine/angular blocks are zeros, never NaN. */
  zeroRows: number
}

/** The one product the analysis modules need; the engine provides it through ORT. */
export interface MatMul {
  /** a · b, or a · bᵀ with transposeB. */
  matmul (a: Matrix, b: Matrix, opts?: { transposeB?: boolean }): Promise<Matrix>
}

export interface EngineInfo {
  /** The execution provider sessions actually run on, e.g. 'cpu' or 'cuda'. */
  executionProvider: string
  /** The providers asked for, in order. */
  requested: string[]
  /** Providers that failed to load, with their error message. */
  failed: Array<{ provider: string, error: string }>
  threads: number
  workers: number
}

/** All batched math of the service runs through this. */
export interface Engine extends MatMul {
  info (): EngineInfo
  /** Runs a tiny graph end to end; rejects when the engine cannot compute. */
  probe (): Promise<void>
  relative (x: Matrix, anchors: Matrix, opts: RelativeOptions): Promise<RelativeResult>
  close (): Promise<void>
}
