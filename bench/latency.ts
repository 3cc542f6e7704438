/**
 * Latency of single-vector translation (768 → 768) under 64 concurrent connections, next to a
 * route on the same server that answers a constant 768-float vector (the HTTP stack's own limit).
 * autocannon runs in this process, the service in a child (bench/lib/serve.ts); the two routes
 * are loaded in alternating slices, so both see the same machine.
 *
 *   npx tsx bench/latency.ts                    20 s per row, 64 connections
 *   npx tsx bench/latency.ts --seconds 10 --connections 32 --slices 2
 *
 * Rows: binary (octet-stream in and out) translate with the default micro-batching, the same
 * with micro-batching off (BATCH_MAX_ROWS=1, a second server), the constant route in binary;
 * then JSON translate and the constant route in JSON. Goal (issue 5): translate at least 50 % of
 * the constant route's req/s, and its p99 under 2x the constant route's.
 */
import { parseArgs } from 'node:util'
import { fmt, runLoad, settle, summarize, type LoadSample, type LoadSpec } from './lib/load.js'
import { randomArray } from './lib/maps.js'
import { metricValue, startBenchServer } from './lib/server.js'

const { values: args } = parseArgs({
  options: {
    seconds: { type: 'string', default: '20' },
    connections: { type: 'string', default: '64' },
    slices: { type: 'string', default: '4' }
  }
})
const SECONDS = Number(args.seconds)
const CONNECTIONS = Number(args.connections)
const SLICES = Number(args.slices)
const DIM = 768

const x = randomArray(DIM, 42)
const raw = Buffer.from(x.buffer)
const json = JSON.stringify({ source: 'a', target: 'b', vectors: [Array.from(x)] })
const binaryHeaders = { 'content-type': 'application/octet-stream', accept: 'application/octet-stream' }
const jsonHeaders = { 'content-type': 'application/json' }

const batched = await startBenchServer()
const unbatched = await startBenchServer({ BATCH_MAX_ROWS: '1' })
try {
  interface Row { name: string, spec: Omit<LoadSpec, 'seconds' | 'connections'>, samples: LoadSample[], vs?: string }
  const rows: Row[] = [
    { name: 'translate, binary, micro-batching on (default)', spec: { url: `${batched.url}/v1/translate?source=a&target=b`, headers: binaryHeaders, body: raw }, samples: [], vs: 'constant, binary' },
    { name: 'translate, binary, micro-batching off', spec: { url: `${unbatched.url}/v1/translate?source=a&target=b`, headers: binaryHeaders, body: raw }, samples: [], vs: 'constant, binary' },
    { name: 'constant, binary', spec: { url: `${batched.url}/bench/constant`, headers: binaryHeaders, body: raw }, samples: [] },
    { name: 'translate, JSON, micro-batching on (default)', spec: { url: `${batched.url}/v1/translate`, headers: jsonHeaders, body: json }, samples: [], vs: 'constant, JSON' },
    { name: 'constant, JSON', spec: { url: `${batched.url}/bench/constant`, headers: jsonHeaders, body: json }, samples: [] }
  ]
  // Warm-up: sessions built, JIT warm, connections open.
  const pids = [batched.pid, unbatched.pid]
  for (const row of rows) {
    await runLoad({ ...row.spec, connections: CONNECTIONS, seconds: 2 })
    await settle(pids)
  }
  const runsBefore = metricValue(await batched.metrics(), 'latentbridge_batch_runs_total', { op: 'translate' })
  const requestsBefore = metricValue(await batched.metrics(), 'latentbridge_batch_requests_sum', { op: 'translate' })
  for (let slice = 0; slice < SLICES; slice++) {
    for (const row of rows) {
      row.samples.push(await runLoad({ ...row.spec, connections: CONNECTIONS, seconds: SECONDS / SLICES }))
      await settle(pids)
    }
  }
  const text = await batched.metrics()
  const runs = metricValue(text, 'latentbridge_batch_runs_total', { op: 'translate' }) - runsBefore
  const requests = metricValue(text, 'latentbridge_batch_requests_sum', { op: 'translate' }) - requestsBefore

  const summaries = new Map(rows.map(r => [r.name, summarize(r.samples)]))
  console.log(`single-vector translate ${DIM} → ${DIM}, ${CONNECTIONS} connections, ${SECONDS} s per row in ${SLICES} interleaved slices; server: 1 process, default engine config; load: autocannon in another process`)
  console.log(`  ${'route'.padEnd(48)} ${'req/s'.padStart(9)} ${'p50 ms'.padStart(8)} ${'p99 ms'.padStart(8)} ${'failed'.padStart(7)}  vs constant`)
  for (const row of rows) {
    const s = summaries.get(row.name)!
    const base = row.vs === undefined ? undefined : summaries.get(row.vs)!
    const vs = base === undefined ? '' : `req/s ${(s.reqPerS / base.reqPerS * 100).toFixed(0)} %, p99 ${(s.p99 / base.p99).toFixed(2)}x`
    console.log(`  ${row.name.padEnd(48)} ${fmt(s.reqPerS).padStart(9)} ${s.p50.toFixed(2).padStart(8)} ${s.p99.toFixed(2).padStart(8)} ${String(s.failed).padStart(7)}  ${vs}`)
  }
  console.log(`  micro-batching: ${fmt(requests)} binary+JSON translate requests in ${fmt(runs)} engine runs (mean ${(requests / Math.max(1, runs)).toFixed(1)} requests per run)`)
  for (const row of rows.filter(r => r.vs !== undefined && r.name.includes('(default)'))) {
    const s = summaries.get(row.name)!
    const base = summaries.get(row.vs!)!
    const rps = s.reqPerS / base.reqPerS
    const p99 = s.p99 / base.p99
    console.log(`  goal (${row.name.split(',')[1].trim()}): req/s ≥ 50 % of constant: ${(rps * 100).toFixed(0)} % ${rps >= 0.5 ? 'met' : 'NOT met'}; p99 < 2x constant: ${p99.toFixed(2)}x ${p99 < 2 ? 'met' : 'NOT met'}`)
  }
} finally {
  await batched.stop()
  await unbatched.stop()
}
