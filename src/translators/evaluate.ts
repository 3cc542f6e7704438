/**
 * Scoring a translator on pairs of source and true target rows: retrieval among the target rows
 * (cosine, or CSLS) and linear CKA. The evaluate route runs it in the request; as an operation,
 * `prepareEvaluate` loads the translator from the store and runs it in a job.
 */
import { linearCka, retrievalScores } from '../analysis/similarity.js'
import { cancellable } from '../budget/cancel.js'
import { decodeMatrixField, type Base64Matrix } from '../codecs/vectors.js'
import { evaluatePlan, type WorkPlan } from '../budget/work.js'
import type { Engine } from '../engine/types.js'
import { notFound } from '../errors.js'
import type { Matrix } from '../math/matrix.js'
import type { Store } from '../store/types.js'
import type { LinearMap } from './map.js'
import { storedToMap } from './record.js'

export interface EvaluateOptions {
  k: number
  retrieval: 'cosine' | 'csls'
  cslsK: number
}

export interface Evaluation {
  count: number
  meanCosine: number
  mse: number
  top1: number
  topK: number
  mrr: number
  jaccard: number
  cka: number
  retrieval: 'cosine' | 'csls'
  cslsK?: number
}

export async function evaluate (engine: Engine, x: Matrix, y: Matrix, map: LinearMap, id: string, opts: EvaluateOptions): Promise<Evaluation> {
  const translated = await engine.translate(x, map, id)
  const csls = opts.retrieval === 'csls'
  const [scores, cka] = await Promise.all([
    retrievalScores(translated, y, opts.k, engine, csls ? { cslsK: opts.cslsK } : {}),
    linearCka(translated, y, engine)
  ])
  return {
    count: x.rows, meanCosine: scores.meanCosine, mse: scores.mse, top1: scores.top1, topK: scores.topK, mrr: scores.mrr, jaccard: scores.jaccard, cka,
    retrieval: opts.retrieval, ...(csls ? { cslsK: opts.cslsK } : {})
  }
}

/** An evaluation as an operation's input (checked by the route before it was enqueued). */
export interface EvaluateRequest extends EvaluateOptions {
  translator: string
  /** Base64 float32 (codecs/vectors.ts), as a JSON body may carry it. */
  x: Base64Matrix
  y: Base64Matrix
}

export async function prepareEvaluate (deps: { store: Store, engine: Engine }, request: EvaluateRequest): Promise<{ plan: WorkPlan, run: (signal: AbortSignal) => Promise<Evaluation> }> {
  const record = await deps.store.getTranslator(request.translator)
  if (record === null) throw notFound(`translator "${request.translator}" does not exist (it was deleted after the evaluation was asked for)`)
  const x = decodeMatrixField(request.x, { field: 'vectors' })
  const y = decodeMatrixField(request.y, { field: 'targetVectors' })
  const map = storedToMap(record)
  return {
    plan: evaluatePlan(x.rows, record.meta.sourceDim, record.meta.targetDim, request.k, request.retrieval === 'csls'),
    run: async signal => await evaluate(cancellable(deps.engine, signal), x, y, map, record.meta.id, request)
  }
}
