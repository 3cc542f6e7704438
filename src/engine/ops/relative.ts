/**
 * Relative projection: each row against the anchors, in the projections asked for, with the
 * optional top-k / power / normalisation tail.
 */
import type { GraphSpec, ValueSpec } from '../onnx.js'
import type { Projection, RelativeOptions } from '../types.js'
import {
  GraphBuilder, type Float, angularDistance, centerBy, columnMean, concatBlocks, cosineSimilarity, dotSimilarity,
  euclideanDistance, l1Distance, linfDistance, nonZeroRowMask, normalizeBlock, rowL2Normalize, rowNorms, topKPower
} from '../graph-builder.js'
import { graphOp, matrixOut, tensor, type MatrixData, type SharedOperand } from './op.js'

/** The graph-shaping part of RelativeOptions, with defaults applied. */
export interface RelativeParams {
  projections: Projection[]
  center: boolean
  topK?: number
  power: number
  normalize: RelativeOptions['normalize']
}

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

export interface RelativeTask { kind: 'relative', params: RelativeParams, anchors: SharedOperand, x: MatrixData }
export interface RelativeTaskResult { kind: 'relative', y: MatrixData, rowNorms: Float32Array }

export const relativeOp = graphOp<'relative', RelativeTask, RelativeTaskResult>({
  kind: 'relative',
  method: { name: 'relative', rows: args => args[0]?.rows },
  key: task => relativeKey(task.params),
  graph: task => relativeGraph(task.params),
  feeds: ({ x, anchors }, operand) => ({
    [RELATIVE_IO.x]: tensor(x.data, [x.rows, x.cols]),
    [RELATIVE_IO.anchors]: tensor(operand(anchors), [anchors.rows, anchors.cols])
  }),
  result: out => ({ kind: 'relative', y: matrixOut(out[RELATIVE_IO.output]), rowNorms: out[RELATIVE_IO.rowNorms].data }),
  outputs: result => [result.y.data, result.rowNorms],
  input: task => task.x.data
})
