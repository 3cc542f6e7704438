import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod'
import type { FastifyReply, FastifyRequest } from 'fastify'
import type { z } from 'zod'
import { notFound } from '../../errors.js'
import { pageOf } from '../../http/page.js'
import type { WorkPlan } from '../../budget/work.js'
import type { Operation as OperationRecord } from '../../jobs/types.js'
import { prefersAsync } from '../../services/operations.js'
import { problemResponses } from '../../schemas/common.js'
import { Operation, OperationList, OperationListQuery, OperationParams, OperationQuery } from '../../schemas/operations.js'
import type { TranslatorListing } from '../../store/types.js'
import { translatorOut } from './translator-out.js'

/** The operation as clients see it: a fit's result is the translator as POST /v1/translators answers it. */
export function operationOut (op: OperationRecord): z.infer<typeof Operation> {
  const { result: stored, ...rest } = op
  const result = stored === undefined ? undefined : op.kind === 'fit' ? translatorOut(stored as TranslatorListing) : stored
  return { ...rest, ...(result !== undefined ? { result: result as z.infer<typeof Operation>['result'] } : {}) }
}

export interface AsyncChoice {
  /** The plan of the work (its estimate decides, past ASYNC_AFTER_MS, that it runs as an operation). */
  plan: WorkPlan
  kind: string
  input: unknown
}

/**
 * Whether a creating POST runs as an operation: asked for (Prefer: respond-async), too long for a
 * request (estimate over ASYNC_AFTER_MS), or idempotent (Idempotency-Key: the operation is what the
 * key finds again).
 */
export function runsAsOperation (request: FastifyRequest, plan: WorkPlan): boolean {
  const app = request.server
  return prefersAsync(request.headers.prefer) || request.headers['idempotency-key'] !== undefined ||
    app.operations.estimateMs(plan) > app.operations.asyncAfterMs
}

/**
 * Starts (or finds, by Idempotency-Key) the operation and answers: 202 with Location and the
 * operation when the client asked for it or the work is long; otherwise waits for it within the
 * request and answers as the synchronous route does (`onResult`), or 202 if it is still running
 * when the request's time is up.
 */
export async function answerWithOperation (request: FastifyRequest, reply: FastifyReply, choice: AsyncChoice,
  onResult: (result: unknown) => FastifyReply): Promise<FastifyReply> {
  const app = request.server
  const service = app.operations
  service.checkMemory(choice.plan)
  const preferred = prefersAsync(request.headers.prefer)
  const key = request.headers['idempotency-key']
  const { operation } = await service.start(choice.kind, choice.input, {
    idempotencyKey: typeof key === 'string' ? key : undefined,
    route: request.routeOptions.url ?? request.url,
    body: { params: request.params, body: request.body }
  })
  let current = operation
  if (!preferred && service.estimateMs(choice.plan) <= service.asyncAfterMs) {
    current = await service.queue.wait(operation.id, service.syncWaitMs, request.workSignal) ?? operation
    if (current.status === 'succeeded') return onResult(current.result)
    if ((current.status === 'failed' || current.status === 'cancelled') && current.error !== undefined) throw service.problemOf(current.error)
  }
  reply.code(202).header('location', `/v1/operations/${encodeURIComponent(current.id)}`)
  if (preferred) reply.header('preference-applied', 'respond-async')
  return reply.send(operationOut(current))
}

const operations: FastifyPluginAsyncZod = async (app) => {
  app.get('/v1/operations/:id', {
    config: { scope: 'read' },
    schema: {
      tags: ['operations'],
      summary: 'Get an operation (long poll with ?wait=SECONDS)',
      operationId: 'getOperation',
      description: 'Status, progress, and the result or the problem once finished. With `wait`, the answer is held until the operation ends or that many seconds pass (at most 60): poll in a loop with wait=30 rather than rapidly without it.',
      params: OperationParams,
      querystring: OperationQuery,
      response: { 200: Operation, ...problemResponses(400, 401, 404) }
    }
  }, async (request) => {
    const { id } = request.params
    const wait = request.query.wait ?? 0
    const op = wait > 0 ? await app.operations.queue.wait(id, wait * 1000, request.workSignal) : await app.operations.queue.get(id)
    if (op === null) throw notFound(`operation "${id}" does not exist (operations are kept OPERATION_TTL_S after they finish)`)
    return operationOut(op)
  })

  app.get('/v1/operations', {
    config: { scope: 'read' },
    schema: {
      tags: ['operations'],
      summary: 'List operations, optionally by status and kind',
      operationId: 'listOperations',
      description: 'Oldest first among the most recent 1,000 of each state, a page at a time: follow `next` until it is null.',
      querystring: OperationListQuery,
      response: { 200: OperationList, ...problemResponses(400, 401) }
    }
  }, async (request) => {
    const { status, kind } = request.query
    const all = (await app.operations.queue.list({ status, kind }, 1000)).reverse()
    const page = pageOf(all, op => [op.createdAt, op.id], ['string', 'string'], request.query)
    return { operations: page.items.map(operationOut), next: page.next }
  })

  app.post('/v1/operations/:id/cancel', {
    config: { scope: 'write' },
    schema: {
      tags: ['operations'],
      summary: 'Cancel an operation',
      operationId: 'cancelOperation',
      description: 'A queued operation is cancelled at once; a running one stops at its next step (status "cancelled" once it has) and stores nothing. A finished operation is answered as it is.',
      params: OperationParams,
      response: { 200: Operation, ...problemResponses(400, 401, 403, 404) }
    }
  }, async (request) => {
    const op = await app.operations.queue.cancel(request.params.id)
    if (op === null) throw notFound(`operation "${request.params.id}" does not exist`)
    return operationOut(op)
  })
}

export default operations
