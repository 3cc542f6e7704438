import type { FitRequest, PipelineDeps } from '../translators/pipeline.js'
import { prepareFit } from '../translators/pipeline.js'
import { prepareEvaluate, type EvaluateRequest } from '../translators/evaluate.js'
import type { PreparedJob } from './types.js'

/**
 * The kinds of job: each turns a job's JSON input into its plan and work, given the app's
 * dependencies and the operation id (which names what the work stores, so that a job run twice
 * stores once). Registering a kind is one entry here.
 */
export type JobKind = (input: unknown, deps: PipelineDeps, operationId: string) => Promise<PreparedJob>

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
  }
}

/** The phases a fit reports, in order: the selection's folds, refinement rounds, confidence. */
export function fitPhases (request: FitRequest): string[] {
  const selects = request.method === 'auto' || ((request.method === 'ridge' || request.method === 'inverse-relative') && request.ridge === undefined)
  return [...(selects ? ['cross-validation'] : []), ...(request.refine !== undefined ? ['refinement'] : []), 'confidence']
}
