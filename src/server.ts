import closeWithGrace from 'close-with-grace'
import { buildApp } from './app.js'
import { ConfigError, loadConfig } from './config.js'

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
  closeWithGrace({ delay: 10_000 }, async ({ signal, err }) => {
    if (err !== undefined) app.log.error({ err }, 'closing after an error')
    else app.log.info({ signal }, 'closing')
    await app.close()
  })
  await app.listen({ port: config.PORT, host: config.HOST })
}

main().catch(err => {
  process.stderr.write(`latentbridge: failed to start: ${(err as Error).stack ?? String(err)}\n`)
  process.exit(1)
})
