import underPressure from '@fastify/under-pressure'
import type { FastifyInstance, FastifyRequest } from 'fastify'
import fp from 'fastify-plugin'
import { ProblemError } from '../errors.js'

export interface PressureOptions {
  /** Mean event-loop delay (ms) over a sample interval above which /v1 requests are refused; 0 = off. */
  maxEventLoopDelayMs: number
  /** V8 heap in use (bytes) above which /v1 requests are refused; 0 = off. */
  maxHeapUsedBytes: number
  /** Resident set size (bytes) above which /v1 requests are refused; 0 = off. */
  maxRssBytes: number
  sampleIntervalMs: number
  retryAfterSeconds: number
}

const MiB = 1024 * 1024

/**
 * Load shedding with @fastify/under-pressure: while the event loop lags or memory is over its
 * limit, /v1 requests get a 503 problem with Retry-After at once, before their bodies are read,
 * instead of queueing behind the work that caused it. The operational routes (/healthz, /readyz,
 * /metrics, /docs) are never refused, so probes and scrapes still see the process.
 */
async function pressure (app: FastifyInstance, opts: PressureOptions): Promise<void> {
  const limits: Record<string, { setting: string, value: number, show: (v: number) => string }> = {
    // under-pressure reports Infinity when the loop was blocked through a whole sample (no delay
    // measured at all): say so instead of printing "Infinity ms".
    eventLoopDelay: { setting: 'MAX_EVENT_LOOP_DELAY_MS', value: opts.maxEventLoopDelayMs, show: v => Number.isFinite(v) ? `${Math.round(v)} ms` : 'beyond measure (the loop was blocked through a whole sample)' },
    heapUsedBytes: { setting: 'MAX_HEAP_USED_BYTES', value: opts.maxHeapUsedBytes, show: v => `${(v / MiB).toFixed(1)} MiB` },
    rssBytes: { setting: 'MAX_RSS_BYTES', value: opts.maxRssBytes, show: v => `${(v / MiB).toFixed(1)} MiB` }
  }
  const retryAfter = String(opts.retryAfterSeconds)
  await app.register(underPressure, {
    maxEventLoopDelay: opts.maxEventLoopDelayMs,
    maxHeapUsedBytes: opts.maxHeapUsedBytes,
    maxRssBytes: opts.maxRssBytes,
    sampleInterval: opts.sampleIntervalMs,
    retryAfter: opts.retryAfterSeconds,
    // A rejected promise becomes the request's error (rendered as a problem by problems.ts);
    // a resolved one lets the request through.
    pressureHandler: async (request: FastifyRequest, _reply: unknown, type: string, value: number | undefined) => {
      // Decided on the route that matched, as access is: operational routes and the docs
      // (scope none) stay answered, whatever the URL's spelling.
      if (request.is404 || request.routeOptions.config?.scope === 'none') return
      const limit = limits[type]
      app.metrics.shed.inc({ reason: type })
      const measured = limit !== undefined && value !== undefined
        ? `${type} is ${limit.show(value)}, over the limit of ${limit.show(limit.value)} (${limit.setting})`
        : `${type} is over its limit`
      throw new ProblemError('overloaded', `the server is overloaded and refuses new work for now: ${measured}. Retry after ${retryAfter} s, or send smaller batches.`, {
        headers: { 'retry-after': retryAfter }
      })
    }
  })
}

export default fp(pressure, { name: 'pressure' })
