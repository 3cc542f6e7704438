import { z } from 'zod'
import { NextCursor, PageQuery } from '../http/page.js'
import { Problem } from './common.js'
import { EvaluateResult, Translator } from './translators.js'
import { ReportResult } from './report.js'

/** Operations: long work run as jobs (docs/operations.md, "Operations"). */

/** The longest `?wait=` a GET of an operation holds the request for, seconds. */
export const MAX_WAIT_SECONDS = 60

export const OperationStatus = z.enum(['queued', 'running', 'succeeded', 'failed', 'cancelled'])

export const OperationProgress = z.object({
  phase: z.string().describe('What the work is doing: "cross-validation" (candidates × folds), "refinement" (rounds), "confidence"'),
  done: z.number().int().min(0).describe('Steps of this phase done'),
  total: z.number().int().min(0).describe('Steps this phase has'),
  fraction: z.number().min(0).max(1).describe('Of the whole work, 0 to 1; never decreases, retries included')
}).meta({ id: 'OperationProgress' })

export const Operation = z.object({
  id: z.string().describe('The operation id; a fit stores its translator under this same id'),
  kind: z.string().describe('"fit" (POST /v1/translators), "evaluate" (POST /v1/translators/{id}/evaluate) or "report" (POST /v1/translators/{id}/report)'),
  status: OperationStatus,
  progress: OperationProgress.nullable().describe('null until the work reports its first step'),
  result: z.union([Translator, EvaluateResult, ReportResult]).optional().describe('When succeeded: what the synchronous request answers (the translator, the evaluation, or the report as JSON)'),
  error: Problem.optional().describe('When failed or cancelled: the problem'),
  attempts: z.number().int().min(0).describe('Runs started: more than 1 after a retry or after the replica running it died'),
  createdAt: z.string(),
  startedAt: z.string().nullable(),
  finishedAt: z.string().nullable()
}).meta({ id: 'Operation' })

export const OperationParams = z.object({
  id: z.string().min(1).max(200).describe('Operation id, from the Location of the 202 answer')
})

export const OperationQuery = z.object({
  wait: z.coerce.number().int().min(0).max(MAX_WAIT_SECONDS, `wait at most ${MAX_WAIT_SECONDS} seconds`).optional()
    .describe(`Long poll: hold the request until the operation ends or this many seconds pass (0 to ${MAX_WAIT_SECONDS}), then answer with it as it is`)
})

export const OperationListQuery = PageQuery.extend({
  status: OperationStatus.optional(),
  kind: z.string().max(64).optional()
})

export const OperationList = z.object({
  operations: z.array(Operation),
  next: NextCursor
}).meta({ id: 'OperationList' })

export const AsyncHeaders = z.looseObject({
  prefer: z.string().optional().describe('respond-async: answer 202 with the operation at once instead of waiting for the work (RFC 7240)'),
  'idempotency-key': z.string().min(1).max(255).optional().describe('A key of your choosing: the same key with the same body within IDEMPOTENCY_TTL_S answers the same operation or result, never a second one; with another body, 422')
})
