import { Worker } from 'node:worker_threads'
import closeWithGrace from 'close-with-grace'
import { buildApp } from './app.js'
import { ConfigError, loadConfig } from './config.js'
import { ProblemError } from './errors.js'
import { buildMetricsServer } from './metrics-server.js'

/** After the shutdown deadline: the process exits this much later if closing has not finished. */
const EXIT_AFTER_DEADLINE_MS = 1000
/** And is killed this much later, from another thread, if its main thread is blocked. */
const KILL_AFTER_DEADLINE_MS = 3000

/**
 * A watchdog thread that kills the process after `ms`: a main thread blocked in a long
 * synchronous loop runs no timers, so process.exit alone cannot bound the shutdown.
 */
function startWatchdog (ms: number): void {
  const code = "const { workerData } = require('node:worker_threads'); setTimeout(() => process.kill(process.pid, 'SIGKILL'), workerData)"
  const watchdog = new Worker(code, { eval: true, workerData: ms })
  watchdog.unref()
}

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
  // connection closes), let the requests in flight finish for up to SHUTDOWN_TIMEOUT_MS, then
  // abort their work and cut the connections still open; the store (Redis) and the engine
  // (terminating busy workers) close after that. Whatever still runs, the process exits
  // EXIT_AFTER_DEADLINE_MS after the deadline, and is killed KILL_AFTER_DEADLINE_MS after it.
  const deadline = config.SHUTDOWN_TIMEOUT_MS
  closeWithGrace({ delay: deadline + EXIT_AFTER_DEADLINE_MS }, async ({ signal, err }) => {
    startWatchdog(deadline + KILL_AFTER_DEADLINE_MS)
    if (err !== undefined) app.log.error({ err }, 'closing after an error')
    else app.log.info({ signal, deadlineMs: deadline }, 'closing: no new connections, finishing the requests in flight')
    const cut = setTimeout(() => {
      app.log.warn({ deadlineMs: deadline }, 'shutdown deadline reached: aborting the work in flight and closing the connections still open')
      app.abortWork(new ProblemError('unavailable', 'the server is shutting down; retry on another instance, or later', { headers: { 'retry-after': '1' } }))
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
