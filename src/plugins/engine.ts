import type { FastifyInstance } from 'fastify'
import fp from 'fastify-plugin'
import type { Engine } from '../engine/types.js'

declare module 'fastify' {
  interface FastifyInstance {
    engine: Engine
    /** Whether the engine's start-up probe has run a graph end to end. */
    engineReady: () => boolean
  }
}

/**
 * Decorates the app with the compute engine. The probe runs when the app is ready, so /readyz
 * only turns green once ONNX Runtime has really computed something on the chosen provider.
 */
async function enginePlugin (app: FastifyInstance, opts: { engine: Engine, owned: boolean }): Promise<void> {
  let ready = false
  app.decorate('engine', opts.engine)
  app.decorate('engineReady', () => ready)
  app.addHook('onReady', async () => {
    await opts.engine.probe()
    ready = true
    const info = opts.engine.info()
    app.log.info({ executionProvider: info.executionProvider, workers: info.workers, threads: info.threads }, 'compute engine ready')
  })
  if (opts.owned) app.addHook('onClose', async () => { await opts.engine.close() })
}

export default fp(enginePlugin, { name: 'engine' })
