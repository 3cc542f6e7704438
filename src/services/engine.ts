import type { FastifyInstance } from 'fastify'
import fp from 'fastify-plugin'
import type { Engine } from '../engine/types.js'

declare module 'fastify' {
  interface FastifyInstance {
    engine: Engine
    /** Whether the engine's last probe ran a graph end to end. */
    engineReady: () => boolean
    /**
     * The engine's health for /readyz: re-runs the probe when the last one is older than
     * ENGINE_PROBE_INTERVAL_MS (at most one probe at a time), else returns the last result.
     */
    engineCheck: () => Promise<EngineHealth>
  }
}

export interface EngineHealth {
  ready: boolean
  /** Why the last probe failed. */
  error?: string
}

export interface EnginePluginOptions {
  engine: Engine
  owned: boolean
  /** How old a probe result may be before /readyz runs another (0: every time). */
  probeIntervalMs?: number
  /** A probe that has not answered after this long counts as failed. */
  probeTimeoutMs?: number
}

/**
 * Decorates the app with the compute engine. The probe runs when the app is ready, so /readyz
 * only turns green once ONNX Runtime has really computed something on the chosen provider; after
 * that, /readyz re-runs it every few seconds (a tiny graph), so a broken engine shows up there.
 */
async function enginePlugin (app: FastifyInstance, opts: EnginePluginOptions): Promise<void> {
  const intervalMs = opts.probeIntervalMs ?? 5000
  const timeoutMs = opts.probeTimeoutMs ?? 5000
  let health: EngineHealth = { ready: false, error: 'the start-up probe has not run yet' }
  let checkedAt = -Infinity
  let running: Promise<EngineHealth> | undefined

  const probe = async (): Promise<EngineHealth> => {
    let timer: NodeJS.Timeout | undefined
    try {
      await Promise.race([
        opts.engine.probe(),
        new Promise((_resolve, reject) => { timer = setTimeout(() => reject(new Error(`the probe did not finish within ${timeoutMs} ms (ENGINE_PROBE_TIMEOUT_MS)`)), timeoutMs) })
      ])
      return { ready: true }
    } catch (err) {
      return { ready: false, error: (err as Error).message ?? String(err) }
    } finally {
      clearTimeout(timer)
    }
  }

  const check = async (): Promise<EngineHealth> => {
    if (running !== undefined) return await running
    if (performance.now() - checkedAt < intervalMs) return health
    running = probe().then(result => {
      if (health.ready && !result.ready) app.log.error({ error: result.error }, 'compute engine probe failed')
      if (!health.ready && result.ready && checkedAt !== -Infinity) app.log.info('compute engine probe passes again')
      health = result
      checkedAt = performance.now()
      return result
    }).finally(() => { running = undefined })
    return await running
  }

  app.decorate('engine', opts.engine)
  app.decorate('engineReady', () => health.ready)
  app.decorate('engineCheck', check)
  app.addHook('onReady', async () => {
    // The start-up probe must pass: an engine that cannot compute stops the service from starting.
    await opts.engine.probe()
    health = { ready: true }
    checkedAt = performance.now()
    const info = opts.engine.info()
    app.log.info({ executionProvider: info.executionProvider, workers: info.workers, threads: info.threads }, 'compute engine ready')
  })
  if (opts.owned) app.addHook('onClose', async () => { await opts.engine.close() })
}

export default fp(enginePlugin, { name: 'engine' })
