import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod'
import { z } from 'zod'
import { renderMetrics } from '../plugins/metrics.js'

const Readiness = z.object({
  status: z.enum(['ready', 'not-ready']),
  store: z.object({ kind: z.string(), ok: z.boolean(), error: z.string().optional() }),
  compute: z.object({
    ready: z.boolean().describe('Whether the last engine probe (re-run at most every ENGINE_PROBE_INTERVAL_MS) computed a graph end to end'),
    error: z.string().optional().describe('Why the last engine probe failed'),
    executionProvider: z.string(),
    requested: z.array(z.string()),
    failed: z.array(z.object({ provider: z.string(), error: z.string() }))
  })
}).meta({ id: 'Readiness' })

/** How long /readyz waits for the store before calling it unreachable. */
const STORE_PING_TIMEOUT_MS = 1000

const operations: FastifyPluginAsyncZod<{ metricsRoute?: boolean }> = async (app, opts) => {
  // Operational routes need no key: probes and scrapers carry none.
  app.get('/healthz', {
    config: { scope: 'none' },
    schema: {
      tags: ['operations'],
      summary: 'Liveness: 200 while the process runs',
      operationId: 'getHealth',
      security: [],
      response: { 200: z.object({ status: z.literal('ok') }) }
    }
  }, async () => ({ status: 'ok' as const }))

  app.get('/readyz', {
    config: { scope: 'none' },
    schema: {
      tags: ['operations'],
      summary: 'Readiness: 200 when the store answers and the compute engine has run its probe',
      operationId: 'getReadiness',
      security: [],
      response: { 200: Readiness, 503: Readiness }
    }
  }, async (_request, reply) => {
    let storeError: string | undefined
    try {
      await Promise.race([
        app.store.ping(),
        new Promise((_resolve, reject) => setTimeout(() => reject(new Error(`no answer within ${STORE_PING_TIMEOUT_MS} ms`)), STORE_PING_TIMEOUT_MS).unref())
      ])
    } catch (err) {
      storeError = (err as Error).message
    }
    const engine = await app.engineCheck()
    const info = app.engine.info()
    const ready = storeError === undefined && engine.ready
    return reply.code(ready ? 200 : 503).send({
      status: ready ? 'ready' : 'not-ready',
      store: { kind: app.store.kind, ok: storeError === undefined, ...(storeError !== undefined ? { error: storeError } : {}) },
      compute: {
        ready: engine.ready,
        ...(engine.error !== undefined ? { error: engine.error } : {}),
        executionProvider: info.executionProvider,
        requested: info.requested,
        failed: info.failed
      }
    })
  })

  // With METRICS_PORT set, /metrics is served on that port only (src/metrics-server.ts).
  if (opts.metricsRoute === false) return
  app.get('/metrics', {
    config: { scope: 'none' },
    schema: { tags: ['operations'], summary: 'Prometheus metrics (text format)', operationId: 'getMetrics', security: [], response: { 200: z.string() } }
  }, async (_request, reply) => {
    const { contentType, body } = await renderMetrics(app)
    return reply.type(contentType).serializer(String).send(body)
  })
}

export default operations
