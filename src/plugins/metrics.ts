import type { FastifyInstance } from 'fastify'
import fp from 'fastify-plugin'
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client'

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
}

/**
 * Prometheus metrics in a registry of the app's own (several apps may live in one test process),
 * and one log line per request with its id, route, status, duration and row count: never vectors.
 */
async function metricsPlugin (app: FastifyInstance, opts: { version: string }): Promise<void> {
  const registry = new Registry()
  collectDefaultMetrics({ register: registry, prefix: 'latentbridge_' })
  const metrics: Metrics = {
    registry,
    requestDuration: new Histogram({
      name: 'latentbridge_http_request_duration_seconds',
      help: 'HTTP request duration by route and status',
      labelNames: ['method', 'route', 'status'],
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers: [registry]
    }),
    rowsProcessed: new Counter({ name: 'latentbridge_rows_processed_total', help: 'Matrix rows received or produced, by route', labelNames: ['route'], registers: [registry] }),
    executionProvider: new Gauge({ name: 'latentbridge_execution_provider', help: 'The ONNX Runtime execution provider in use (value 1)', labelNames: ['provider'], registers: [registry] })
  }
  new Gauge({ name: 'latentbridge_build_info', help: 'Build information (value 1)', labelNames: ['version', 'node'], registers: [registry] })
    .set({ version: opts.version, node: process.version }, 1)
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

export default fp(metricsPlugin, { name: 'metrics' })
