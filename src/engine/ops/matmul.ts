/** A float32 product a·b (or a·bᵀ), chunked by rows of a; b is shared by the chunks. */
import type { GraphSpec } from '../onnx.js'
import { GraphBuilder, matmul, type Float } from '../graph-builder.js'
import type { ElemType } from '../onnx.js'
import { graphOp, matrixOut, tensor, type MatrixData, type SharedOperand } from './op.js'

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

export interface MatmulTask { kind: 'matmul', transposeB: boolean, a: MatrixData, b: SharedOperand }
export interface MatmulTaskResult { kind: 'matmul', y: MatrixData }

export const matmulOp = graphOp<'matmul', MatmulTask, MatmulTaskResult>({
  kind: 'matmul',
  method: { name: 'matmul', rows: args => args[0]?.rows },
  key: task => `matmul:t${task.transposeB ? 1 : 0}`,
  graph: task => matmulGraph(task.transposeB),
  feeds: ({ a, b }, operand) => ({
    [MATMUL_IO.a]: tensor(a.data, [a.rows, a.cols]),
    [MATMUL_IO.b]: tensor(operand(b), [b.rows, b.cols])
  }),
  result: out => ({ kind: 'matmul', y: matrixOut(out[MATMUL_IO.output]) }),
  outputs: result => [result.y.data],
  input: task => task.a.data
})
