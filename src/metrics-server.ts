import Fastify, { type FastifyInstance } from 'fastify'
import { renderMetrics } from './plugins/metrics.js'
import { problemOf } from './plugins/problems.js'

/**
 * A second, minimal Fastify instance that serves the app's /metrics on its own port (METRICS_PORT),
 * so Prometheus can scrape on an internal port that is never exposed with the API. It shares the
 * app's registry: the figures are the app's own. Anything else on this port is a 404.
 */
export function buildMetricsServer (app: FastifyInstance): FastifyInstance {
  const server = Fastify({ logger: false, connectionTimeout: 30_000, requestTimeout: 30_000, keepAliveTimeout: 10_000 })
  server.get('/metrics', async (_request, reply) => {
    const { contentType, body } = await renderMetrics(app)
    return reply.type(contentType).send(body)
  })
  server.setNotFoundHandler(async (request, reply) => reply.code(404).type('application/problem+json; charset=utf-8')
    .send(JSON.stringify(problemOf('no-route', `this port serves only GET /metrics; ${request.method} ${request.url.split('?')[0]} is on the API port`))))
  server.setErrorHandler(async (err, request, reply) => {
    app.log.error({ err, requestId: request.id }, 'metrics server error')
    return await reply.code(500).type('application/problem+json; charset=utf-8')
      .send(JSON.stringify(problemOf('internal', `the metrics could not be collected; the server log has the details under request id ${request.id}`)))
  })
  return server
}
