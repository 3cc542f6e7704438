import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod'
import { z } from 'zod'

const Readiness = z.object({
  status: z.enum(['ready', 'not-ready']),
  store: z.object({ kind: z.string(), ok: z.boolean(), error: z.string().optional() }),
  compute: z.object({
    ready: z.boolean(),
    executionProvider: z.string(),
    requested: z.array(z.string()),
    failed: z.array(z.object({ provider: z.string(), error: z.string() }))
  })
}).meta({ id: 'Readiness' })

/** How long /readyz waits for the store before calling it unreachable. */
const STORE_PING_TIMEOUT_MS = 1000

const operations: FastifyPluginAsyncZod = async (app) => {
  app.get('/healthz', {
    schema: {
      tags: ['operations'],
      summary: 'Liveness: 200 while the process runs',
      security: [],
      response: { 200: z.object({ status: z.literal('ok') }) }
    }
  }, async () => ({ status: 'ok' as const }))

  app.get('/readyz', {
    schema: {
      tags: ['operations'],
      summary: 'Readiness: 200 when the store answers and the compute engine has run its probe',
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
    const info = app.engine.info()
    const ready = storeError === undefined && app.engineReady()
    return reply.code(ready ? 200 : 503).send({
      status: ready ? 'ready' : 'not-ready',
      store: { kind: app.store.kind, ok: storeError === undefined, ...(storeError !== undefined ? { error: storeError } : {}) },
      compute: { ready: app.engineReady(), executionProvider: info.executionProvider, requested: info.requested, failed: info.failed }
    })
  })

  app.get('/metrics', {
    schema: { tags: ['operations'], summary: 'Prometheus metrics (text format)', security: [], response: { 200: z.string() } }
  }, async (_request, reply) => {
    app.metrics.executionProvider.reset()
    app.metrics.executionProvider.set({ provider: app.engine.info().executionProvider }, 1)
    return reply.type(app.metrics.registry.contentType).serializer(String).send(await app.metrics.registry.metrics())
  })
}

export default operations
