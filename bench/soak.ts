/**
 * A bounded soak: mixed traffic, with a share of bad requests, against a real server on loopback,
 * for a few minutes. Prints the answers by status (good and bad requests apart, with anything
 * unexpected called out), latency percentiles, and the server's RSS and heap at the start and the
 * end (read from its own /metrics), so growth beyond the caches' bounds shows.
 *
 *   npx tsx bench/soak.ts                       3 minutes, 16 connections, 20% bad requests
 *   npx tsx bench/soak.ts --duration 120 --concurrency 32 --bad 0.3 --max-requests 200000
 *   npx tsx bench/soak.ts --url http://127.0.0.1:8080 --key <write key>
 *                                               against a server already running (loopback only)
 *
 * By default it starts src/server.ts itself on a free 127.0.0.1 port (embedded store, API keys on,
 * a translator cache of 4 for 8 translators, so evictions happen) and stops it at the end. The run
 * ends at --duration seconds or --max-requests requests, whichever comes first. Exit code 1 when a
 * request got a 5xx or an answer of the wrong class (a good request not 2xx, a bad one not 4xx).
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { freePort } from './lib/net.js'

const { values: args } = parseArgs({
  options: {
    duration: { type: 'string', default: '180' },
    concurrency: { type: 'string', default: '16' },
    bad: { type: 'string', default: '0.2' },
    'max-requests': { type: 'string', default: '2000000' },
    url: { type: 'string' },
    key: { type: 'string' },
    'sample-every': { type: 'string', default: '30' }
  }
})

const DURATION_MS = Number(args.duration) * 1000
const CONCURRENCY = Number(args.concurrency)
const BAD_SHARE = Number(args.bad)
const MAX_REQUESTS = Number(args['max-requests'])
const SAMPLE_EVERY_MS = Number(args['sample-every']) * 1000
for (const [name, v] of Object.entries({ duration: DURATION_MS, concurrency: CONCURRENCY, bad: BAD_SHARE, 'max-requests': MAX_REQUESTS })) {
  if (!Number.isFinite(v) || v < 0) throw new Error(`--${name} must be a non-negative number`)
}

const SRC_DIM = 64
const TGT_DIM = 48
const ANCHORS = 600
const TRANSLATORS = 8

// ---------------------------------------------------------------------------------------------
// The server


interface Target {
  base: string
  write: string
  read?: string
  child?: ChildProcess
  logErrors: () => number
}

async function startServer (): Promise<Target> {
  const port = await freePort()
  const write = `soak-write-${randomBytes(8).toString('hex')}`
  const read = `soak-read-${randomBytes(8).toString('hex')}`
  const root = fileURLToPath(new URL('..', import.meta.url))
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/server.ts'], {
    cwd: root,
    env: {
      ...process.env,
      PORT: String(port),
      HOST: '127.0.0.1',
      LOG_LEVEL: 'warn',
      API_KEYS: `${write}:write,${read}:read`,
      TRANSLATOR_CACHE: '4',
      REDIS_URL: '',
      METRICS_PORT: ''
    },
    stdio: ['ignore', 'pipe', 'pipe']
  })
  let errorLines = 0
  let tail = ''
  const scan = (chunk: Buffer): void => {
    for (const line of String(chunk).split('\n')) {
      if (line === '') continue
      tail = (tail + line + '\n').slice(-4000)
      try {
        if ((JSON.parse(line) as { level?: number }).level! >= 50) errorLines++
      } catch {}
    }
  }
  child.stdout?.on('data', scan)
  child.stderr?.on('data', scan)
  const base = `http://127.0.0.1:${port}`
  for (let i = 0; i < 300; i++) {
    if (child.exitCode !== null) throw new Error(`the server exited with ${child.exitCode}:\n${tail}`)
    try {
      if ((await fetch(`${base}/readyz`)).status === 200) return { base, write, read, child, logErrors: () => errorLines }
    } catch {}
    await new Promise(resolve => setTimeout(resolve, 100))
  }
  child.kill('SIGKILL')
  throw new Error(`the server did not become ready:\n${tail}`)
}

function loopbackOnly (url: string): void {
  const host = new URL(url).hostname
  if (!['127.0.0.1', 'localhost', '[::1]', '::1'].includes(host)) {
    throw new Error(`--url must be a loopback address (127.0.0.1, localhost, ::1), not ${host}: the soak sends bad traffic on purpose`)
  }
}

// ---------------------------------------------------------------------------------------------
// Data

let seed = 12345
function rand (): number {
  seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0
  return seed / 2 ** 32
}
const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)]
const rows = (n: number, dim: number): number[][] => Array.from({ length: n }, () => Array.from({ length: dim }, () => Math.fround(rand() * 2 - 1)))
const f32 = (n: number, dim: number): Buffer => Buffer.from(new Float32Array(Array.from({ length: n * dim }, () => rand() * 2 - 1)).buffer)

// ---------------------------------------------------------------------------------------------
// Requests

interface Req {
  kind: string
  method: 'GET' | 'PUT' | 'POST' | 'DELETE'
  path: string
  body?: string | Buffer
  type?: string
  accept?: string
  key?: string | null
  /** Whether a 4xx is the right answer (a bad request) or a 2xx is. */
  bad: boolean
  /** The statuses that are right when they are not simply 2xx (churn races with itself: 404s are fine). */
  expect?: number[]
}

interface Fixtures {
  translators: string[]
}

const json = (o: unknown): string => JSON.stringify(o)

function goodRequest (fx: Fixtures, n: number): Req {
  const r = rand()
  if (r < 0.22) return { kind: 'relative json', method: 'POST', path: '/v1/relative', body: json({ space: 'soak-a', anchorSet: 'soak', vectors: rows(1 + Math.floor(rand() * 16), SRC_DIM), projection: pick(['cosine', ['cosine', 'euclidean'], 'angular']), center: rand() < 0.5 }), bad: false }
  if (r < 0.34) return { kind: 'relative binary', method: 'POST', path: '/v1/relative?space=soak-a&anchorSet=soak', body: f32(1 + Math.floor(rand() * 64), SRC_DIM), type: 'application/octet-stream', accept: 'application/octet-stream', bad: false }
  if (r < 0.50) return { kind: 'translate json', method: 'POST', path: '/v1/translate', body: json({ source: 'soak-a', target: 'soak-b', translator: pick(fx.translators), vectors: rows(1 + Math.floor(rand() * 16), SRC_DIM) }), bad: false }
  if (r < 0.60) return { kind: 'translate binary', method: 'POST', path: '/v1/translate?source=soak-a&target=soak-b', body: f32(1 + Math.floor(rand() * 64), SRC_DIM), type: 'application/octet-stream', accept: 'application/x-npy', bad: false }
  if (r < 0.64) return { kind: 'evaluate', method: 'POST', path: `/v1/translators/${pick(fx.translators)}/evaluate`, body: json({ vectors: rows(8, SRC_DIM), targetVectors: rows(8, TGT_DIM), k: 3 }), bad: false }
  if (r < 0.67) return { kind: 'similarity', method: 'POST', path: '/v1/similarity', body: json({ spaces: ['soak-a', 'soak-b'], anchorSet: 'soak', k: 5 }), bad: false }
  if (r < 0.70) return { kind: 'select', method: 'POST', path: '/v1/anchor-sets/soak/select', body: json({ space: 'soak-a', k: 8, strategy: pick(['fps', 'random']) }), bad: false }
  if (r < 0.80) return { kind: 'reads', method: 'GET', path: pick(['/v1/spaces', '/v1/anchor-sets', '/v1/anchor-sets/soak', '/v1/spaces/soak-a', `/v1/translators/${pick(fx.translators)}`, '/v1/translators?source=soak-a']), bad: false }
  if (r < 0.83) return { kind: 'download', method: 'GET', path: '/v1/anchor-sets/soak/embeddings/soak-b?encodingFormat=base64', bad: false }
  // Write churn: a small set created, filled and deleted again, so the store grows and shrinks.
  const scratch = `churn-${n % 64}`
  if (r < 0.88) return { kind: 'churn set', method: 'PUT', path: `/v1/anchor-sets/${scratch}`, body: json({ ids: Array.from({ length: 32 }, (_, i) => `c${i}`) }), bad: false }
  if (r < 0.94) return { kind: 'churn upload', method: 'PUT', path: `/v1/anchor-sets/${scratch}/embeddings/soak-a`, body: f32(32, SRC_DIM), type: 'application/octet-stream', bad: false, expect: [201, 404] }
  return { kind: 'churn delete', method: 'DELETE', path: `/v1/anchor-sets/${scratch}?cascade=true`, bad: false, expect: [204, 404] }
}

function badRequest (fx: Fixtures): Req {
  const nan = f32(4, SRC_DIM)
  nan.writeUInt32LE(0x7fc00000, 4 * Math.floor(rand() * 4 * SRC_DIM))
  const v = rows(2, SRC_DIM)
  const cases: Array<() => Req> = [
    () => ({ kind: 'bad: 1e999', method: 'POST', path: '/v1/relative', body: json({ space: 'soak-a', anchorSet: 'soak', vectors: v }).replace(/-?\d\.\d+/, '1e999'), bad: true }),
    () => ({ kind: 'bad: NaN bytes', method: 'POST', path: '/v1/translate?source=soak-a&target=soak-b', body: nan, type: 'application/octet-stream', bad: true }),
    () => ({ kind: 'bad: truncated base64', method: 'POST', path: '/v1/translate', body: json({ source: 'soak-a', target: 'soak-b', vectors: { dtype: 'float32', shape: [2, SRC_DIM], data: f32(2, SRC_DIM).toString('base64').slice(0, -7) } }), bad: true }),
    () => ({ kind: 'bad: truncated npy', method: 'PUT', path: '/v1/anchor-sets/soak/embeddings/soak-a', body: Buffer.concat([Buffer.from('\x93NUMPY\x01\x00v\x00', 'latin1'), Buffer.from("{'descr': '<f4', 'fortran_order': False, 'shape': (600, 64), }".padEnd(117) + '\n'), f32(10, SRC_DIM)]), type: 'application/x-npy', bad: true }),
    () => ({ kind: 'bad: malformed JSON', method: 'POST', path: '/v1/relative', body: json({ space: 'soak-a', anchorSet: 'soak', vectors: v }).slice(0, 40), bad: true }),
    () => ({ kind: 'bad: content type', method: 'POST', path: '/v1/similarity', body: 'spaces=a,b', type: 'application/x-www-form-urlencoded', bad: true }),
    () => ({ kind: 'bad: wrong dim', method: 'POST', path: '/v1/translate', body: json({ source: 'soak-a', target: 'soak-b', vectors: rows(2, SRC_DIM + 1) }), bad: true }),
    () => ({ kind: 'bad: deep JSON', method: 'PUT', path: '/v1/spaces/soak-deep', body: '{"dim":2,"metadata":' + '{"a":'.repeat(20000) + '1' + '}'.repeat(20000) + '}', bad: true }),
    () => ({ kind: 'bad: __proto__', method: 'PUT', path: '/v1/spaces/soak-proto', body: '{"__proto__":{"admin":true},"dim":2}', bad: true }),
    () => ({ kind: 'bad: huge id', method: 'GET', path: `/v1/translators/${'x'.repeat(300)}`, bad: true }),
    () => ({ kind: 'bad: name', method: 'GET', path: '/v1/spaces/-no%20such', bad: true }),
    () => ({ kind: 'bad: no key', method: 'GET', path: '/v1/spaces', key: null, bad: true }),
    () => ({ kind: 'bad: read key writes', method: 'DELETE', path: '/v1/spaces/soak-a?cascade=true', key: 'read', bad: true }),
    () => ({ kind: 'bad: unknown translator', method: 'POST', path: '/v1/translate', body: json({ source: 'soak-a', target: 'soak-b', translator: 'no-such-id', vectors: v }), bad: true }),
    () => ({ kind: 'bad: evaluate k', method: 'POST', path: `/v1/translators/${pick(fx.translators)}/evaluate`, body: json({ vectors: v, targetVectors: rows(2, TGT_DIM), k: 9 }), bad: true })
  ]
  return pick(cases)()
}

// ---------------------------------------------------------------------------------------------
// Running

async function send (target: Target, req: Req): Promise<{ status: number, ms: number }> {
  const headers: Record<string, string> = {}
  const key = req.key === null ? undefined : req.key === 'read' ? target.read : target.write
  if (key !== undefined) headers.authorization = `Bearer ${key}`
  if (req.body !== undefined) headers['content-type'] = req.type ?? 'application/json'
  if (req.accept !== undefined) headers.accept = req.accept
  const started = performance.now()
  const res = await fetch(`${target.base}${req.path}`, { method: req.method, headers, body: req.body })
  await res.arrayBuffer()
  return { status: res.status, ms: performance.now() - started }
}

async function metric (target: Target, name: string, labels = ''): Promise<number> {
  const text = await (await fetch(`${target.base}/metrics`)).text()
  const line = text.split('\n').find(l => l.startsWith(`${name}${labels} `) || (labels === '' && l.startsWith(`${name} `)))
  return line === undefined ? NaN : Number(line.split(' ').pop())
}

async function memory (target: Target): Promise<{ rss: number, heap: number, cache: number }> {
  return {
    rss: await metric(target, 'latentbridge_process_resident_memory_bytes'),
    heap: await metric(target, 'latentbridge_nodejs_heap_size_used_bytes'),
    cache: await metric(target, 'latentbridge_translator_cache_size')
  }
}

async function setUp (target: Target): Promise<Fixtures> {
  const must = async (method: Req['method'], path: string, body?: unknown, type?: string): Promise<any> => {
    const res = await fetch(`${target.base}${path}`, {
      method,
      headers: { authorization: `Bearer ${target.write}`, ...(body !== undefined ? { 'content-type': type ?? 'application/json' } : {}) },
      body: body === undefined ? undefined : Buffer.isBuffer(body) ? body : JSON.stringify(body)
    })
    const text = await res.text()
    if (res.status >= 300) throw new Error(`set-up ${method} ${path}: ${res.status} ${text.slice(0, 300)}`)
    return text === '' ? null : JSON.parse(text)
  }
  await must('PUT', '/v1/spaces/soak-a', { dim: SRC_DIM })
  await must('PUT', '/v1/spaces/soak-b', { dim: TGT_DIM })
  await must('PUT', '/v1/anchor-sets/soak', { ids: Array.from({ length: ANCHORS }, (_, i) => `item-${i}`) })
  const x = f32(ANCHORS, SRC_DIM)
  await must('PUT', '/v1/anchor-sets/soak/embeddings/soak-a', x, 'application/octet-stream')
  // The target space: a fixed linear map of the source plus noise, so the fits mean something.
  const xs = new Float32Array(x.buffer, x.byteOffset, ANCHORS * SRC_DIM)
  const m = Array.from({ length: SRC_DIM * TGT_DIM }, () => rand() - 0.5)
  const y = new Float32Array(ANCHORS * TGT_DIM)
  for (let i = 0; i < ANCHORS; i++) {
    for (let j = 0; j < TGT_DIM; j++) {
      let s = 0.01 * (rand() - 0.5)
      for (let k = 0; k < SRC_DIM; k++) s += xs[i * SRC_DIM + k] * m[k * TGT_DIM + j]
      y[i * TGT_DIM + j] = s
    }
  }
  await must('PUT', '/v1/anchor-sets/soak/embeddings/soak-b', Buffer.from(y.buffer), 'application/octet-stream')
  const translators: string[] = []
  const methods = ['procrustes', 'linear', 'ridge', 'affine']
  for (let i = 0; i < TRANSLATORS; i++) {
    const t = await must('POST', '/v1/translators', { source: 'soak-a', target: 'soak-b', anchorSet: 'soak', method: methods[i % methods.length], scaling: i % 2 === 0 ? 'standard' : 'center', holdout: 0.1, seed: i })
    translators.push(t.id)
  }
  return { translators }
}

function percentile (sorted: Float64Array, p: number): number {
  if (sorted.length === 0) return NaN
  return sorted[Math.min(sorted.length - 1, Math.ceil(p * sorted.length) - 1)]
}

const mib = (b: number): string => `${(b / 1024 / 1024).toFixed(1)} MiB`

async function main (): Promise<void> {
  let target: Target
  if (args.url !== undefined) {
    loopbackOnly(args.url)
    if (args.key === undefined) throw new Error('--url needs --key, a write key of that server (or any string when it has no keys)')
    target = { base: args.url.replace(/\/$/, ''), write: args.key, logErrors: () => NaN }
  } else {
    target = await startServer()
  }
  try {
    const fx = await setUp(target)
    // Warm up (sessions built, caches filled) before the starting figures are taken.
    for (let i = 0; i < 200; i++) await send(target, goodRequest(fx, i))
    const start = await memory(target)
    process.stdout.write(`soak: ${args.duration} s or ${MAX_REQUESTS} requests, ${CONCURRENCY} connections, ${Math.round(BAD_SHARE * 100)}% bad requests, against ${target.base}\n`)
    process.stdout.write(`start: RSS ${mib(start.rss)}, heap used ${mib(start.heap)}, translator cache ${start.cache}\n`)

    const latencies = new Float64Array(Math.min(MAX_REQUESTS, 20_000_000))
    const byStatus = new Map<string, number>()
    const wrong = new Map<string, number>()
    let sent = 0
    let failures = 0
    const began = performance.now()
    const deadline = began + DURATION_MS
    let nextSample = began + SAMPLE_EVERY_MS
    const worker = async (): Promise<void> => {
      while (performance.now() < deadline && sent < MAX_REQUESTS) {
        const n = sent++
        const req = rand() < BAD_SHARE ? badRequest(fx) : goodRequest(fx, n)
        let status: number
        try {
          const r = await send(target, req)
          status = r.status
          latencies[n] = r.ms
        } catch (err) {
          status = 0
          failures++
          latencies[n] = NaN
          if (failures <= 5) process.stdout.write(`  request error: ${(err as Error).message}\n`)
        }
        const key = `${req.bad ? 'bad ' : 'good'} ${status}`
        byStatus.set(key, (byStatus.get(key) ?? 0) + 1)
        const right = req.expect !== undefined ? req.expect.includes(status) : req.bad ? status >= 400 && status < 500 : status >= 200 && status < 300
        if (!right) wrong.set(`${req.kind} → ${status}`, (wrong.get(`${req.kind} → ${status}`) ?? 0) + 1)
        if (performance.now() >= nextSample) {
          nextSample += SAMPLE_EVERY_MS
          const m = await memory(target)
          process.stdout.write(`  ${Math.round((performance.now() - began) / 1000)} s: ${sent} requests, RSS ${mib(m.rss)}, heap used ${mib(m.heap)}, translator cache ${m.cache}\n`)
        }
      }
    }
    await Promise.all(Array.from({ length: CONCURRENCY }, worker))
    const seconds = (performance.now() - began) / 1000
    const end = await memory(target)

    const measured = latencies.subarray(0, Math.min(sent, latencies.length)).filter(v => !Number.isNaN(v)).sort()
    process.stdout.write(`\n${sent} requests in ${seconds.toFixed(1)} s (${Math.round(sent / seconds)}/s)\n`)
    process.stdout.write('answers by status (good = should be 2xx, bad = should be 4xx):\n')
    for (const [key, count] of [...byStatus].sort()) process.stdout.write(`  ${key}: ${count}\n`)
    const fiveXX = [...byStatus].filter(([k]) => Number(k.slice(5)) >= 500).reduce((s, [, c]) => s + c, 0)
    process.stdout.write(`5xx: ${fiveXX}; connection errors: ${failures}; server error log lines: ${target.logErrors()}\n`)
    if (wrong.size > 0) {
      process.stdout.write('unexpected answers:\n')
      for (const [key, count] of [...wrong].sort((a, b) => b[1] - a[1])) process.stdout.write(`  ${key}: ${count}\n`)
    }
    process.stdout.write(`latency ms: p50 ${percentile(measured, 0.5).toFixed(2)}, p90 ${percentile(measured, 0.9).toFixed(2)}, p99 ${percentile(measured, 0.99).toFixed(2)}, max ${measured[measured.length - 1]?.toFixed(2)}\n`)
    process.stdout.write(`RSS: start ${mib(start.rss)}, end ${mib(end.rss)} (${end.rss >= start.rss ? '+' : ''}${mib(end.rss - start.rss)}); heap used: start ${mib(start.heap)}, end ${mib(end.heap)}; translator cache: ${end.cache} (bound 4)\n`)
    const evictions = await metric(target, 'latentbridge_translator_cache_evictions_total')
    const hits = await metric(target, 'latentbridge_translator_cache_hits_total')
    const shed = await metric(target, 'latentbridge_overload_rejections_total')
    process.stdout.write(`translator cache: ${hits} hits, ${evictions} evictions; overload rejections: ${Number.isNaN(shed) ? 0 : shed}\n`)
    if (fiveXX > 0 || wrong.size > 0 || failures > 0) process.exitCode = 1
  } finally {
    if (target.child !== undefined) {
      const exited = new Promise(resolve => target.child!.once('exit', resolve))
      target.child.kill('SIGTERM')
      await exited
    }
  }
}

await main()
