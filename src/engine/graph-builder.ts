/**
 * The graph builder and the node helpers the ops' graphs are composed of: small named builders
 * that each add a few nodes to a GraphBuilder. Each op's own graph lives next to it in ops/.
 */
import type { GraphSpec, InitializerSpec, NodeSpec, AttributeValue, ValueSpec } from './onnx.js'
import { NORM_EPS } from '../math/matrix.js'
import type { RelativeOptions } from './types.js'

/** torch's LayerNorm default epsilon (docs/methods.md §2.4). */
export const LAYERNORM_EPS = 1e-5

export type Float = 'float32' | 'float64'

/** Accumulates nodes and initializers under fresh names; builders return the names of their outputs. */
export class GraphBuilder {
  readonly nodes: NodeSpec[] = []
  readonly initializers: InitializerSpec[] = []
  private readonly constants = new Map<string, string>()
  private counter = 0

  fresh (prefix: string): string {
    return `${prefix}_${this.counter++}`
  }

  /** Adds a node with one output and returns that output's name. */
  op (op: string, inputs: string[], attributes?: Record<string, AttributeValue>): string {
    const output = this.fresh(op.toLowerCase())
    this.nodes.push({ op, inputs, outputs: [output], attributes })
    return output
  }

  /** Adds a node with several outputs. */
  opMulti (op: string, inputs: string[], outputCount: number, attributes?: Record<string, AttributeValue>): string[] {
    const outputs = Array.from({ length: outputCount }, () => this.fresh(op.toLowerCase()))
    this.nodes.push({ op, inputs, outputs, attributes })
    return outputs
  }

  /** Adds a node whose output gets a chosen name (graph outputs). */
  named (op: string, inputs: string[], output: string, attributes?: Record<string, AttributeValue>): string {
    this.nodes.push({ op, inputs, outputs: [output], attributes })
    return output
  }

  initializer (prefix: string, dims: number[], data: InitializerSpec['data']): string {
    const name = this.fresh(prefix)
    this.initializers.push({ name, dims, data })
    return name
  }

  /** A constant tensor, shared between builders that ask for the same values. */
  constant (type: 'float32' | 'float64' | 'int64', values: number[], dims: number[] = [values.length]): string {
    const key = `${type}:${dims.join('x')}:${values.join(',')}`
    const existing = this.constants.get(key)
    if (existing !== undefined) return existing
    const data = type === 'float32'
      ? Float32Array.from(values)
      : type === 'float64' ? Float64Array.from(values) : BigInt64Array.from(values.map(v => BigInt(v)))
    const name = this.initializer(`const_${type}`, dims, data)
    this.constants.set(key, name)
    return name
  }

  /** A scalar constant broadcastable against any tensor of the given type. */
  scalar (type: Float, value: number): string {
    return this.constant(type, [value], [])
  }

  build (name: string, inputs: ValueSpec[], outputs: ValueSpec[]): GraphSpec {
    return { name, nodes: this.nodes, inputs, outputs, initializers: this.initializers }
  }
}

// ---------------------------------------------------------------------------------------------
// Row-wise building blocks. Tensors are 2-D [rows, cols] unless a builder says otherwise.

/** ‖row‖₂ as [rows, 1]. ReduceL2 takes axes as an input since opset 18. */
export function rowNorms (g: GraphBuilder, x: string): string {
  return g.op('ReduceL2', [x, g.constant('int64', [1])], { keepdims: { int: 1 } })
}

/** ‖row‖₂² as [rows, 1]. */
export function rowSquaredNorms (g: GraphBuilder, x: string): string {
  return g.op('ReduceSumSquare', [x, g.constant('int64', [1])], { keepdims: { int: 1 } })
}

/** [rows, 1] → [1, rows], to broadcast per-anchor values across a similarity matrix. */
export function asRowVector (g: GraphBuilder, column: string): string {
  return g.op('Transpose', [column], { perm: { ints: [1, 0] } })
}

/** [rows, 1] bool: the row's norm exceeds NORM_EPS (it is not a zero row). */
export function nonZeroRowMask (g: GraphBuilder, norms: string, type: Float): string {
  return g.op('Greater', [norms, g.scalar(type, NORM_EPS)])
}

/**
 * x / ‖x‖ per row, with rows of norm ≤ NORM_EPS mapped to exact zeros (torch divides by
 * max(‖x‖, ε), which leaves a tiny non-zero row; the contract says such rows are zeros).
 */
export function rowL2Normalize (g: GraphBuilder, x: string, type: Float, norms = rowNorms(g, x)): string {
  const safe = g.op('Max', [norms, g.scalar(type, NORM_EPS)])
  const inverse = g.op('Reciprocal', [safe])
  const masked = g.op('Where', [nonZeroRowMask(g, norms, type), inverse, g.scalar(type, 0)])
  return g.op('Mul', [x, masked])
}

/** The anchors' column mean as [1, cols]. */
export function columnMean (g: GraphBuilder, a: string): string {
  return g.op('ReduceMean', [a, g.constant('int64', [0])], { keepdims: { int: 1 } })
}

/** Subtracts a [1, cols] mean from every row. */
export function centerBy (g: GraphBuilder, x: string, mean: string): string {
  return g.op('Sub', [x, mean])
}

/** x · aᵀ as [rows, anchors]. */
export function dotSimilarity (g: GraphBuilder, x: string, a: string): string {
  return g.op('Gemm', [x, a], { transB: { int: 1 } })
}

/** Cosine similarity: dot product of the row-normalised inputs; zero rows give zeros. */
export function cosineSimilarity (g: GraphBuilder, xUnit: string, aUnit: string): string {
  return dotSimilarity(g, xUnit, aUnit)
}

/**
 * Angular distance arccos(cos)/π ∈ [0, 1] from unit vectors in float64, as
 * θ = 2·atan(‖x̂ − â‖ / ‖x̂ + â‖) (Kahan). arccos of a float32 cosine is off by ~1e-4 near cos = 1
 * (docs/engine-notes.md §8); here ‖x̂ ∓ â‖² = ‖x̂‖² + ‖â‖² ∓ 2x̂·â is formed in float64, where the
 * cancellation at cos ≈ ±1 costs ~1e-16, and atan is well conditioned over the whole range, so the
 * result is accurate to ~1e-7 at both ends. Pairs where either side is a zero row give 0.
 */
export function angularDistance (g: GraphBuilder, xUnit64: string, aUnit64: string, xMask: string, aMask: string): string {
  const dot2 = g.op('Mul', [dotSimilarity(g, xUnit64, aUnit64), g.scalar('float64', 2)])
  const squares = g.op('Add', [rowSquaredNorms(g, xUnit64), asRowVector(g, rowSquaredNorms(g, aUnit64))])
  const zero = g.scalar('float64', 0)
  const difference = g.op('Sqrt', [g.op('Max', [g.op('Sub', [squares, dot2]), zero])])
  const sum = g.op('Sqrt', [g.op('Max', [g.op('Add', [squares, dot2]), zero])])
  // ratio is +Inf for antipodal pairs (atan → π/2, θ = π) and NaN only for pairs of zero rows,
  // which the mask replaces (Where, not Mul, so the NaN cannot leak).
  const ratio = g.op('Cast', [g.op('Div', [difference, sum])], { to: { int: 1 } })
  const angle = g.op('Mul', [g.op('Atan', [ratio]), g.scalar('float32', 2 / Math.PI)])
  const valid = g.op('And', [xMask, asRowVector(g, aMask)])
  return g.op('Where', [valid, angle, g.scalar('float32', 0)])
}

/**
 * Euclidean distance from the expansion ‖x‖² + ‖a‖² − 2x·a, formed in float64 (inputs and
 * output): in float32 the cancellation for near-duplicate rows leaves errors of ~1e-3 (the square
 * root of a rounding error).
 */
export function euclideanDistance (g: GraphBuilder, x64: string, a64: string): string {
  const squares = g.op('Add', [rowSquaredNorms(g, x64), asRowVector(g, rowSquaredNorms(g, a64))])
  const dot2 = g.op('Mul', [dotSimilarity(g, x64, a64), g.scalar('float64', 2)])
  const squared = g.op('Max', [g.op('Sub', [squares, dot2]), g.scalar('float64', 0)])
  return g.op('Sqrt', [squared])
}

/**
 * |x − a| for every pair as [rows, anchors, cols]: N·k·d values, so the caller must keep the row
 * count small (the engine chunks rows for these blocks to fit a memory budget, see
 * pairwiseBytesPerRow).
 */
function pairwiseAbsoluteDifferences (g: GraphBuilder, x: string, a: string): string {
  const x3 = g.op('Unsqueeze', [x, g.constant('int64', [1])]) // [n, 1, d]
  const a3 = g.op('Unsqueeze', [a, g.constant('int64', [0])]) // [1, k, d]
  return g.op('Abs', [g.op('Sub', [x3, a3])])
}

/** Manhattan distance Σ|x − a| (given float64 inputs, the sum of d terms keeps ~1e-15 accuracy). */
export function l1Distance (g: GraphBuilder, x: string, a: string): string {
  return g.op('ReduceSum', [pairwiseAbsoluteDifferences(g, x, a), g.constant('int64', [2])], { keepdims: { int: 0 } })
}

/** Chebyshev distance max|x − a|. */
export function linfDistance (g: GraphBuilder, x: string, a: string): string {
  return g.op('ReduceMax', [pairwiseAbsoluteDifferences(g, x, a), g.constant('int64', [2])], { keepdims: { int: 0 } })
}

/**
 * sign(v)·|v|^p. Chosen over clamping negatives to 0: it is defined for every real p > 0
 * (v^p of a negative v is NaN for fractional p), it is monotonic so the kept values stay the
 * largest, and it equals v^p for odd integer p. For even p a negative similarity stays negative
 * instead of turning into a large positive one (the ASIF sign trap, docs/methods.md §2.3).
 */
export function signedPower (g: GraphBuilder, v: string, power: number, type: Float = 'float32'): string {
  if (power === 1) return v
  const magnitude = g.op('Pow', [g.op('Abs', [v]), g.scalar(type, power)])
  return g.op('Mul', [g.op('Sign', [v]), magnitude])
}

/**
 * Keeps the k largest values of each row, raises them to `power` (signedPower) and zeroes the
 * rest. k is clamped in the graph to the row length, so one graph serves any anchor count.
 */
export function topKPower (g: GraphBuilder, v: string, k: number | undefined, power: number, type: Float = 'float32'): string {
  if (k === undefined) return signedPower(g, v, power, type)
  const rowLength = g.op('Slice', [g.op('Shape', [v]), g.constant('int64', [1]), g.constant('int64', [2])])
  const kEffective = g.op('Min', [g.constant('int64', [k]), rowLength])
  const [values, indices] = g.opMulti('TopK', [v, kEffective], 2, { axis: { int: 1 }, largest: { int: 1 }, sorted: { int: 0 } })
  const zeros = g.op('Expand', [g.scalar(type, 0), g.op('Shape', [v])])
  return g.op('ScatterElements', [zeros, indices, signedPower(g, values, power, type)], { axis: { int: 1 } })
}

/** (v − mean)/sqrt(var + 1e-5) per row, population variance, no affine parameters (torch LayerNorm). */
export function layerNorm (g: GraphBuilder, v: string, type: Float = 'float32'): string {
  const axes = g.constant('int64', [1])
  const centred = g.op('Sub', [v, g.op('ReduceMean', [v, axes], { keepdims: { int: 1 } })])
  const variance = g.op('ReduceMean', [g.op('Mul', [centred, centred]), axes], { keepdims: { int: 1 } })
  return g.op('Div', [centred, g.op('Sqrt', [g.op('Add', [variance, g.scalar(type, LAYERNORM_EPS)])])])
}

export function normalizeBlock (g: GraphBuilder, v: string, mode: RelativeOptions['normalize'], type: Float = 'float32'): string {
  if (mode === 'l2') return rowL2Normalize(g, v, type)
  if (mode === 'layernorm') return layerNorm(g, v, type)
  return v
}

/** Blocks side by side along the columns, in the given order. */
export function concatBlocks (g: GraphBuilder, blocks: string[]): string {
  return blocks.length === 1 ? blocks[0] : g.op('Concat', blocks, { axis: { int: 1 } })
}

/** a·b, or a·bᵀ. */
export function matmul (g: GraphBuilder, a: string, b: string, transposeB: boolean): string {
  return g.op('Gemm', [a, b], { transB: { int: transposeB ? 1 : 0 } })
}

/** x / max(‖x‖, ε) per row, exactly the LinearMap's formula: a zero row stays zero, never NaN. */
export function rowDivideByNorm (g: GraphBuilder, x: string, type: Float = 'float32'): string {
  return g.op('Div', [x, g.op('Max', [rowNorms(g, x), g.scalar(type, NORM_EPS)])])
}
