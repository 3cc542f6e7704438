/**
 * Memory: the service's RSS with 100 registered 768 x 768 translators, under a mixed load over
 * all of them, and after its caches evict. Two runs, each on a fresh server: TRANSLATOR_CACHE 16
 * (the cache must evict: 100 translators in use) and TRANSLATOR_CACHE 128 (all of them fit).
 * The engine keeps its own bounded cache of translator sessions per worker (ENGINE_SESSION_CACHE).
 *
 *   npx tsx bench/memory.ts
 *   npx tsx bench/memory.ts --seconds 20 --connections 16 --caches 16,128
 *
 * Phases per run: idle after start (translators stored, none used); the mixed load (single
 * vectors in binary, 32-row JSON, 256-row binary, each on a random one of the 100 translators),
 * RSS sampled every second (peak); then a hot set of 4 translators for a few seconds, so the
 * caches drop the others, and a full GC (the bench server runs with --expose-gc); then RSS.
 * The memory store holds the 100 translators' parameters in the same process (100 x 2.4 MB);
 * with Redis they would live there instead.
 */
import http from 'node:http'
import { parseArgs } from 'node:util'
import { fmt } from './lib/load.js'
import { randomArray } from './lib/maps.js'
import { metricValue, startBenchServer, type BenchServer } from './lib/server.js'

const { values: args } = parseArgs({
  options: {
    seconds: { type: 'string', default: '20' },
    connections: { type: 'string', default: '16' },
    caches: { type: 'string', default: '16,128' },
    translators: { type: 'string', default: '100' }
  }
})
const SECONDS = Number(args.seconds)
const CONNECTIONS = Number(args.connections)
const COUNT = Number(args.translators)
const DIM = 768
const MB = 1024 * 1024

const one = randomArray(DIM, 1)
const b256 = randomArray(256 * DIM, 2)
const b32 = Array.from({ length: 32 }, (_, i) => Array.from(randomArray(DIM, 100 + i)))

interface Shot { rss: number, heap: number, cacheSize: number, evictions: number, external: number }

async function shot (server: BenchServer): Promise<Shot> {
  const text = await server.metrics()
  return {
    rss: metricValue(text, 'latentbridge_process_resident_memory_bytes'),
    heap: metricValue(text, 'latentbridge_nodejs_heap_size_used_bytes'),
    external: metricValue(text, 'latentbridge_nodejs_external_memory_bytes'),
    cacheSize: metricValue(text, 'latentbridge_translator_cache_size'),
    evictions: metricValue(text, 'latentbridge_translator_cache_evictions_total')
  }
}

/** A closed loop of mixed requests over the given translators; counts answers by status class. */
async function mixedLoad (server: BenchServer, ids: string[], seconds: number, onTick?: () => Promise<void>): Promise<{ ok: number, failed: number }> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: CONNECTIONS })
  const base = new URL(server.url)
  let ok = 0
  let failed = 0
  const until = performance.now() + seconds * 1000
  let k = 0
  const request = async (): Promise<void> => {
    const id = ids[Math.floor(Math.random() * ids.length)]
    const kind = k++ % 5
    const binary = kind !== 2
    const body = kind === 2
      ? Buffer.from(JSON.stringify({ source: 'a', target: 'b', translator: id, vectors: b32 }))
      : kind === 4 ? Buffer.from(b256.buffer) : Buffer.from(one.buffer)
    const path = binary ? `/v1/translate?source=a&target=b&translator=${id}` : '/v1/translate'
    const headers = binary
      ? { 'content-type': 'application/octet-stream', accept: 'application/octet-stream', 'content-length': String(body.length) }
      : { 'content-type': 'application/json', 'content-length': String(body.length) }
    await new Promise<void>(resolve => {
      const req = http.request(new URL(path, base), { method: 'POST', agent, headers }, res => {
        res.on('data', () => {})
        res.on('end', () => { if ((res.statusCode ?? 0) < 300) ok++; else failed++; resolve() })
      })
      req.on('error', () => { failed++; resolve() })
      req.end(body)
    })
  }
  const ticker = onTick === undefined ? undefined : setInterval(() => { void onTick() }, 1000)
  await Promise.all(Array.from({ length: CONNECTIONS }, async () => { while (performance.now() < until) await request() }))
  if (ticker !== undefined) clearInterval(ticker)
  agent.destroy()
  return { ok, failed }
}

const mb = (bytes: number): string => `${(bytes / MB).toFixed(0)} MiB`
const caches = String(args.caches).split(',').map(Number)
console.log(`memory: ${COUNT} translators ${DIM} x ${DIM} stored (memory store, ${fmt(COUNT * DIM * DIM * 4 / MB)} MiB of parameters in the process); mixed load ${SECONDS} s on ${CONNECTIONS} connections; then 5 s on 4 translators and a full GC`)
console.log(`  ${'TRANSLATOR_CACHE'.padEnd(16)} ${'phase'.padEnd(36)} ${'RSS'.padStart(9)} ${'heap'.padStart(9)} ${'external'.padStart(9)} ${'cached'.padStart(6)} ${'evictions'.padStart(9)}  requests`)
for (const cache of caches) {
  const server = await startBenchServer({ BENCH_TRANSLATORS: String(COUNT), TRANSLATOR_CACHE: String(cache) })
  try {
    const row = (phase: string, s: Shot, note = ''): void => {
      console.log(`  ${String(cache).padEnd(16)} ${phase.padEnd(36)} ${mb(s.rss).padStart(9)} ${mb(s.heap).padStart(9)} ${mb(s.external).padStart(9)} ${String(s.cacheSize).padStart(6)} ${String(s.evictions).padStart(9)}  ${note}`)
    }
    row('idle, translators stored', await shot(server))
    let peak: Shot | undefined
    const load = await mixedLoad(server, server.translators, SECONDS, async () => {
      const s = await shot(server)
      if (peak === undefined || s.rss > peak.rss) peak = s
    })
    const afterLoad = await shot(server)
    if (peak !== undefined) row('mixed load, peak RSS (sampled 1/s)', peak)
    row('right after the mixed load', afterLoad, `${fmt(load.ok)} ok, ${load.failed} failed`)
    const hot = await mixedLoad(server, server.translators.slice(0, 4), 5)
    await fetch(`${server.url}/bench/gc`, { method: 'POST' })
    row('after 5 s on 4 translators + GC', await shot(server), `${fmt(hot.ok)} ok, ${hot.failed} failed`)
  } finally {
    await server.stop()
  }
}
