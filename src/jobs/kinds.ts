import type { FitRequest, PipelineDeps } from '../translators/pipeline.js'
import { prepareFit } from '../translators/pipeline.js'
import { prepareEvaluate, type EvaluateRequest } from '../translators/evaluate.js'
import type { PreparedJob } from './types.js'
import { decodeMatrixField, type Base64Matrix } from '../codecs/vectors.js'
import { prepareReport, type ReportDeps } from '../analysis/report-run.js'

/** What a job's work needs from the app: the fit pipeline's dependencies and the translator cache. */
export type JobDeps = PipelineDeps & Pick<ReportDeps, 'translators'>

/** A report's job input: its request with the matrices as JSON. */
export interface ReportJobInput {
  translator: string
  vectors: Base64Matrix
  targetVectors: Base64Matrix
  reverse?: boolean
}

/**
 * The kinds of job: each turns a job's JSON input into its plan and work, given the app's
 * dependencies and the operation id (which names what the work stores, so that a job run twice
 * stores once). Registering a kind is one entry here.
 */
export type JobKind = (input: unknown, deps: JobDeps, operationId: string) => Promise<PreparedJob>

export const JOB_KINDS: Record<string, JobKind> = {
  fit: async (input, deps, id) => {
    const request = input as FitRequest
    const prepared = await prepareFit(deps, request, { translatorId: id })
    return { plan: prepared.plan, phases: fitPhases(request), run: prepared.run }
  },
  evaluate: async (input, deps) => {
    const prepared = await prepareEvaluate(deps, input as EvaluateRequest)
    return {
      plan: prepared.plan,
      phases: ['evaluation'],
      run: async (signal, progress) => {
        progress({ phase: 'evaluation', done: 0, total: 1 })
        const result = await prepared.run(signal)
        progress({ phase: 'evaluation', done: 1, total: 1 })
        return result
      }
    }
  },
  report: async (input, deps) => {
    const request = input as ReportJobInput
    const prepared = await prepareReport(deps, {
      translator: request.translator,
      vectors: decodeMatrixField(request.vectors, { field: 'vectors' }),
      targetVectors: decodeMatrixField(request.targetVectors, { field: 'targetVectors' }),
      reverse: request.reverse
    })
    return { plan: prepared.plan, phases: ['report'], run: prepared.run }
  }
}

/** The phases a fit reports, in order: the selection's folds, refinement rounds, confidence. */
export function fitPhases (request: FitRequest): string[] {
  // auto, a ridge strength to search, or a scaling left open (which the default cross-validates).
  const selects = request.method === 'auto' || request.scaling === undefined || ((request.method === 'ridge' || request.method === 'inverse-relative') && request.ridge === undefined)
  return [...(selects ? ['cross-validation'] : []), ...(request.refine !== undefined ? ['refinement'] : []), 'confidence']
}
