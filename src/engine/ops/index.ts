/** Every engine op, by task kind: the one list the handler, the transfers and the metrics read. */
import type { EngineOp } from './op.js'
import { relativeOp } from './relative.js'
import { matmulOp } from './matmul.js'
import { matmul64Op } from './matmul64.js'
import { polarStepOp } from './polar-step.js'
import { translateOp } from './translate.js'
import { probeOp } from './probe.js'

export const OPS = {
  relative: relativeOp,
  matmul: matmulOp,
  matmul64: matmul64Op,
  'polar-step': polarStepOp,
  translate: translateOp,
  probe: probeOp
} as const

type Ops = typeof OPS
export type OpKind = keyof Ops
export type OpTask = { [K in OpKind]: Ops[K] extends EngineOp<any, infer T, any> ? T : never }[OpKind]
export type OpResult = { [K in OpKind]: Ops[K] extends EngineOp<any, any, infer R> ? R : never }[OpKind]

export function isOpKind (kind: string): kind is OpKind {
  return Object.hasOwn(OPS, kind)
}

/** The op of a kind, typed for generic use (the registry's entries differ in task and result). */
export function opOf (kind: OpKind): EngineOp<OpKind, OpTask, OpResult> {
  return OPS[kind] as unknown as EngineOp<OpKind, OpTask, OpResult>
}
