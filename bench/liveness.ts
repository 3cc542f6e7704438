/**
 * Liveness under large JSON bodies: /healthz latency while many large JSON translate requests
 * arrive at once, with the bound on large JSON bodies (LARGE_JSON_CONCURRENCY, default 2) and
 * without it (a concurrency above the number of bodies), each against its own server process, in
 * one run. Prints healthz p50/p99 for both and their ratio.
 *
 *   npx tsx bench/liveness.ts
 *   LIVENESS_BODIES=40 LIVENESS_MIB=64 npx tsx bench/liveness.ts   # the finding's load (~2.5 GiB)
 */
import http from 'node:http'
import { startBenchServer } from './lib/server.js'

const BODIES = Number(process.env.LIVENESS_BODIES ?? 16)
const MIB = Number(process.env.LIVENESS_MIB ?? 16)
const DIM = 768

function quantile (sorted: number[], q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]
}

async function send (url: string, path: string, body?: Buffer, agent?: http.Agent): Promise<number> {
  return await new Promise((resolve, reject) => {
    const req = http.request(new URL(path, url), {
      method: body === undefined ? 'GET' : 'POST',
      agent,
      headers: body === undefined ? {} : { 'content-type': 'application/json', 'content-length': String(body.length) }
    }, res => {
      res.resume()
      res.on('end', () => { resolve(res.statusCode ?? 0) })
      res.on('error', reject)
    })
    req.on('error', reject)
    req.end(body)
  })
}

/** One JSON translate body of about MIB MiB. */
function jsonBody (): Buffer {
  const row = `[${Array.from({ length: DIM }, (_, i) => (Math.sin(i) / 3).toFixed(9)).join(',')}]`
  const rows = Math.max(1, Math.floor(MIB * 1024 * 1024 / (row.length + 1)))
  return Buffer.from(`{"source":"a","target":"b","vectors":[${Array(rows).fill(row).join(',')}]}`)
}

async function run (label: string, env: Record<string, string>, body: Buffer): Promise<{ p50: number, p99: number, max: number, probes: number, statuses: Record<string, number> }> {
  const server = await startBenchServer({ BENCH_DIM: String(DIM), BODY_LIMIT: String(body.length + 1024), MAX_HEAP_USED_BYTES: '0', ...env })
  try {
    const probeAgent = new http.Agent({ keepAlive: true, maxSockets: 1 })
    await send(server.url, '/healthz', undefined, probeAgent)
    let done = false
    const latencies: number[] = []
    const probing = (async () => {
      while (!done) {
        const start = performance.now()
        await send(server.url, '/healthz', undefined, probeAgent)
        latencies.push(performance.now() - start)
        await new Promise(resolve => setTimeout(resolve, 10))
      }
    })()
    const statuses: Record<string, number> = {}
    const agent = new http.Agent({ keepAlive: false, maxSockets: BODIES })
    await Promise.all(Array.from({ length: BODIES }, async () => {
      const status = await send(server.url, '/v1/translate', body, agent)
      statuses[status] = (statuses[status] ?? 0) + 1
    }))
    done = true
    await probing
    probeAgent.destroy()
    agent.destroy()
    const sorted = [...latencies].sort((a, b) => a - b)
    const result = { p50: quantile(sorted, 0.5), p99: quantile(sorted, 0.99), max: sorted[sorted.length - 1], probes: sorted.length, statuses }
    console.log(`${label.padEnd(10)} healthz p50 ${result.p50.toFixed(1)} ms  p99 ${result.p99.toFixed(1)} ms  max ${result.max.toFixed(1)} ms  (${result.probes} probes; answers ${JSON.stringify(statuses)})`)
    return result
  } finally {
    await server.stop()
  }
}

async function main (): Promise<void> {
  const body = jsonBody()
  console.log(`${BODIES} concurrent JSON translate bodies of ${(body.length / 1024 / 1024).toFixed(1)} MiB (${DIM}-d), /healthz polled on its own connection`)
  const bounded = await run('bounded', { LARGE_JSON_CONCURRENCY: '2', LARGE_JSON_QUEUE: String(BODIES) }, body)
  const unbounded = await run('unbounded', { LARGE_JSON_CONCURRENCY: String(Math.max(BODIES, 1)), LARGE_JSON_QUEUE: '0' }, body)
  console.log(`unbounded / bounded: p50 ${(unbounded.p50 / bounded.p50).toFixed(2)}x  p99 ${(unbounded.p99 / bounded.p99).toFixed(2)}x  max ${(unbounded.max / bounded.max).toFixed(2)}x`)
  console.log(JSON.stringify({ bodies: BODIES, bodyBytes: body.length, bounded, unbounded }))
}

main().catch(err => { console.error(err); process.exit(1) })
