import type { FastifyInstance, FastifyRequest } from 'fastify'
import fp from 'fastify-plugin'
import { MicroBatcher, type BatchOutcome } from '../batching/batcher.js'
import { RowPermits } from '../batching/permits.js'
import { ProblemError } from '../errors.js'
import type { Matrix } from '../math/matrix.js'

declare module 'fastify' {
  interface FastifyInstance {
    /**
     * Runs a compute request's rows under the row permits, coalesced with other requests of the
     * same key (src/batching/batcher.ts); 429 at once when too few permits are free.
     */
    runBatched: <R>(request: FastifyRequest, key: string, x: Matrix, run: (x: Matrix) => Promise<R>) => Promise<BatchOutcome<R>>
    /** Runs engine work that is not batched (evaluate, similarity), timed as compute time. */
    runTimed: <R>(request: FastifyRequest, work: () => Promise<R>) => Promise<R>
    batcher: MicroBatcher
    rowPermits: RowPermits
  }
  interface FastifyRequest {
    /** Where a compute request's time went, in ms: reported as headers and histograms. */
    timing?: { queueMs: number, computeMs: number }
  }
  interface FastifyContextConfig {
    /** The route answers with x-queue-time, x-compute-time and x-total-time. */
    timing?: boolean
  }
}

export interface BatchingOptions {
  windowMs: number
  maxRows: number
  queueRows: number
  retryAfterSeconds: number
}

/** Milliseconds with 3 decimals, as TEI writes its timing headers. */
const ms = (v: number): string => (Math.round(v * 1000) / 1000).toString()

/**
 * Micro-batching, the row permits that bound it, and the timing of compute requests: headers on
 * every response of a timed route (errors included: queue and compute are then 0 or what was
 * spent), and the same figures in the latentbridge_compute_phase_seconds histogram.
 */
async function batching (app: FastifyInstance, opts: BatchingOptions): Promise<void> {
  const permits = new RowPermits(opts.queueRows)
  const batcher = new MicroBatcher({
    windowMs: opts.windowMs,
    maxRows: opts.maxRows,
    onRun: run => {
      const op = run.key.slice(0, run.key.indexOf(':'))
      app.metrics.batchRuns.inc({ op })
      app.metrics.batchRequests.observe({ op }, run.requests)
    }
  })
  const retryAfter = String(opts.retryAfterSeconds)
  app.metrics.queueCapacity.set(opts.queueRows)

  const add = (request: FastifyRequest, queueMs: number, computeMs: number): void => {
    const t = request.timing ?? (request.timing = { queueMs: 0, computeMs: 0 })
    t.queueMs += queueMs
    t.computeMs += computeMs
  }

  app.decorate('batcher', batcher)
  app.decorate('rowPermits', permits)
  app.decorate('runBatched', async <R>(request: FastifyRequest, key: string, x: Matrix, run: (x: Matrix) => Promise<R>): Promise<BatchOutcome<R>> => {
    const release = permits.tryAcquire(x.rows)
    if (release === undefined) {
      app.metrics.queueRejections.inc()
      const detail = x.rows > permits.capacity
        ? `this request has ${x.rows} rows, more than the whole compute queue holds (${permits.capacity} rows, QUEUE_MAX_ROWS); send at most ${permits.capacity} rows per request.`
        : `the compute queue is full: ${permits.inUse} of its ${permits.capacity} rows (QUEUE_MAX_ROWS) are in flight and this request needs ${x.rows}. Retry after ${retryAfter} s, or send fewer rows at once.`
      throw new ProblemError('queue-full', detail, { headers: { 'retry-after': retryAfter } })
    }
    app.metrics.queueRows.inc(x.rows)
    try {
      const outcome = await batcher.submit(key, x, run)
      add(request, outcome.queueMs, outcome.computeMs)
      return outcome
    } finally {
      release()
      app.metrics.queueRows.dec(x.rows)
    }
  })
  app.decorate('runTimed', async <R>(request: FastifyRequest, work: () => Promise<R>): Promise<R> => {
    const started = performance.now()
    try {
      return await work()
    } finally {
      add(request, 0, performance.now() - started)
    }
  })

  app.addHook('onSend', async (request, reply, payload) => {
    if (request.routeOptions.config?.timing !== true) return payload
    const queueMs = request.timing?.queueMs ?? 0
    const computeMs = request.timing?.computeMs ?? 0
    const totalMs = reply.elapsedTime
    void reply.header('x-queue-time', ms(queueMs)).header('x-compute-time', ms(computeMs)).header('x-total-time', ms(totalMs))
    const route = request.routeOptions.url ?? 'unknown'
    app.metrics.computePhase.observe({ route, phase: 'queue' }, queueMs / 1000)
    app.metrics.computePhase.observe({ route, phase: 'compute' }, computeMs / 1000)
    app.metrics.computePhase.observe({ route, phase: 'total' }, totalMs / 1000)
    return payload
  })
  app.addHook('onClose', async () => { batcher.flushAll() })
}

export default fp(batching, { name: 'batching', dependencies: ['metrics'] })
