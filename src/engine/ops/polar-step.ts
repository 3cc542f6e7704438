/** One step of the polar iteration (src/fit/polar.ts), in float64, as one graph run. */
import ort from 'onnxruntime-node'
import type { GraphSpec, ValueSpec } from '../onnx.js'
import { GraphBuilder } from '../graph-builder.js'
import { graphOp, matrix64Out, tensor64, type Matrix64Data } from './op.js'

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

export interface PolarStepTask { kind: 'polar-step', x: Matrix64Data, coefficients: Float64Array, normalize: boolean }
export interface PolarStepTaskResult { kind: 'polar-step', x: Matrix64Data, change: number, scale: number }

const wide = (task: PolarStepTask): boolean => task.x.rows < task.x.cols

export const polarStepOp = graphOp<'polar-step', PolarStepTask, PolarStepTaskResult>({
  kind: 'polar-step',
  method: { name: 'polarStep', rows: args => args[0]?.rows },
  key: task => `polar:${wide(task) ? 'wide' : 'tall'}:${task.normalize ? 'n' : '-'}`,
  graph: task => polarStepGraph(wide(task), task.normalize),
  feeds: ({ x, coefficients }) => ({
    [POLAR_IO.x]: tensor64(x),
    [POLAR_IO.coefficients]: new ort.Tensor('float64', coefficients, [3])
  }),
  result: (out, task) => ({
    kind: 'polar-step',
    x: matrix64Out(out[POLAR_IO.output]),
    change: Math.sqrt((out[POLAR_IO.change].data as unknown as Float64Array)[0]),
    scale: task.normalize ? (out[POLAR_IO.scale].data as unknown as Float64Array)[0] : 1
  }),
  outputs: result => [result.x.data]
})
