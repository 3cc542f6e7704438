/**
 * Relative projection throughput: rows/second for 1,024 x 768 inputs against 1,000 anchors
 * (cosine), through the engine and through numpy on the same data in the same run.
 *
 *   npx tsx bench/relative.ts           the comparison table: the engine, the binary HTTP route
 *                                       (a real server on 127.0.0.1) and numpy
 *   npx tsx bench/relative.ts --all     plus the measurements behind the engine's design choices:
 *                                       anchors as initializer vs input, event-loop blocking,
 *                                       workers x intra-op threads
 *
 * Each row of the table is one `BenchRow`; add a row by pushing another measurement into `rows`
 * in main(). The ratio columns are relative to numpy and to the engine alone (the worker-pool row).
 * The issue's goals (issue 20): the engine at 0.95x numpy or better, the binary HTTP route within 1.5x of the engine.
 */
import { createHash } from 'node:crypto'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { Agent, request, type IncomingHttpHeaders } from 'node:http'
import type { AddressInfo } from 'node:net'
import { availableParallelism, tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { buildApp } from '../src/app.js'
import { loadConfig } from '../src/config.js'
import { MemoryStore } from '../src/store/memory.js'
import { createEngine, defaultEngineConfig, type EngineConfig } from '../src/engine/index.js'
import { relativeGraph } from '../src/engine/ops/relative.js'
import { SessionStore, tensor } from '../src/engine/runtime.js'
import type { Matrix } from '../src/math/matrix.js'
import type { RelativeOptions } from '../src/engine/types.js'
import { startPostClient } from './lib/post-client.js'
import { lastJsonLine, runPython } from './lib/python.js'
import { median } from './lib/stats.js'

const ROWS = 1024
const DIM = 768
const ANCHORS = 1000
const RUNS = 15
const WARMUP = 3
const COSINE: RelativeOptions = { projections: ['cosine'], center: false, normalize: 'none' }
/**
 * The anchors' key, as the compute façade passes one (their upload revisions): the workers keep
 * the anchors resident instead of receiving them on every call, as they do behind the route.
 */
const ANCHORS_KEY = 'bench'

export interface BenchRow {
  name: string
  medianMs: number
  rowsPerSecond: number
  note?: string
}

function seeded (seed: number): () => number {
  let s = seed >>> 0
  return () => {
    s = (s + 0x6D2B79F5) >>> 0
    let t = Math.imul(s ^ (s >>> 15), s | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

function randomMatrix (rows: number, cols: number, random: () => number): Matrix {
  const data = new Float32Array(rows * cols)
  for (let i = 0; i < data.length; i++) data[i] = random() * 2 - 1
  return { rows, cols, data }
}


async function timeRuns (run: () => Promise<unknown>, runs = RUNS, warmup = WARMUP): Promise<number[]> {
  for (let i = 0; i < warmup; i++) await run()
  const times: number[] = []
  for (let i = 0; i < runs; i++) {
    const t0 = performance.now()
    await run()
    times.push(performance.now() - t0)
  }
  return times
}

async function engineRow (x: Matrix, a: Matrix, config: EngineConfig, name: string): Promise<BenchRow> {
  const engine = await createEngine(config)
  try {
    const times = await timeRuns(async () => await engine.relative(x, a, COSINE, ANCHORS_KEY))
    const ms = median(times)
    return { name, medianMs: ms, rowsPerSecond: x.rows / ms * 1000, note: `${config.workers} workers x ${config.intraOpThreads} threads, min ${Math.min(...times).toFixed(1)} ms` }
  } finally {
    await engine.close()
  }
}

/** numpy without this machine's OpenBLAS overrides (docs/engine-notes.md §7), on the same data. */
async function numpyRow (x: Matrix, a: Matrix): Promise<BenchRow> {
  const dir = mkdtempSync(join(tmpdir(), 'bench-relative-'))
  try {
    const xPath = join(dir, 'x.f32')
    const aPath = join(dir, 'a.f32')
    writeFileSync(xPath, new Uint8Array(x.data.buffer, x.data.byteOffset, x.data.byteLength))
    writeFileSync(aPath, new Uint8Array(a.data.buffer, a.data.byteOffset, a.data.byteLength))
    const script = fileURLToPath(new URL('./numpy_relative.py', import.meta.url))
    const output = await runPython(script, [xPath, aPath, String(x.rows), String(a.rows), String(x.cols), String(RUNS)])
    const r = lastJsonLine<{ medianMs: number, minMs: number, rowsPerSecond: number, numpy: string, blas: string }>(output)
    return { name: 'numpy normalize(X) @ normalize(A).T', medianMs: r.medianMs, rowsPerSecond: r.rowsPerSecond, note: `numpy ${r.numpy} ${r.blas}, min ${r.minMs.toFixed(1)} ms` }
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}

/** One POST through node:http with a keep-alive agent; resolves to the reply's bytes and headers. */
async function postBinary (agent: Agent, port: number, path: string, body: Uint8Array): Promise<{ status: number, headers: IncomingHttpHeaders, bytes: Buffer }> {
  return await new Promise((resolve, reject) => {
    const req = request({
      host: '127.0.0.1',
      port,
      path,
      method: 'POST',
      agent,
      headers: { 'content-type': 'application/octet-stream', accept: 'application/octet-stream', 'content-length': body.byteLength }
    }, res => {
      const chunks: Buffer[] = []
      res.on('data', (chunk: Buffer) => chunks.push(chunk))
      res.on('error', reject)
      res.on('end', () => { resolve({ status: res.statusCode ?? 0, headers: res.headers, bytes: Buffer.concat(chunks) }) })
    })
    req.on('error', reject)
    req.end(body)
  })
}

export interface HttpRows {
  /** node:http client with keep-alive, in this process (its work shares the server's event loop). */
  http: BenchRow
  /** The same client in a process of its own, as real clients are. */
  separate: BenchRow
  /** The same requests through fetch (undici). */
  fetch: BenchRow
  /** engine.relative on the same engine, timed in the same rounds as the HTTP requests: median and min. */
  pairedEngineMs: number
  pairedEngineMinMs: number
  httpMinMs: number
  separateMinMs: number
}

/**
 * The binary HTTP route end to end: the app (buildApp, memory store) listening on 127.0.0.1 on a
 * free port, the anchors uploaded once, then the input POSTed as application/octet-stream with
 * Accept: application/octet-stream from this process. The engine is built with `config`, as for
 * the engine row, so the difference is the HTTP path: reading the 3 MB body, decoding and
 * checking it, the store's copy of the anchors, the 4 MB reply and the client. Each round also
 * times engine.relative directly on the same engine, so the ratio compares runs made side by side
 * (this VM's speed drifts by tens of percent between runs). The same request is also sent, in the
 * same rounds, by the same client in a process of its own (bench/lib/post-client.ts), which times
 * it there: the client's writing of the body and joining of the reply then no longer share the
 * server's event loop.
 */
async function httpRows (x: Matrix, a: Matrix, config: EngineConfig): Promise<HttpRows> {
  const engine = await createEngine(config)
  const app = await buildApp(loadConfig({ LOG_LEVEL: 'silent' }), { store: new MemoryStore(), engine, logger: false })
  const agent = new Agent({ keepAlive: true, maxSockets: 1 })
  const clients: Array<{ stop: () => void }> = []
  try {
    await app.listen({ host: '127.0.0.1', port: 0 })
    const port = (app.server.address() as AddressInfo).port
    const base = `http://127.0.0.1:${port}`
    const call = async (method: string, path: string, body: string | Uint8Array, headers: Record<string, string>): Promise<void> => {
      const res = await fetch(base + path, { method, body, headers })
      if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${await res.text()}`)
    }
    const asJson = { 'content-type': 'application/json' }
    const bytes = (m: Matrix): Uint8Array => new Uint8Array(m.data.buffer, m.data.byteOffset, m.data.byteLength)
    await call('PUT', '/v1/spaces/bench', JSON.stringify({ dim: x.cols }), asJson)
    await call('PUT', '/v1/anchor-sets/bench', JSON.stringify({ ids: Array.from({ length: a.rows }, (_, i) => `anchor-${i}`) }), asJson)
    await call('PUT', '/v1/anchor-sets/bench/embeddings/bench', bytes(a), { 'content-type': 'application/octet-stream' })

    const path = '/v1/relative?space=bench&anchorSet=bench&projection=cosine'
    const body = bytes(x)
    const shape = `${x.rows},${a.rows}`
    const direct = await engine.relative(x, a, COSINE)
    const expected = Buffer.from(direct.matrix.data.buffer, direct.matrix.data.byteOffset, direct.matrix.data.byteLength)
    // The route must compute what the engine computes, bit for bit.
    const first = await postBinary(agent, port, path, body)
    if (first.status !== 200 || first.headers['x-shape'] !== shape || Buffer.compare(first.bytes, expected) !== 0) {
      throw new Error(`the HTTP reply differs from engine.relative: status ${first.status}, X-Shape ${String(first.headers['x-shape'])}, ${first.bytes.length} bytes`)
    }

    const client = await startPostClient(base + path, { 'content-type': 'application/octet-stream', accept: 'application/octet-stream' }, body)
    clients.push(client)
    const expectedSha = createHash('sha256').update(expected).digest('hex')
    const viaSeparate = async (): Promise<number> => {
      const res = await client.post()
      if (res.status !== 200 || res.sha256 !== expectedSha) throw new Error(`the reply to the separate client differs from engine.relative: status ${res.status}, ${res.bytes} bytes`)
      return res.ms
    }
    const viaHttp = async (): Promise<void> => {
      const res = await postBinary(agent, port, path, body)
      if (res.status !== 200 || res.bytes.length !== expected.length) throw new Error(`unexpected reply: ${res.status}, ${res.bytes.length} bytes`)
    }
    const viaFetch = async (): Promise<void> => {
      const res = await fetch(base + path, { method: 'POST', body, headers: { 'content-type': 'application/octet-stream', accept: 'application/octet-stream' } })
      const reply = await res.arrayBuffer()
      if (res.status !== 200 || reply.byteLength !== expected.length) throw new Error(`unexpected reply: ${res.status}, ${reply.byteLength} bytes`)
    }
    const httpTimes: number[] = []
    const separateTimes: number[] = []
    const engineTimes: number[] = []
    for (let round = 0; round < WARMUP + RUNS; round++) {
      const t0 = performance.now()
      await engine.relative(x, a, COSINE, ANCHORS_KEY)
      const t1 = performance.now()
      await viaHttp()
      const t2 = performance.now()
      const separate = await viaSeparate()
      if (round >= WARMUP) {
        engineTimes.push(t1 - t0)
        httpTimes.push(t2 - t1)
        separateTimes.push(separate)
      }
    }
    const fetchTimes = await timeRuns(viaFetch)
    const row = (name: string, times: number[], note: string): BenchRow => {
      const ms = median(times)
      return { name, medianMs: ms, rowsPerSecond: x.rows / ms * 1000, note: `${note}, min ${Math.min(...times).toFixed(1)} ms` }
    }
    return {
      http: row('binary HTTP route (octet-stream in/out)', httpTimes, '127.0.0.1, node:http keep-alive client in this process, same engine config; reply = engine bit-exactly'),
      separate: row('  the same, client in its own process', separateTimes, 'same client and requests, timed in that process; reply = engine bit-exactly'),
      fetch: row('  the same through fetch (undici)', fetchTimes, 'client overhead of fetch'),
      pairedEngineMs: median(engineTimes),
      pairedEngineMinMs: Math.min(...engineTimes),
      httpMinMs: Math.min(...httpTimes),
      separateMinMs: Math.min(...separateTimes)
    }
  } finally {
    for (const client of clients) client.stop()
    agent.destroy()
    await app.close()
    await engine.close()
  }
}

function printTable (title: string, rows: BenchRow[], baseline?: BenchRow, engine?: BenchRow): void {
  console.log(`\n${title}`)
  for (const row of rows) {
    const ratio = baseline === undefined ? '' : `  ${(row.rowsPerSecond / baseline.rowsPerSecond).toFixed(2)}x numpy`
    const ofEngine = engine === undefined ? '' : `  ${(row.rowsPerSecond / engine.rowsPerSecond).toFixed(2)}x engine`
    console.log(`  ${row.name.padEnd(40)} ${row.medianMs.toFixed(2).padStart(8)} ms  ${Math.round(row.rowsPerSecond).toLocaleString('en-US').padStart(9)} rows/s${ratio}${ofEngine}${row.note === undefined ? '' : `  (${row.note})`}`)
  }
}

// ---------------------------------------------------------------------------------------------
// --all: the measurements behind the design choices.

/** Anchors baked into the graph (one session per anchor matrix) vs fed as a runtime input. */
async function anchorsModes (x: Matrix, a: Matrix): Promise<void> {
  console.log('\nanchors as initializer vs runtime input (in-process session, cosine, 1,024 x 768 vs 1,000)')
  for (const threads of [1, 2]) {
    const store = new SessionStore('cpu', threads, 4)
    const params = { ...COSINE, power: 1 }
    const feedsX = { X: tensor(x.data, [x.rows, x.cols]) }
    let t0 = performance.now()
    await store.run('initializer', () => relativeGraph({ ...params, anchors: a }), feedsX)
    const firstInit = performance.now() - t0
    t0 = performance.now()
    await store.run('input', () => relativeGraph(params), { ...feedsX, A: tensor(a.data, [a.rows, a.cols]) })
    const firstInput = performance.now() - t0
    const init = await timeRuns(async () => await store.run('initializer', () => relativeGraph(params), feedsX))
    const input = await timeRuns(async () => await store.run('input', () => relativeGraph(params), { ...feedsX, A: tensor(a.data, [a.rows, a.cols]) }))
    const hash = await timeRuns(async () => createHash('sha256').update(new Uint8Array(a.data.buffer)).digest('hex'))
    store.close()
    console.log(`  ${threads} thread(s): initializer first call ${firstInit.toFixed(1)} ms, warm ${median(init).toFixed(2)} ms; ` +
      `input first call ${firstInput.toFixed(1)} ms, warm ${median(input).toFixed(2)} ms; sha256 of the anchors (the cache key an initializer needs) ${median(hash).toFixed(2)} ms`)
  }
}

/**
 * Does a timer get served while a 4,096-row batch computes? A 1 ms interval stands in for
 * /healthz; the longest gap between its ticks during the batch is how long the loop was blocked.
 */
async function eventLoop (a: Matrix): Promise<void> {
  console.log('\nevent loop while a 4,096-row cosine batch runs (1 ms interval timer; longest gap between ticks)')
  const x = randomMatrix(4096, DIM, seeded(3))
  const layouts: Array<[string, EngineConfig]> = [
    ['inline (main thread), 2 threads', { ...defaultEngineConfig(), workers: 0, intraOpThreads: 2 }],
    ['default worker pool', defaultEngineConfig()]
  ]
  for (const [name, config] of layouts) {
    const engine = await createEngine(config)
    await engine.relative(x, a, COSINE)
    const lines: string[] = []
    for (let run = 0; run < 3; run++) {
      const ticks: number[] = []
      const timer = setInterval(() => { ticks.push(performance.now()) }, 1)
      await new Promise(resolve => setTimeout(resolve, 10))
      const t0 = performance.now()
      await engine.relative(x, a, COSINE)
      const t1 = performance.now()
      await new Promise(resolve => setTimeout(resolve, 10))
      clearInterval(timer)
      let gap = 0
      for (let i = 1; i < ticks.length; i++) if (ticks[i] > t0 && ticks[i - 1] < t1) gap = Math.max(gap, ticks[i] - ticks[i - 1])
      const during = ticks.filter(tick => tick > t0 && tick < t1).length
      lines.push(`batch ${(t1 - t0).toFixed(0)} ms: ${during} ticks during it, longest gap ${gap.toFixed(1)} ms`)
    }
    console.log(`  ${name}: ${lines.join('; ')}`)
    await engine.close()
  }
}

/** Workers x intra-op threads on this machine: latency, throughput, and a small request's wait. */
async function threadLayouts (x: Matrix, a: Matrix): Promise<void> {
  const cores = availableParallelism()
  console.log(`\nworkers x intra-op threads (${cores} cores; 1,024-row requests; 16,384-row batch in 1,024-row chunks)`)
  const big = randomMatrix(16384, DIM, seeded(4))
  const small = randomMatrix(32, DIM, seeded(5))
  for (const [workers, threads] of [[1, 2], [2, 1], [1, 1], [2, 2]]) {
    const engine = await createEngine({ ...defaultEngineConfig(), workers, intraOpThreads: threads, rowBudget: 1024 })
    const latency = median(await timeRuns(async () => await engine.relative(x, a, COSINE)))
    const throughput = median(await timeRuns(async () => await Promise.all(Array.from({ length: 8 }, async () => await engine.relative(x, a, COSINE))), 5, 1))
    let worstLag = 0
    let last = performance.now()
    const timer = setInterval(() => { const now = performance.now(); worstLag = Math.max(worstLag, now - last - 2); last = now }, 2)
    const t0 = performance.now()
    const bigDone = engine.relative(big, a, COSINE).then(() => performance.now() - t0)
    await new Promise(resolve => setTimeout(resolve, 20))
    const s0 = performance.now()
    await engine.relative(small, a, COSINE)
    const smallMs = performance.now() - s0
    const bigMs = await bigDone
    clearInterval(timer)
    console.log(`  ${workers} x ${threads}: 1,024-row request ${latency.toFixed(1)} ms; 8 concurrent ${Math.round(8 * ROWS / throughput * 1000).toLocaleString('en-US')} rows/s; ` +
      `16,384 rows ${bigMs.toFixed(0)} ms (${Math.round(16384 / bigMs * 1000).toLocaleString('en-US')} rows/s), a 32-row request during it ${smallMs.toFixed(1)} ms, worst timer lag ${worstLag.toFixed(1)} ms`)
    await engine.close()
  }
}

async function main (): Promise<void> {
  const random = seeded(1)
  const x = randomMatrix(ROWS, DIM, random)
  const a = randomMatrix(ANCHORS, DIM, random)
  const config = defaultEngineConfig()
  console.log(`relative projection, cosine: ${ROWS} x ${DIM} inputs against ${ANCHORS} anchors; median of ${RUNS} warm runs`)

  const rows: BenchRow[] = []
  const engine = await engineRow(x, a, config, 'engine (worker pool, default config)')
  rows.push(engine)
  rows.push(await engineRow(x, a, { ...config, workers: 0, intraOpThreads: availableParallelism() }, 'engine inline (main thread, blocks it)'))
  const http = await httpRows(x, a, config)
  rows.push(http.http, http.separate, http.fetch)
  const numpy = await numpyRow(x, a)
  rows.push(numpy)
  printTable('rows/second', rows, numpy, engine)
  const slower = http.http.medianMs / http.pairedEngineMs
  const separateSlower = http.separate.medianMs / http.pairedEngineMs
  const engineVsNumpy = engine.rowsPerSecond / numpy.rowsPerSecond
  console.log(`\n  goal, engine at or above 0.95x numpy: engine ${engineVsNumpy.toFixed(2)}x numpy (${engineVsNumpy >= 0.95 ? 'met' : 'not met'}); inline ${(rows[1].rowsPerSecond / numpy.rowsPerSecond).toFixed(2)}x`)
  console.log(`  goal, binary HTTP route within 1.5x of the engine alone: client in this process ${http.http.medianMs.toFixed(2)} ms vs ${http.pairedEngineMs.toFixed(2)} ms ` +
    `for engine.relative timed in the same rounds = ${slower.toFixed(2)}x slower (${slower <= 1.5 ? 'met' : 'not met'}); ` +
    `best runs ${http.httpMinMs.toFixed(2)} vs ${http.pairedEngineMinMs.toFixed(2)} ms = ${(http.httpMinMs / http.pairedEngineMinMs).toFixed(2)}x`)
  console.log(`        with the client in its own process: ${http.separate.medianMs.toFixed(2)} ms = ${separateSlower.toFixed(2)}x slower (${separateSlower <= 1.5 ? 'met' : 'not met'}); ` +
    `best runs ${http.separateMinMs.toFixed(2)} vs ${http.pairedEngineMinMs.toFixed(2)} ms = ${(http.separateMinMs / http.pairedEngineMinMs).toFixed(2)}x`)
  // For bench/limits.ts, which reads the last JSON line (printed before the --all sections).
  console.log(JSON.stringify({ engineVsNumpy, inlineVsNumpy: rows[1].rowsPerSecond / numpy.rowsPerSecond, httpVsEngine: slower, httpSeparateVsEngine: separateSlower }))

  if (process.argv.includes('--all')) {
    await anchorsModes(x, a)
    await eventLoop(a)
    await threadLayouts(x, a)
  }
}

await main()
