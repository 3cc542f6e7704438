import type { FastifyInstance, FastifyRequest } from 'fastify'
import fp from 'fastify-plugin'
import { Compute, type ComputeOptions, type Timing } from '../compute/compute.js'

declare module 'fastify' {
  interface FastifyInstance {
    /** The compute façade (src/compute/compute.ts): translate, relative and timed engine work. */
    compute: Compute
  }
  interface FastifyRequest {
    /** Where a compute request's time went, in ms: reported as headers and histograms. */
    timing?: Timing
  }
  interface FastifyContextConfig {
    /** The route answers with x-queue-time, x-compute-time and x-total-time. */
    timing?: boolean
  }
}

/** Milliseconds with 3 decimals, as TEI writes its timing headers. */
const ms = (v: number): string => (Math.round(v * 1000) / 1000).toString()

/** The request's timing, created on first use. */
export function timingOf (request: FastifyRequest): Timing {
  return request.timing ?? (request.timing = { queueMs: 0, computeMs: 0 })
}

/**
 * The compute façade as an app service, its metrics, and the timing of compute requests: headers
 * on every response of a timed route (errors included: queue and compute are then 0 or what was
 * spent), and the same figures in the latentbridge_compute_phase_seconds histogram.
 */
async function computePlugin (app: FastifyInstance, opts: ComputeOptions): Promise<void> {
  const compute = new Compute(app.engine, opts, {
    onRun: (op, requests) => {
      app.metrics.batchRuns.inc({ op })
      app.metrics.batchRequests.observe({ op }, requests)
    },
    onRejected: () => { app.metrics.queueRejections.inc() },
    onQueued: rows => { app.metrics.queueRows.inc(rows) },
    onDone: rows => { app.metrics.queueRows.dec(rows) }
  })
  app.metrics.queueCapacity.set(opts.queueRows)
  app.decorate('compute', compute)

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
  app.addHook('onClose', async () => { compute.close() })
}

export default fp(computePlugin, { name: 'compute', dependencies: ['metrics', 'engine'] })
