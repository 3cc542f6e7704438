import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod'
import type { Config } from '../../config.js'
import { MEDIA } from '../../codecs/negotiate.js'
import { PAGE_DEFAULT_LIMIT, PAGE_MAX_LIMIT } from '../../http/page.js'
import { Info } from '../../schemas/info.js'
import { problemResponses } from '../../schemas/common.js'
import { redisTargetFromConfig } from '../../store/index.js'
import { VERSION } from '../../version.js'

type StoreKind = 'memory' | 'redis' | 'redis-cluster' | 'redis-sentinel'

/** The store's kind, refined by the configuration's Redis mode (the store itself only knows memory or redis). */
function storeKind (kind: 'memory' | 'redis', config: Config): StoreKind {
  if (kind === 'memory') return 'memory'
  const mode = redisTargetFromConfig(config)?.mode
  return mode === 'cluster' ? 'redis-cluster' : mode === 'sentinel' ? 'redis-sentinel' : 'redis'
}

/** What a client needs to know before sending work: the limits it would otherwise learn from 413s and 422s. */
const info: FastifyPluginAsyncZod<{ config: Config }> = async (app, { config }) => {
  app.get('/v1/info', {
    config: { scope: 'read' },
    schema: {
      tags: ['operations'],
      summary: "The service's version, limits, store, execution provider and features",
      operationId: 'getInfo',
      response: { 200: Info, ...problemResponses(401) }
    }
  }, async () => ({
    version: VERSION,
    limits: {
      MAX_ROWS_PER_REQUEST: config.MAX_ROWS_PER_REQUEST,
      BODY_LIMIT: config.BODY_LIMIT,
      MAX_DIM: config.MAX_DIM,
      MAX_ANCHORS_PER_SET: config.MAX_ANCHORS_PER_SET,
      MAX_SET_BYTES: config.MAX_SET_BYTES,
      WORK_MEMORY_BYTES: config.WORK_MEMORY_BYTES,
      WORK_TIME_MS: config.WORK_TIME_MS,
      MAX_TRANSLATOR_BYTES: config.MAX_TRANSLATOR_BYTES,
      QUEUE_MAX_ROWS: config.QUEUE_MAX_ROWS,
      LARGE_JSON_BYTES: config.LARGE_JSON_BYTES
    },
    store: { kind: storeKind(app.store.kind, config) },
    compute: { executionProvider: app.engine.info().executionProvider },
    features: {
      contentEncodings: ['gzip', 'deflate', 'br'],
      binaryForms: [MEDIA.octetStream, MEDIA.npy],
      conditionalRequests: true,
      pagination: { defaultLimit: PAGE_DEFAULT_LIMIT, maxLimit: PAGE_MAX_LIMIT }
    }
  }))
}

export default info
