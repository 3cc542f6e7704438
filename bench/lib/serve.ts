/**
 * The service as the throughput benches run it: the real app (buildApp, memory store, default
 * engine) in a process of its own, listening on a free 127.0.0.1 port, with a 768 → 768
 * translator (or several) stored directly, so no fit is timed or needed. Bench-only extras:
 *   POST /bench/constant   answers a constant 768-float vector (raw float32 by Accept, else JSON):
 *                          the HTTP stack's own limit, on the same server;
 *   POST /bench/gc         runs a full garbage collection (node runs with --expose-gc).
 * Started by bench/lib/server.ts; prints one JSON line { url, translators } when ready.
 *
 * Configuration: the service's variables from the environment as usual, plus
 * BENCH_TRANSLATORS (how many, default 1) and BENCH_DIM (default 768).
 */
import { randomUUID } from 'node:crypto'
import { buildApp } from '../../src/app.js'
import { loadConfig } from '../../src/config.js'
import { MemoryStore } from '../../src/store/memory.js'
import { mapToStored } from '../../src/translators/record.js'
import { benchMap } from './maps.js'

const DIM = Number(process.env.BENCH_DIM ?? 768)
const COUNT = Number(process.env.BENCH_TRANSLATORS ?? 1)

async function main (): Promise<void> {
  const config = loadConfig({ LOG_LEVEL: 'silent', MAX_EVENT_LOOP_DELAY_MS: '0', ...process.env, PORT: '0', HOST: '127.0.0.1' })
  const store = new MemoryStore()
  const now = new Date().toISOString()
  await store.putSpace({ name: 'a', dim: DIM, description: null, metadata: {}, createdAt: now, revision: randomUUID() })
  await store.putSpace({ name: 'b', dim: DIM, description: null, metadata: {}, createdAt: now, revision: randomUUID() })
  await store.putAnchorSet({ name: 'bench', ids: ['x'], description: null, createdAt: now, revision: randomUUID() })
  const ids: string[] = []
  for (let i = 0; i < COUNT; i++) {
    const { params, settings } = mapToStored(benchMap(1000 + i, DIM))
    const outcome = await store.createTranslator({
      meta: {
        id: randomUUID(),
        name: `bench ${i}`,
        source: 'a',
        target: 'b',
        anchorSet: 'bench',
        method: 'linear',
        scaling: 'none',
        version: 0,
        createdAt: now,
        anchorsUsed: 0,
        sourceDim: DIM,
        targetDim: DIM,
        diagnostics: {},
        settings: { ...settings }
      },
      params
    }, { activate: i === 0 })
    if (outcome.status !== 'created') throw new Error(`could not store translator ${i}: ${outcome.status}`)
    ids.push(outcome.value.id)
  }

  const app = await buildApp(config, { store, logger: false })
  const constant = new Float32Array(DIM).map((_, i) => Math.fround(Math.sin(i)))
  const constantBytes = Buffer.from(constant.buffer)
  const constantJson = { vectors: [Array.from(constant)] }
  app.post('/bench/constant', { config: { binaryBody: true, scope: 'none' } }, async (request, reply) => {
    if ((request.headers.accept ?? '').includes('application/octet-stream')) {
      return reply.type('application/octet-stream').header('x-shape', `1,${DIM}`).send(constantBytes)
    }
    return constantJson
  })
  app.post('/bench/gc', { config: { scope: 'none' } }, async () => {
    const gc = (globalThis as { gc?: () => void }).gc
    gc?.()
    return { collected: gc !== undefined }
  })
  const url = await app.listen({ host: '127.0.0.1', port: 0 })
  process.stdout.write(`${JSON.stringify({ url, translators: ids, pid: process.pid })}\n`)
  const stop = async (): Promise<void> => {
    await app.close()
    process.exit(0)
  }
  process.on('SIGTERM', () => { void stop() })
  process.on('SIGINT', () => { void stop() })
}

await main()
