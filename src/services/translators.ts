import type { FastifyInstance } from 'fastify'
import fp from 'fastify-plugin'
import { TranslatorCache } from '../translators/cache.js'

declare module 'fastify' {
  interface FastifyInstance {
    translators: TranslatorCache
  }
}

/** The decoded-translator cache, shared by the translate and evaluate routes. */
async function translatorsPlugin (app: FastifyInstance, opts: { cacheSize: number }): Promise<void> {
  const cache = new TranslatorCache(app.store, app.engine, opts.cacheSize)
  app.decorate('translators', cache)
  app.addHook('onClose', async () => { cache.close() })
}

export default fp(translatorsPlugin, { name: 'translators', dependencies: ['store', 'engine'] })
