import type { Matrix, Matrix64 } from '../math/matrix.js'

export type { Matrix64 }

/**
 * A translator's map as the engine runs it (src/translators/map.ts `LinearMap` is this shape and
 * documents the formula); the engine's own name, so it needs nothing from the layers above.
 */
export interface TranslatorMapSpec {
  sourceDim: number
  targetDim: number
  sourceMean: Float32Array
  sourceScale: Float32Array
  normalizeInput: boolean
  weight: { rows: number, cols: number, data: Float32Array }
  bias: Float32Array
  normalizeOutput: boolean
  outputNorm: number
  targetScale: Float32Array
  targetMean: Float32Array
}

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
  /** Per input row, 1 when it has zero norm (after centring): lets a coalesced batch count per request. */
  zeroRowFlags: Uint8Array
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
  /**
   * `anchorsKey` names the anchors' exact content (e.g. their upload revisions): workers then keep
   * them between calls instead of receiving them again. A different content must never reuse a key.
   */
  relative (x: Matrix, anchors: Matrix, opts: RelativeOptions, anchorsKey?: string): Promise<RelativeResult>
  /** a · b in float64 (aᵀ · b with transposeA, a · bᵀ with transposeB), for fitting. */
  matmul64 (a: Matrix64, b: Matrix64, opts?: { transposeA?: boolean, transposeB?: boolean }): Promise<Matrix64>
  /**
   * Applies a translator's map to the rows of x. `key` names the map (e.g. "<translator id>@<version>")
   * so its session is built once and reused; a different map must never reuse a key.
   */
  translate (x: Matrix, map: TranslatorMapSpec, key: string): Promise<Matrix>
  /** Releases what the engine keeps for a key (a deleted or replaced translator). */
  forget (key: string): Promise<void>
  close (): Promise<void>
}
