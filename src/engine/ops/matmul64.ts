/** A float64 product op(a)·op(b) for fitting, one graph run on whole operands. */
import type { GraphSpec } from '../onnx.js'
import { GraphBuilder } from '../graph-builder.js'
import { graphOp, matrix64Out, tensor64, type Matrix64Data } from './op.js'

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

export interface Matmul64Task { kind: 'matmul64', transposeA: boolean, transposeB: boolean, a: Matrix64Data, b: Matrix64Data }
export interface Matmul64TaskResult { kind: 'matmul64', y: Matrix64Data }

export const matmul64Op = graphOp<'matmul64', Matmul64Task, Matmul64TaskResult>({
  kind: 'matmul64',
  // aᵀ · b has a.cols rows.
  method: { name: 'matmul64', rows: args => args[2]?.transposeA === true ? args[0]?.cols : args[0]?.rows },
  key: task => `matmul64:${task.transposeA ? 1 : 0}${task.transposeB ? 1 : 0}`,
  graph: task => matmul64Graph(task.transposeA, task.transposeB),
  feeds: ({ a, b }) => ({ [MATMUL64_IO.a]: tensor64(a), [MATMUL64_IO.b]: tensor64(b) }),
  result: out => ({ kind: 'matmul64', y: matrix64Out(out[MATMUL64_IO.output]) }),
  outputs: result => [result.y.data]
})
