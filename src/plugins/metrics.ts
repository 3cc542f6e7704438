import type { FastifyInstance } from 'fastify'
import fp from 'fastify-plugin'
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client'
import type { Store } from '../store/types.js'

declare module 'fastify' {
  interface FastifyInstance {
    metrics: Metrics
  }
  interface FastifyRequest {
    /** Matrix rows this request carried or produced; logged and counted. */
    rows?: number
  }
}

export interface Metrics {
  registry: Registry
  requestDuration: Histogram<'method' | 'route' | 'status'>
  rowsProcessed: Counter<'route'>
  executionProvider: Gauge<'provider'>
  /** Wall time of each engine call (queueing in the worker pool included), by operation. */
  engineDuration: Histogram<'op' | 'outcome'>
  /** Rows of the input matrix of each engine call, by operation. */
  engineBatchRows: Histogram<'op'>
  /** Engine calls started and not finished yet: queued for a worker or running. */
  engineInFlight: Gauge<'op'>
  /** Store calls that failed (the backing store did not answer, or answered with an error). */
  storeErrors: Counter<'op'>
  /** Requests refused by the overload guard, by the measure that was over its limit. */
  shed: Counter<'reason'>
  /** Engine runs made by the micro-batcher, by operation: fewer than requests when it coalesces. */
  batchRuns: Counter<'op'>
  /** Requests joined in each micro-batched engine run, by operation. */
  batchRequests: Histogram<'op'>
  /** Rows holding compute-queue permits now, and how many permits there are (QUEUE_MAX_ROWS). */
  queueRows: Gauge
  queueCapacity: Gauge
  /** Compute requests answered 429 because the compute queue had too few free row permits. */
  queueRejections: Counter
  /** Per compute request: time queued for a batch, computing, and in total (the x-*-time headers). */
  computePhase: Histogram<'route' | 'phase'>
}

/** Powers of two from 1 to 2^20 rows: batch sizes span single vectors to whole anchor sets. */
const ROW_BUCKETS = Array.from({ length: 21 }, (_, i) => 2 ** i)

/**
 * Prometheus metrics in a registry of the app's own (several apps may live in one test process),
 * and one log line per request with its id, route, status, duration and row count: never vectors.
 */
async function metricsPlugin (app: FastifyInstance, opts: { version: string }): Promise<void> {
  const registry = new Registry()
  collectDefaultMetrics({ register: registry, prefix: 'latentbridge_' })
  const registers = [registry]
  const metrics: Metrics = {
    registry,
    requestDuration: new Histogram({
      name: 'latentbridge_http_request_duration_seconds',
      help: 'HTTP request duration by route and status',
      labelNames: ['method', 'route', 'status'],
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers
    }),
    rowsProcessed: new Counter({ name: 'latentbridge_rows_processed_total', help: 'Matrix rows received or produced, by route', labelNames: ['route'], registers }),
    executionProvider: new Gauge({ name: 'latentbridge_execution_provider', help: 'The ONNX Runtime execution provider in use (value 1)', labelNames: ['provider'], registers }),
    engineDuration: new Histogram({
      name: 'latentbridge_engine_duration_seconds',
      help: 'Compute engine calls: wall time including the wait for a worker, by operation and outcome (ok, error)',
      labelNames: ['op', 'outcome'],
      buckets: [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers
    }),
    engineBatchRows: new Histogram({
      name: 'latentbridge_engine_batch_rows',
      help: 'Rows of the input matrix of each compute engine call (the batch size), by operation',
      labelNames: ['op'],
      buckets: ROW_BUCKETS,
      registers
    }),
    engineInFlight: new Gauge({
      name: 'latentbridge_engine_in_flight',
      help: 'Compute engine calls queued for a worker or running (the engine queue depth), by operation',
      labelNames: ['op'],
      registers
    }),
    storeErrors: new Counter({ name: 'latentbridge_store_errors_total', help: 'Store calls that failed, by store method', labelNames: ['op'], registers }),
    shed: new Counter({
      name: 'latentbridge_overload_rejections_total',
      help: 'Requests answered 503 by the overload guard, by the measure over its limit',
      labelNames: ['reason'],
      registers
    }),
    batchRuns: new Counter({ name: 'latentbridge_batch_runs_total', help: 'Engine runs made by the micro-batcher (one per coalesced batch), by operation', labelNames: ['op'], registers }),
    batchRequests: new Histogram({
      name: 'latentbridge_batch_requests',
      help: 'Requests coalesced into each micro-batched engine run, by operation',
      labelNames: ['op'],
      buckets: [1, 2, 4, 8, 16, 32, 64, 128, 256, 512],
      registers
    }),
    queueRows: new Gauge({ name: 'latentbridge_queue_rows', help: 'Rows of compute requests holding queue permits (queued or computing)', registers }),
    queueCapacity: new Gauge({ name: 'latentbridge_queue_capacity_rows', help: 'Row permits of the compute queue (QUEUE_MAX_ROWS)', registers }),
    queueRejections: new Counter({ name: 'latentbridge_queue_rejections_total', help: 'Compute requests answered 429: too few free row permits in the compute queue', registers }),
    computePhase: new Histogram({
      name: 'latentbridge_compute_phase_seconds',
      help: 'Compute requests by phase: queue (waiting for a micro-batch to run), compute (the engine run), total (the whole request); the x-queue-time, x-compute-time and x-total-time headers',
      labelNames: ['route', 'phase'],
      buckets: [0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers
    })
  }
  new Gauge({ name: 'latentbridge_build_info', help: 'Build information (value 1)', labelNames: ['version', 'node'], registers })
    .set({ version: opts.version, node: process.version }, 1)

  // The decoded-translator cache keeps its own counts; they are read when Prometheus scrapes.
  const cache = (): { hits: number, misses: number, evictions: number, size: number, resyncs?: number } | undefined =>
    app.hasDecorator('translators') ? app.translators : undefined
  const cacheCounter = (name: string, help: string, read: (c: NonNullable<ReturnType<typeof cache>>) => number): void => {
    // eslint-disable-next-line no-new
    new Counter({
      name,
      help,
      registers,
      collect () {
        const c = cache()
        if (c === undefined) return
        this.reset()
        this.inc(read(c))
      }
    })
  }
  cacheCounter('latentbridge_translator_cache_hits_total', 'Translator lookups answered from the decoded-translator cache', c => c.hits)
  cacheCounter('latentbridge_translator_cache_misses_total', 'Translator lookups that read the store', c => c.misses)
  cacheCounter('latentbridge_translator_cache_evictions_total', 'Translators dropped from the cache to stay within TRANSLATOR_CACHE (least recently used first)', c => c.evictions)
  cacheCounter('latentbridge_translator_cache_resyncs_total', 'Times the whole cache was dropped because store changes may have been missed (change feed reconnected)', c => c.resyncs ?? 0)
  // eslint-disable-next-line no-new
  new Gauge({
    name: 'latentbridge_translator_cache_size',
    help: 'Decoded translators held in the cache (at most TRANSLATOR_CACHE)',
    registers,
    collect () {
      const c = cache()
      if (c !== undefined) this.set(c.size)
    }
  })

  // The store's circuit breaker (a Redis store has one), read when Prometheus scrapes.
  const breaker = (): Store['breaker'] => app.hasDecorator('store') ? app.store.breaker : undefined
  // eslint-disable-next-line no-new
  new Gauge({
    name: 'latentbridge_store_breaker_state',
    help: 'The store circuit breaker\'s state (value 1 for the current one): closed (calls pass), open (refused at once: the store is known down), half-open (probing for its return)',
    labelNames: ['state'],
    registers,
    collect () {
      const b = breaker()
      if (b === undefined) return
      for (const state of ['closed', 'open', 'half-open'] as const) this.set({ state }, b.state === state ? 1 : 0)
    }
  })
  // eslint-disable-next-line no-new
  new Counter({
    name: 'latentbridge_store_breaker_trips_total',
    help: 'Times the store circuit breaker opened (a store call or ping found the store unreachable)',
    registers,
    collect () {
      const b = breaker()
      if (b === undefined) return
      this.reset()
      this.inc(b.trips)
    }
  })
  // eslint-disable-next-line no-new
  new Counter({
    name: 'latentbridge_store_breaker_refusals_total',
    help: 'Store calls refused at once (503) because the store circuit breaker was open',
    registers,
    collect () {
      const b = breaker()
      if (b === undefined) return
      this.reset()
      this.inc(b.refused)
    }
  })

  app.decorate('metrics', metrics)

  app.addHook('onResponse', async (request, reply) => {
    const route = request.routeOptions.url ?? 'unknown'
    const seconds = reply.elapsedTime / 1000
    metrics.requestDuration.observe({ method: request.method, route, status: String(reply.statusCode) }, seconds)
    if (request.rows !== undefined) metrics.rowsProcessed.inc({ route }, request.rows)
    request.log.info({
      method: request.method,
      route,
      status: reply.statusCode,
      ms: Math.round(reply.elapsedTime * 100) / 100,
      rows: request.rows
    }, 'request')
  })
}

/** The metrics as Prometheus text, with the gauges that are read at scrape time brought up to date. */
export async function renderMetrics (app: FastifyInstance): Promise<{ contentType: string, body: string }> {
  app.metrics.executionProvider.reset()
  app.metrics.executionProvider.set({ provider: app.engine.info().executionProvider }, 1)
  return { contentType: app.metrics.registry.contentType, body: await app.metrics.registry.metrics() }
}

export default fp(metricsPlugin, { name: 'metrics' })
