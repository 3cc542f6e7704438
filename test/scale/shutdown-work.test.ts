import t from 'tap'
import { bytes, startService, values } from '../helpers/service.js'

/*
 * SIGTERM ends a real service process within SHUTDOWN_TIMEOUT_MS (plus a margin) while a long
 * fit runs: at the deadline the fit's work is aborted, its connection cut, busy engine workers
 * terminated, and the process exits whatever still runs.
 */

const SHUTDOWN_TIMEOUT_MS = 2000
/** Generous: a loaded machine starts and stops processes slowly. The bound is the point. */
const MARGIN_MS = 10_000
const ROWS = 1000
const DIM = 128

t.test('SIGTERM during a long fit: the process exits within SHUTDOWN_TIMEOUT_MS + margin', async t => {
  const service = await startService({ SHUTDOWN_TIMEOUT_MS: String(SHUTDOWN_TIMEOUT_MS), WORK_TIME_MS: '3600000', HANDLER_TIMEOUT_MS: '0' })
  t.teardown(async () => { await service.stop(1000) })
  const put = async (path: string, body: object | Buffer): Promise<void> => {
    const binary = Buffer.isBuffer(body)
    const res = await fetch(service.url + path, {
      method: 'PUT',
      headers: { 'content-type': binary ? 'application/octet-stream' : 'application/json' },
      body: binary ? body : JSON.stringify(body)
    })
    t.ok(res.status < 300, `PUT ${path}: ${res.status}`)
  }
  await put('/v1/spaces/a', { dim: DIM })
  await put('/v1/spaces/b', { dim: DIM })
  await put('/v1/anchor-sets/set', { ids: Array.from({ length: ROWS }, (_, i) => `id-${i}`) })
  await put('/v1/anchor-sets/set/embeddings/a', bytes(values(ROWS * DIM, 1)))
  await put('/v1/anchor-sets/set/embeddings/b', bytes(values(ROWS * DIM, 2)))

  // An 'auto' fit: minutes of work on this shape.
  const fit = fetch(`${service.url}/v1/translators`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ source: 'a', target: 'b', anchorSet: 'set', method: 'auto' })
  }).then(res => `answered ${res.status}`, (err: Error) => `failed: ${err.message}`)
  // It runs once it holds working memory.
  for (;;) {
    const metrics = await (await fetch(`${service.url}/metrics`)).text()
    const reserved = Number(/^latentbridge_work_memory_reserved_bytes (\S+)$/m.exec(metrics)?.[1] ?? 0)
    if (reserved > 0) break
    await new Promise(resolve => setTimeout(resolve, 20))
  }
  const signalled = Date.now()
  service.signal('SIGTERM')
  const exited = await service.exited
  const ms = exited.at - signalled
  t.ok(ms < SHUTDOWN_TIMEOUT_MS + MARGIN_MS, `exited ${ms} ms after SIGTERM (code ${exited.code}, signal ${exited.signal})`)
  t.comment(`exited ${ms} ms after SIGTERM, code ${exited.code}, signal ${exited.signal}; the fit ${await fit}`)
  const logs = service.logs()
  if (process.env.SHOW_LOGS === '1') { for (const l of logs) t.comment(JSON.stringify({ msg: l.msg, reason: l.reason, err: (l.err as any)?.message })); t.comment(service.stderr()) }
  t.ok(logs.some(l => l.msg === 'shutdown deadline reached: aborting the work in flight and closing the connections still open'))
  t.ok(logs.some(l => l.msg === 'request work cancelled' && l.reason === 'shutdown'), 'the fit stopped on its signal')
})
