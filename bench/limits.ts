/**
 * Every row of issue 20's table as a ratio, in one run: how far the engine and the service are
 * from the machine's limits (numpy on OpenBLAS, ORT's own Gemm run bare, the server's own
 * /healthz).
 *
 *   npx tsx bench/limits.ts                      about 3 minutes
 *   npx tsx bench/limits.ts --seconds 6 --slices 2
 *
 * Rows:
 *   1. translate 4,096 x 768 → 768: engine vs ORT Gemm bare and vs numpy X @ R (bench/translate.ts);
 *   2. relative 1,024 x 768 vs 1,000 anchors: engine (worker pool, and inline) vs numpy
 *      (bench/relative.ts);
 *   3. the binary HTTP relative route vs the engine alone, timed in the same rounds, the client in
 *      the bench's process (in brackets: the same client in a process of its own) (bench/relative.ts);
 *   4. bulk: binary translate in requests of 256 rows over 4 keep-alive connections (node:http) to
 *      a server in its own process, rows/s against numpy's X @ R in memory;
 *   5. single-vector binary translate at 64 connections through fetch (undici) against the same
 *      server's GET /healthz: req/s and p99.
 * Rows 1-3 run as child processes (their own benches, whose last JSON line is read); rows 4 and 5
 * load one bench server (bench/lib/serve.ts), the two sides of row 5 in alternating slices. Each
 * ratio is measured within this run; the machine's load average is printed with it.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { loadavg, tmpdir } from 'node:os'
import { join } from 'node:path'
import { spawn } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { fmt, runFetchLoad, runHttpLoad, settle, summarize, type LoadSample } from './lib/load.js'
import { benchMap, randomArray } from './lib/maps.js'
import { lastJsonLine, runPython } from './lib/python.js'
import { startBenchServer } from './lib/server.js'

const { values: args } = parseArgs({
  options: {
    seconds: { type: 'string', default: '12' },
    slices: { type: 'string', default: '3' }
  }
})
const SECONDS = Number(args.seconds)
const SLICES = Number(args.slices)
const DIM = 768
const BULK_ROWS = 256
const BULK_CONNECTIONS = 4
const SINGLE_CONNECTIONS = 64
const root = fileURLToPath(new URL('..', import.meta.url))

const load = (): string => loadavg().map(v => v.toFixed(1)).join(' ')

/** Runs a bench as a child process, echoing its output; resolves with its last JSON line. */
async function child<T> (script: string): Promise<T> {
  return await new Promise((resolve, reject) => {
    const proc = spawn(process.execPath, ['--import', 'tsx', script], { cwd: root, stdio: ['ignore', 'pipe', 'inherit'] })
    let out = ''
    proc.stdout.on('data', (d: Buffer) => {
      out += d.toString()
      process.stdout.write(d.toString().split('\n').filter(l => !l.startsWith('{')).join('\n'))
    })
    proc.on('error', reject)
    proc.on('exit', code => {
      if (code !== 0) reject(new Error(`${script} exited with ${String(code)}`))
      else resolve(lastJsonLine<T>(out))
    })
  })
}

/** numpy's X @ R on 4,096 rows of the bench map, in memory: rows/s. */
async function numpyRowsPerSecond (): Promise<number> {
  const rows = 4096
  const dir = mkdtempSync(join(tmpdir(), 'bench-limits-'))
  try {
    const map = benchMap(1000, DIM)
    writeFileSync(join(dir, 'x.f32'), Buffer.from(randomArray(rows * DIM, 7).buffer))
    writeFileSync(join(dir, 'r.f32'), Buffer.from(map.weight.data.buffer))
    const script = fileURLToPath(new URL('./numpy_translate.py', import.meta.url))
    const out = await runPython(script, [join(dir, 'x.f32'), join(dir, 'r.f32'), String(rows), String(DIM), String(DIM), '15'])
    return rows / lastJsonLine<{ matmulMedianMs: number }>(out).matmulMedianMs * 1000
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}

interface Verdict { what: string, ratio: string, goal: string, met: boolean }

async function main (): Promise<void> {
  const verdicts: Verdict[] = []
  console.log(`load average at start: ${load()}\n`)

  const translate = await child<{ engineVsBare: number, engineVsNumpy: number }>('bench/translate.ts')
  verdicts.push({ what: 'translate 4,096 x 768 → 768: engine vs ORT Gemm bare', ratio: `${translate.engineVsBare.toFixed(2)}x`, goal: '≥ 0.95x', met: translate.engineVsBare >= 0.95 })
  verdicts.push({ what: 'translate 4,096 x 768 → 768: engine vs numpy X @ R', ratio: `${translate.engineVsNumpy.toFixed(2)}x`, goal: '≥ 0.8x', met: translate.engineVsNumpy >= 0.8 })
  console.log(`\nload average: ${load()}\n`)

  const relative = await child<{ engineVsNumpy: number, inlineVsNumpy: number, httpVsEngine: number, httpSeparateVsEngine: number }>('bench/relative.ts')
  verdicts.push({ what: 'relative: engine (worker pool) vs numpy', ratio: `${relative.engineVsNumpy.toFixed(2)}x (inline ${relative.inlineVsNumpy.toFixed(2)}x)`, goal: '≥ 0.95x', met: relative.engineVsNumpy >= 0.95 })
  // The client in the bench's own process, as before; in brackets the same client in a process of its own.
  verdicts.push({ what: 'binary HTTP relative route vs the engine alone', ratio: `${relative.httpVsEngine.toFixed(2)}x slower (own-process client ${relative.httpSeparateVsEngine.toFixed(2)}x)`, goal: '≤ 1.5x', met: relative.httpVsEngine <= 1.5 })
  console.log(`\nload average: ${load()}\n`)

  const server = await startBenchServer()
  try {
    const translateUrl = `${server.url}/v1/translate?source=a&target=b`
    const binary = { 'content-type': 'application/octet-stream', accept: 'application/octet-stream' }
    const bulkBody = Buffer.from(randomArray(BULK_ROWS * DIM, 3).buffer)
    const single = Buffer.from(randomArray(DIM, 42).buffer)
    const bulkSpec = { url: translateUrl, headers: binary, body: bulkBody, connections: BULK_CONNECTIONS }
    const singleSpec = { url: translateUrl, headers: binary, body: single, connections: SINGLE_CONNECTIONS }
    const healthSpec = { url: `${server.url}/healthz`, method: 'GET' as const, connections: SINGLE_CONNECTIONS }
    // Warm-up: sessions built, JIT warm, connections open.
    await runHttpLoad({ ...bulkSpec, seconds: 2 })
    await runFetchLoad({ ...singleSpec, seconds: 2 })
    await runFetchLoad({ ...healthSpec, seconds: 2 })
    await settle([server.pid])

    const bulk: LoadSample[] = []
    const singles: LoadSample[] = []
    const health: LoadSample[] = []
    const slice = SECONDS / SLICES
    let numpyRate = 0
    for (let i = 0; i < SLICES; i++) {
      bulk.push(await runHttpLoad({ ...bulkSpec, seconds: slice }))
      await settle([server.pid])
      singles.push(await runFetchLoad({ ...singleSpec, seconds: slice }))
      await settle([server.pid])
      health.push(await runFetchLoad({ ...healthSpec, seconds: slice }))
      await settle([server.pid])
      // numpy between slices, so both sides see the machine's load of the moment.
      if (i === Math.floor(SLICES / 2)) numpyRate = await numpyRowsPerSecond()
    }
    const b = summarize(bulk)
    const s = summarize(singles)
    const h = summarize(health)
    const bulkRate = b.reqPerS * BULK_ROWS
    console.log(`service rows (server in its own process, default engine config; ${SECONDS} s per row in ${SLICES} alternating slices)`)
    console.log(`  bulk: binary translate, ${BULK_ROWS}-row requests, ${BULK_CONNECTIONS} connections  ${fmt(bulkRate).padStart(9)} rows/s  p50 ${b.p50.toFixed(1)} ms  p99 ${b.p99.toFixed(1)} ms  failed ${b.failed}`)
    console.log(`  numpy X @ R in memory (4,096 rows)                       ${fmt(numpyRate).padStart(9)} rows/s`)
    console.log(`  single-vector binary translate, ${SINGLE_CONNECTIONS} connections, fetch  ${fmt(s.reqPerS).padStart(9)} req/s   p50 ${s.p50.toFixed(2)} ms  p99 ${s.p99.toFixed(2)} ms  failed ${s.failed}`)
    console.log(`  GET /healthz, ${SINGLE_CONNECTIONS} connections, fetch                   ${fmt(h.reqPerS).padStart(9)} req/s   p50 ${h.p50.toFixed(2)} ms  p99 ${h.p99.toFixed(2)} ms  failed ${h.failed}`)
    verdicts.push({ what: `bulk: binary translate, ${BULK_ROWS}-row requests, ${BULK_CONNECTIONS} connections, vs numpy in memory`, ratio: `${(bulkRate / numpyRate).toFixed(2)}x`, goal: '≥ 0.6x', met: bulkRate / numpyRate >= 0.6 })
    const p99 = s.p99 / h.p99
    verdicts.push({ what: `single-vector translate, ${SINGLE_CONNECTIONS} connections (fetch), vs /healthz`, ratio: `${(s.reqPerS / h.reqPerS).toFixed(2)}x req/s, p99 ${p99.toFixed(2)}x`, goal: '≥ 0.6x, p99 ≤ 2x', met: s.reqPerS / h.reqPerS >= 0.6 && p99 <= 2 })
  } finally {
    await server.stop()
  }

  console.log(`\nissue 20's table, measured in this run (load average now ${load()})`)
  const width = Math.max(...verdicts.map(v => v.what.length))
  for (const v of verdicts) console.log(`  ${v.what.padEnd(width)}  ${v.ratio.padEnd(40)} goal ${v.goal.padEnd(18)} ${v.met ? 'met' : 'not met'}`)
}

await main()
