/**
 * The readiness probe: a tiny graph run end to end and checked. The same op serves the engine's
 * probe() and the provider resolution (runtime.ts), which runs it on a fresh session per provider.
 */
import type { GraphSpec } from '../onnx.js'
import { graphOp, tensor } from './op.js'
import { matmulGraph, MATMUL_IO } from './matmul.js'
import type ort from 'onnxruntime-node'

/** A tiny graph for the readiness probe: Y = X·Xᵀ on [2, 2]. */
export function probeGraph (): GraphSpec {
  return matmulGraph(true)
}

export function probeFeeds (): Record<string, ort.Tensor> {
  const one = Float32Array.from([1, 2, 3, 4])
  return { [MATMUL_IO.a]: tensor(one, [2, 2]), [MATMUL_IO.b]: tensor(one, [2, 2]) }
}

/** Throws unless the probe graph computed [1, 2; 3, 4]·[1, 2; 3, 4]ᵀ. */
export function checkProbe (outputs: Record<string, { data: ArrayLike<unknown> }>): void {
  const y = outputs[MATMUL_IO.output].data
  if (y[0] !== 5 || y[3] !== 25) throw new Error(`probe graph computed [${Array.from(y).join(', ')}], expected [5, 11, 11, 25]`)
}

export interface ProbeTask { kind: 'probe' }
export interface ProbeTaskResult { kind: 'probe' }

export const probeOp = graphOp<'probe', ProbeTask, ProbeTaskResult>({
  kind: 'probe',
  method: { name: 'probe', rows: () => undefined },
  key: () => 'probe',
  graph: probeGraph,
  feeds: probeFeeds,
  result: out => {
    checkProbe(out)
    return { kind: 'probe' }
  },
  outputs: () => []
})
