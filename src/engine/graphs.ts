/**
 * The one place where ONNX graphs are built: small named builders that each add a few nodes to a
 * GraphBuilder, composed into the graphs the engine runs (relative projection, matmul, affine).
 */
import type { GraphSpec, InitializerSpec, NodeSpec, AttributeValue, ValueSpec, ElemType } from './onnx.js'
import { encodeModel } from './onnx.js'
import { NORM_EPS } from '../math/matrix.js'
import type { Projection, RelativeOptions, TranslatorMapSpec } from './types.js'

/** torch's LayerNorm default epsilon (docs/methods.md §2.4). */
export const LAYERNORM_EPS = 1e-5

type Float = 'float32' | 'float64'

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

/** x·W + b. */
export function affine (g: GraphBuilder, x: string, w: string, b: string): string {
  return g.op('Gemm', [x, w, b])
}

/** a·b, or a·bᵀ. */
export function matmul (g: GraphBuilder, a: string, b: string, transposeB: boolean): string {
  return g.op('Gemm', [a, b], { transB: { int: transposeB ? 1 : 0 } })
}

// ---------------------------------------------------------------------------------------------
// Composed graphs.

export interface RelativeGraphOptions {
  projections: Projection[]
  center: boolean
  topK?: number
  power: number
  normalize: RelativeOptions['normalize']
  /** Anchor matrix baked in as an initializer, or undefined for a runtime input 'A' [K, D]. */
  anchors?: { rows: number, cols: number, data: Float32Array }
}

/** Input and output names of the relative graph. */
export const RELATIVE_IO = { x: 'X', anchors: 'A', output: 'Y', rowNorms: 'row_norm' } as const

export const PAIRWISE_PROJECTIONS: ReadonlySet<Projection> = new Set(['l1', 'linf'])

/**
 * Peak bytes per input row of the pairwise-difference tensors (Sub and Abs outputs, [k, d] each
 * per row): l1 runs in float64, linf in float32.
 */
export function pairwiseBytesPerRow (projections: Projection[], anchors: number, dim: number): number {
  let bytes = 0
  if (projections.includes('l1')) bytes = Math.max(bytes, 2 * anchors * dim * 8)
  if (projections.includes('linf')) bytes = Math.max(bytes, 2 * anchors * dim * 4)
  return bytes
}

interface Block { value: string, type: Float }

/**
 * Relative projection of X [N, D] against anchors [K, D]: Y [N, K·m] (m = number of projections)
 * and row_norm [N] (norms of the inputs after centring, to count zero rows).
 *
 * Precision: cosine and dot run in float32 (well conditioned). Euclidean and l1 are formed in
 * float64, and the top-k / power / normalisation tail of the distance blocks (euclidean, l1, linf)
 * runs in float64 before the final cast: their values are large next to their spread across
 * anchors (l1 ≈ 34 ± 1.5 on the golden data), so a float32 layernorm would amplify one ulp of
 * the value (4e-6) by 1/spread.
 */
export function relativeGraph (opts: RelativeGraphOptions): GraphSpec {
  const g = new GraphBuilder()
  const x: string = RELATIVE_IO.x
  const a = opts.anchors === undefined
    ? RELATIVE_IO.anchors
    : g.initializer('anchors', [opts.anchors.rows, opts.anchors.cols], opts.anchors.data)

  let x32 = x
  let a32 = a
  let mean32 = ''
  if (opts.center) {
    mean32 = columnMean(g, a)
    x32 = centerBy(g, x, mean32)
    a32 = centerBy(g, a, mean32)
  }
  // Float64 copies, made once on first use; centred with a float64 mean.
  let pair64: [string, string] | undefined
  const float64 = (): [string, string] => {
    if (pair64 === undefined) {
      let x64 = g.op('Cast', [x], { to: { int: 11 } })
      let a64 = g.op('Cast', [a], { to: { int: 11 } })
      if (opts.center) {
        const mean64 = columnMean(g, a64)
        x64 = centerBy(g, x64, mean64)
        a64 = centerBy(g, a64, mean64)
      }
      pair64 = [x64, a64]
    }
    return pair64
  }
  const xNorms = rowNorms(g, x32)
  let unit32: [string, string] | undefined
  const unitFloat32 = (): [string, string] => {
    unit32 ??= [rowL2Normalize(g, x32, 'float32', xNorms), rowL2Normalize(g, a32, 'float32')]
    return unit32
  }
  const toFloat64 = (v: string): string => g.op('Cast', [v], { to: { int: 11 } })

  const blocks = opts.projections.map(projection => {
    let block: Block
    switch (projection) {
      case 'cosine': {
        const [xu, au] = unitFloat32()
        block = { value: cosineSimilarity(g, xu, au), type: 'float32' }
        break
      }
      case 'dot':
        block = { value: dotSimilarity(g, x32, a32), type: 'float32' }
        break
      case 'angular': {
        const [x64, a64] = float64()
        const xn = rowNorms(g, x64)
        const an = rowNorms(g, a64)
        // Atan has only a float32 kernel in ORT, so the angle itself is float32 (1 ulp).
        block = {
          value: angularDistance(g, rowL2Normalize(g, x64, 'float64', xn), rowL2Normalize(g, a64, 'float64', an),
            nonZeroRowMask(g, xn, 'float64'), nonZeroRowMask(g, an, 'float64')),
          type: 'float32'
        }
        break
      }
      case 'euclidean': {
        const [x64, a64] = float64()
        block = { value: euclideanDistance(g, x64, a64), type: 'float64' }
        break
      }
      case 'l1': {
        const [x64, a64] = float64()
        block = { value: l1Distance(g, x64, a64), type: 'float64' }
        break
      }
      case 'linf':
        // Exact up to the rounding of one float32 subtraction; the tail still benefits from float64.
        block = { value: toFloat64(linfDistance(g, x32, a32)), type: 'float64' }
        break
    }
    const tail = normalizeBlock(g, topKPower(g, block.value, opts.topK, opts.power, block.type), opts.normalize, block.type)
    return block.type === 'float64' ? g.op('Cast', [tail], { to: { int: 1 } }) : tail
  })

  const y = concatBlocks(g, blocks)
  g.named('Identity', [y], RELATIVE_IO.output)
  g.named('Squeeze', [xNorms, g.constant('int64', [1])], RELATIVE_IO.rowNorms)

  const d: number | string = opts.anchors?.cols ?? 'D'
  const inputs: ValueSpec[] = [{ name: x, type: 'float32', shape: ['N', d] }]
  if (opts.anchors === undefined) inputs.push({ name: RELATIVE_IO.anchors, type: 'float32', shape: ['K', d] })
  return g.build('relative', inputs, [
    { name: RELATIVE_IO.output, type: 'float32', shape: ['N', 'M'] },
    { name: RELATIVE_IO.rowNorms, type: 'float32', shape: ['N'] }
  ])
}

/** Input and output names of the matmul graph. */
export const MATMUL_IO = { a: 'A', b: 'B', output: 'Y' } as const

/** Y = A·B, or A·Bᵀ with transposeB; both operands are runtime inputs. */
export function matmulGraph (transposeB: boolean, type: ElemType & Float = 'float32'): GraphSpec {
  const g = new GraphBuilder()
  g.named('Identity', [matmul(g, MATMUL_IO.a, MATMUL_IO.b, transposeB)], MATMUL_IO.output)
  return g.build('matmul', [
    { name: MATMUL_IO.a, type, shape: ['M', 'K'] },
    { name: MATMUL_IO.b, type, shape: transposeB ? ['N', 'K'] : ['K', 'N'] }
  ], [{ name: MATMUL_IO.output, type, shape: ['M', 'N'] }])
}

/** Y = X·W + b with W [D, M] and b [M] baked in (translators). */
export function affineGraph (w: { rows: number, cols: number, data: Float32Array }, b: Float32Array): GraphSpec {
  if (b.length !== w.cols) throw new RangeError(`bias has ${b.length} values, W has ${w.cols} columns`)
  const g = new GraphBuilder()
  const wName = g.initializer('W', [w.rows, w.cols], w.data)
  const bName = g.initializer('b', [w.cols], b)
  g.named('Identity', [affine(g, 'X', wName, bName)], 'Y')
  return g.build('affine', [{ name: 'X', type: 'float32', shape: ['N', w.rows] }],
    [{ name: 'Y', type: 'float32', shape: ['N', w.cols] }])
}

/** A tiny graph for the readiness probe: Y = X·Xᵀ on [2, 2]. */
export function probeGraph (): GraphSpec {
  return matmulGraph(true)
}

// ---------------------------------------------------------------------------------------------
// Translators and fitting.

/** Input and output names of the translator graph (the /onnx export keeps them). */
export const TRANSLATOR_IO = { x: 'x', output: 'y' } as const

/** x / max(‖x‖, ε) per row, exactly the LinearMap's formula: a zero row stays zero, never NaN. */
export function rowDivideByNorm (g: GraphBuilder, x: string, type: Float = 'float32'): string {
  return g.op('Div', [x, g.op('Max', [rowNorms(g, x), g.scalar(type, NORM_EPS)])])
}

function checkLength (name: string, values: ArrayLike<number>, length: number): void {
  if (values.length !== length) throw new RangeError(`map.${name} has ${values.length} values, expected ${length}`)
}

/** Throws a RangeError naming the first field whose size disagrees with sourceDim x targetDim. */
export function checkTranslatorMap (map: TranslatorMapSpec): void {
  const { sourceDim: dx, targetDim: dy } = map
  if (!Number.isInteger(dx) || dx < 1 || !Number.isInteger(dy) || dy < 1) throw new RangeError(`map dimensions must be positive integers, got ${dx} x ${dy}`)
  checkLength('sourceMean', map.sourceMean, dx)
  checkLength('sourceScale', map.sourceScale, dx)
  if (map.weight.rows !== dx || map.weight.cols !== dy) throw new RangeError(`map.weight is ${map.weight.rows} x ${map.weight.cols}, expected ${dx} x ${dy}`)
  checkLength('weight', map.weight.data, dx * dy)
  checkLength('bias', map.bias, dy)
  checkLength('targetScale', map.targetScale, dy)
  checkLength('targetMean', map.targetMean, dy)
  if (!Number.isFinite(map.outputNorm)) throw new RangeError(`map.outputNorm must be finite, got ${map.outputNorm}`)
}

/** Whether every value is exactly `value` (a mean of 0 or a scale of 1 needs no node). */
function allEqual (values: Float32Array, value: number): boolean {
  return values.every(v => v === value)
}

/**
 * One translator as one graph, x [N, sourceDim] → y [N, targetDim], every parameter an
 * initializer, computing the LinearMap formula (src/fit/types.ts):
 *   x̃ = (x − sourceMean) ⊙ sourceScale;  x̃ ← x̃ / max(‖x̃‖, ε) if normalizeInput;
 *   ỹ = x̃ · weight + bias;               ỹ ← outputNorm · ỹ / max(‖ỹ‖, ε) if normalizeOutput;
 *   y = ỹ ⊙ targetScale + targetMean.
 * The per-dimension scales are folded into the weight where no normalisation sits between them
 * (diag(sourceScale)·W·diag(targetScale), formed in float64 and rounded once; the bias becomes
 * b ⊙ targetScale + targetMean), so the common case is one Sub and one Gemm: measured on 4,096 x
 * 768 → 768, 18–19 ms against 23–27 ms for the unfolded five-node chain. The mean is still
 * subtracted before the product, not folded into the bias: x·W − μ·W would cancel
 * catastrophically when the mean is large next to the spread. The exported model and
 * /v1/translate are this same graph.
 */
export function translatorGraph (map: TranslatorMapSpec): GraphSpec {
  checkTranslatorMap(map)
  const { sourceDim: dx, targetDim: dy } = map
  const g = new GraphBuilder()
  const foldSource = !map.normalizeInput
  const foldTarget = !map.normalizeOutput
  const weight = new Float32Array(dx * dy)
  for (let i = 0; i < dx; i++) {
    const rowScale = foldSource ? map.sourceScale[i] : 1
    for (let j = 0; j < dy; j++) weight[i * dy + j] = rowScale * map.weight.data[i * dy + j] * (foldTarget ? map.targetScale[j] : 1)
  }
  const bias = foldTarget ? Float32Array.from(map.bias, (b, j) => b * map.targetScale[j] + map.targetMean[j]) : map.bias

  let v: string = allEqual(map.sourceMean, 0) ? TRANSLATOR_IO.x : g.op('Sub', [TRANSLATOR_IO.x, g.initializer('source_mean', [1, dx], map.sourceMean)])
  if (!foldSource) {
    if (!allEqual(map.sourceScale, 1)) v = g.op('Mul', [v, g.initializer('source_scale', [1, dx], map.sourceScale)])
    v = rowDivideByNorm(g, v)
  }
  const product = g.initializer('weight', [dx, dy], weight)
  if (foldTarget) {
    g.named('Gemm', [v, product, g.initializer('bias', [dy], bias)], TRANSLATOR_IO.output)
  } else {
    v = g.op('Gemm', [v, product, g.initializer('bias', [dy], bias)])
    const outputScale = Float32Array.from(map.targetScale, s => s * map.outputNorm)
    v = g.op('Mul', [rowDivideByNorm(g, v), g.initializer('target_scale', [1, dy], outputScale)])
    g.named('Add', [v, g.initializer('target_mean', [1, dy], map.targetMean)], TRANSLATOR_IO.output)
  }
  return g.build('translator', [{ name: TRANSLATOR_IO.x, type: 'float32', shape: ['N', dx] }],
    [{ name: TRANSLATOR_IO.output, type: 'float32', shape: ['N', dy] }])
}

/**
 * The serialised translator model: the bytes GET /v1/translators/{id}/onnx serves. The engine's
 * workers build their sessions from the same builder and encoder, so translate runs these bytes.
 */
export function translatorModel (map: TranslatorMapSpec): Uint8Array {
  return encodeModel({ graph: translatorGraph(map) })
}

/** Input and output names of the float64 matmul graph. */
export const MATMUL64_IO = { a: 'A', b: 'B', output: 'Y' } as const

/** Y = op(A)·op(B) in float64, op = transpose where asked (Gemm's transA / transB). */
export function matmul64Graph (transposeA: boolean, transposeB: boolean): GraphSpec {
  const g = new GraphBuilder()
  g.named('Gemm', [MATMUL64_IO.a, MATMUL64_IO.b], MATMUL64_IO.output, { transA: { int: transposeA ? 1 : 0 }, transB: { int: transposeB ? 1 : 0 } })
  return g.build('matmul64', [
    { name: MATMUL64_IO.a, type: 'float64', shape: transposeA ? ['K', 'M'] : ['M', 'K'] },
    { name: MATMUL64_IO.b, type: 'float64', shape: transposeB ? ['N', 'K'] : ['K', 'N'] }
  ], [{ name: MATMUL64_IO.output, type: 'float64', shape: ['M', 'N'] }])
}

/** Input and output names of the polar-iteration step graph. */
export const POLAR_IO = { x: 'X', coefficients: 'coef', output: 'X_next', change: 'change2', scale: 'scale' } as const

/**
 * One odd-polynomial step of the polar iteration, in float64 (src/fit/polar.ts has the why):
 *   X ← a·X + X·(b·G + c·G²),  G = XᵀX          (tall: rows ≥ cols)
 *   X ← a·X + (b·G + c·G²)·X,  G = XXᵀ          (wide), so G is always the smaller Gram.
 * coef = [a, b, c] is an input, so one session serves every step of every fit. With `normalize`,
 * X is first divided by α = ‖G‖_F^{1/2} ≥ σ₁(X) (output `scale`), which bounds the spectrum by 1
 * without a separate call. Outputs the next X and ‖X_next − X‖²_F (the stopping rule).
 */
export function polarStepGraph (wide: boolean, normalize: boolean): GraphSpec {
  const g = new GraphBuilder()
  const x0: string = POLAR_IO.x
  const gram0 = wide ? g.op('Gemm', [x0, x0], { transB: { int: 1 } }) : g.op('Gemm', [x0, x0], { transA: { int: 1 } })
  let x: string = x0
  let gram = gram0
  if (normalize) {
    const gramNorm = g.op('Sqrt', [g.op('ReduceSumSquare', [gram0], { keepdims: { int: 0 } })])
    // A zero matrix keeps scale 1 (the caller never sends one; this only avoids 0/0).
    const safe = g.op('Where', [g.op('Greater', [gramNorm, g.scalar('float64', 0)]), gramNorm, g.scalar('float64', 1)])
    const alpha = g.named('Sqrt', [safe], POLAR_IO.scale)
    x = g.op('Div', [x0, alpha])
    gram = g.op('Div', [gram0, safe])
  }
  const coef = POLAR_IO.coefficients
  const pick = (i: number): string => g.op('Gather', [coef, g.constant('int64', [i], [])], { axis: { int: 0 } })
  const gramSquared = g.op('MatMul', [gram, gram])
  const poly = g.op('Add', [g.op('Mul', [gram, pick(1)]), g.op('Mul', [gramSquared, pick(2)])])
  const product = wide ? g.op('MatMul', [poly, x]) : g.op('MatMul', [x, poly])
  const next = g.named('Add', [g.op('Mul', [x, pick(0)]), product], POLAR_IO.output)
  const diff = g.op('Sub', [next, x])
  g.named('ReduceSumSquare', [diff], POLAR_IO.change, { keepdims: { int: 0 } })
  const outputs: ValueSpec[] = [
    { name: POLAR_IO.output, type: 'float64', shape: ['M', 'N'] },
    { name: POLAR_IO.change, type: 'float64', shape: [] }
  ]
  if (normalize) outputs.push({ name: POLAR_IO.scale, type: 'float64', shape: [] })
  return g.build('polar_step', [
    { name: POLAR_IO.x, type: 'float64', shape: ['M', 'N'] },
    { name: POLAR_IO.coefficients, type: 'float64', shape: [3] }
  ], outputs)
}
