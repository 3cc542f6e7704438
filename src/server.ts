import closeWithGrace from 'close-with-grace'
import { buildApp } from './app.js'
import { ConfigError, loadConfig } from './config.js'
import { buildMetricsServer } from './metrics-server.js'

/** Production entry point: configuration, the app, a listening socket, and a graceful exit. */
async function main (): Promise<void> {
  let config
  try {
    config = loadConfig()
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`latentbridge: ${err.message}\n`)
      process.exit(2)
    }
    throw err
  }
  const app = await buildApp(config)
  // With METRICS_PORT, /metrics moves to a second small server on that port (the API port has none).
  const metricsServer = config.METRICS_PORT !== undefined ? buildMetricsServer(app) : undefined
  // On SIGTERM or SIGINT: stop accepting connections (keep-alive requests get 503 and the
  // connection closes), let the requests in flight finish for up to SHUTDOWN_TIMEOUT_MS, then cut
  // the connections still open; the store (Redis) and the engine close after that.
  const deadline = config.SHUTDOWN_TIMEOUT_MS
  closeWithGrace({ delay: deadline + 5000 }, async ({ signal, err }) => {
    if (err !== undefined) app.log.error({ err }, 'closing after an error')
    else app.log.info({ signal, deadlineMs: deadline }, 'closing: no new connections, finishing the requests in flight')
    const cut = setTimeout(() => {
      app.log.warn({ deadlineMs: deadline }, 'shutdown deadline reached: closing the connections still open')
      app.server.closeAllConnections()
    }, deadline)
    try {
      await app.close()
    } finally {
      clearTimeout(cut)
    }
    await metricsServer?.close()
    app.log.info('closed')
  })
  await app.listen({ port: config.PORT, host: config.HOST })
  if (metricsServer !== undefined) {
    const host = config.METRICS_HOST ?? config.HOST
    await metricsServer.listen({ port: config.METRICS_PORT, host })
    app.log.info({ port: config.METRICS_PORT, host }, 'metrics served on their own port')
  }
}

main().catch(err => {
  process.stderr.write(`latentbridge: failed to start: ${(err as Error).stack ?? String(err)}\n`)
  process.exit(1)
})
