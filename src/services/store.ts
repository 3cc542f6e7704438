import type { FastifyInstance } from 'fastify'
import fp from 'fastify-plugin'
import type { Store } from '../store/types.js'

declare module 'fastify' {
  interface FastifyInstance {
    store: Store
  }
}

/** Decorates the app with its store; closes it with the app when the app created it. */
async function storePlugin (app: FastifyInstance, opts: { store: Store, owned: boolean }): Promise<void> {
  app.decorate('store', opts.store)
  if (opts.owned) app.addHook('onClose', async () => { await opts.store.close() })
}

export default fp(storePlugin, { name: 'store' })
