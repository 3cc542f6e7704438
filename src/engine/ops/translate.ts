/**
 * A translator's map as one graph (the bytes GET /v1/translators/{id}/onnx serves), run from the
 * translator sessions: a worker builds the key's session once, from the map the task carries.
 */
import type { GraphSpec } from '../onnx.js'
import { encodeModel } from '../onnx.js'
import type { TranslatorMapSpec } from '../types.js'
import { GraphBuilder, rowDivideByNorm } from '../graph-builder.js'
import { tensor, type EngineOp, type MatrixData } from './op.js'

/** Input and output names of the translator graph (the /onnx export keeps them). */
export const TRANSLATOR_IO = { x: 'x', output: 'y' } as const

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

/** `map` travels only when the engine believes this worker lacks the key's session. */
export interface TranslateTask { kind: 'translate', key: string, x: MatrixData, map?: TranslatorMapSpec }
/** No `y`: the worker has no session for the key and the task carried no map; send it again with one. */
export interface TranslateTaskResult { kind: 'translate', y?: MatrixData }

export const translateOp: EngineOp<'translate', TranslateTask, TranslateTaskResult> = {
  kind: 'translate',
  method: { name: 'translate', rows: args => args[0]?.rows },
  async run ({ key, map, x }, context) {
    const y = await context.translators.withSession(key, map === undefined ? undefined : () => translatorModel(map), async session => {
      const out = await session.run({ [TRANSLATOR_IO.x]: tensor(x.data, [x.rows, x.cols]) })
      const result = out[TRANSLATOR_IO.output]
      return { rows: Number(result.dims[0]), cols: Number(result.dims[1]), data: result.data as Float32Array }
    })
    return y === undefined ? { kind: 'translate' } : { kind: 'translate', y }
  },
  outputs: result => result.y === undefined ? [] : [result.y.data],
  input: task => task.x.data
}
