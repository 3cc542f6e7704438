import type { FastifyInstance, FastifyReply, FastifyRequest, RouteHandlerMethod } from 'fastify'
import fp from 'fastify-plugin'
import { Counter } from 'prom-client'
import { ProblemError } from '../errors.js'
import { WorkCancelled } from '../budget/cancel.js'
import { sendProblem, timeoutProblem } from './problems.js'

declare module 'fastify' {
  interface FastifyRequest {
    /**
     * Aborted when the client leaves before the response is sent, when HANDLER_TIMEOUT_MS passes,
     * and when the app closes. Heavy work checks it between steps. (Fastify's own request.signal
     * is aborted by the request's 'close', which Node emits once a body has been read, so it
     * cannot tell a client that left from one that finished sending.)
     */
    workSignal: AbortSignal
  }
  interface FastifyInstance {
    /** Aborts the work of every request in flight (shutdown deadline). */
    abortWork: (reason: Error) => void
    /** Requests whose handler stopped on their cancellation signal, by reason. */
    workCancelled: Counter<'reason'>
  }
}

export interface DeadlineOptions {
  /** HANDLER_TIMEOUT_MS; 0 turns the timeout off. */
  handlerTimeoutMs: number
}

const kTimedOut = Symbol('timedOut')
const kSettle = Symbol('settle')
type Timed = FastifyRequest & { [kTimedOut]?: boolean, [kSettle]?: () => void }

/** The reason label of an abort reason. */
function reasonOf (reason: unknown): string {
  if (reason instanceof WorkCancelled) return 'client'
  if (reason instanceof ProblemError) return reason.kind === 'timeout' ? 'timeout' : 'shutdown'
  return 'other'
}

/**
 * Whether `error` ends work that was cancelled: its own signal's reason, or whatever failed once
 * the signal was aborted (at shutdown the engine may close under a run before the next check).
 */
export function isCancellation (request: FastifyRequest, error: unknown): boolean {
  const signal = request.workSignal
  return error instanceof WorkCancelled || (signal !== undefined && signal !== null && signal.aborted)
}

/**
 * The service's own per-request cancellation signal and handler timeout (which applies to every
 * request, with a body or without): on timeout the work is aborted and the 503 timeout problem
 * is sent at once, whatever the handler is waiting for.
 */
async function deadline (app: FastifyInstance, opts: DeadlineOptions): Promise<void> {
  const live = new Set<AbortController>()
  const cancelled = new Counter({
    name: 'latentbridge_work_cancelled_total',
    help: 'Requests whose work stopped on cancellation, by reason: client (it left before the answer), timeout (HANDLER_TIMEOUT_MS), shutdown',
    labelNames: ['reason'],
    registers: [app.metrics.registry]
  })
  app.decorate('workCancelled', cancelled)
  app.decorateRequest('workSignal', null as unknown as AbortSignal)
  app.decorate('abortWork', (reason: Error) => {
    for (const controller of live) controller.abort(reason)
  })

  app.addHook('onRequest', async (request: Timed, reply: FastifyReply) => {
    const controller = new AbortController()
    request.workSignal = controller.signal
    live.add(controller)
    let timer: NodeJS.Timeout | undefined
    if (opts.handlerTimeoutMs > 0) {
      timer = setTimeout(() => {
        if (reply.sent || reply.raw.headersSent) return
        request.log.warn({ ms: opts.handlerTimeoutMs }, 'request timed out')
        request[kTimedOut] = true
        const problem = timeoutProblem(opts.handlerTimeoutMs)
        controller.abort(new ProblemError('timeout', problem.detail, { headers: { 'retry-after': '1' } }))
        if (!reply.sent && !reply.raw.headersSent) sendProblem(request, reply, problem, { 'retry-after': '1' })
      }, opts.handlerTimeoutMs)
    }
    request[kSettle] = () => {
      clearTimeout(timer)
      live.delete(controller)
    }
    // The response's 'close' comes when it has been sent, or when the connection went first.
    reply.raw.once('close', () => {
      request[kSettle]?.()
      if (!reply.raw.writableFinished && !controller.signal.aborted) controller.abort(new WorkCancelled('the client closed the connection before the answer was sent'))
    })
  })
  app.addHook('onResponse', async (request: Timed) => { request[kSettle]?.() })

  // A handler that stops on its cancellation after the answer went (timeout) or with nobody to
  // answer (the client left) ends quietly: counted and logged, never a 500.
  app.addHook('onRoute', route => {
    const handler = route.handler as ((this: FastifyInstance, request: FastifyRequest, reply: FastifyReply) => unknown) | undefined
    if (typeof handler !== 'function') return
    route.handler = async function (this: FastifyInstance, request: Timed, reply: FastifyReply) {
      try {
        const result = await handler.call(this, request, reply)
        // The timeout answered already: what the handler made after it goes nowhere.
        return request[kTimedOut] === true ? undefined : result
      } catch (error) {
        if (!isCancellation(request, error)) throw error
        const reason = reasonOf(request.workSignal.reason)
        cancelled.inc({ reason })
        request.log.info({ reason, ...(error !== request.workSignal.reason ? { err: error } : {}) }, 'request work cancelled')
        if (reply.sent || reply.raw.headersSent || reply.raw.destroyed) return undefined
        // Someone is still there to answer (shutdown, app close): the abort's own problem.
        throw request.workSignal.reason ?? error
      }
    } as RouteHandlerMethod
  })

  app.addHook('onClose', async () => {
    app.abortWork(new ProblemError('unavailable', 'the server is shutting down; retry on another instance, or later', { headers: { 'retry-after': '1' } }))
  })
}

export default fp(deadline, { name: 'deadline', dependencies: ['metrics'] })
