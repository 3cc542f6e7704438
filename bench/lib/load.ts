/**
 * A bounded load run with autocannon: every response's latency is kept, so runs of one side made
 * in several interleaved slices are pooled into exact percentiles (not an average of slices').
 */
import { readFileSync } from 'node:fs'
import http from 'node:http'
import autocannon from 'autocannon'

export interface LoadSpec {
  url: string
  method?: 'POST' | 'GET'
  headers?: Record<string, string>
  body?: Buffer | string
  connections: number
  seconds: number
}

export interface LoadSample {
  /** Latency of each 2xx response, ms. */
  latencies: number[]
  /** Responses that were not 2xx, and socket errors or timeouts. */
  failed: number
  seconds: number
}

export async function runLoad (spec: LoadSpec): Promise<LoadSample> {
  const latencies: number[] = []
  let failed = 0
  const started = performance.now()
  await new Promise<void>((resolve, reject) => {
    const instance = autocannon({
      url: spec.url,
      method: spec.method ?? 'POST',
      headers: spec.headers,
      body: spec.body,
      connections: spec.connections,
      duration: spec.seconds,
      timeout: 30
    }, (err, result) => {
      if (err !== null) reject(err)
      else {
        failed += result.errors + result.timeouts
        resolve()
      }
    })
    instance.on('response', (_client, status, _bytes, ms) => {
      if (status >= 200 && status < 300) latencies.push(ms)
      else failed++
    })
  })
  return { latencies, failed, seconds: (performance.now() - started) / 1000 }
}

/** Several samples of one side pooled: req/s over their summed time, exact percentiles. */
export interface LoadSummary { requests: number, reqPerS: number, p50: number, p99: number, failed: number, seconds: number }

export function summarize (samples: LoadSample[]): LoadSummary {
  const all = samples.flatMap(s => s.latencies).sort((a, b) => a - b)
  const seconds = samples.reduce((s, x) => s + x.seconds, 0)
  const at = (q: number): number => all.length === 0 ? NaN : all[Math.min(all.length - 1, Math.floor(q * all.length))]
  return {
    requests: all.length,
    reqPerS: all.length / seconds,
    p50: at(0.5),
    p99: at(0.99),
    failed: samples.reduce((s, x) => s + x.failed, 0),
    seconds
  }
}

export const fmt = (n: number, digits = 0): string => n.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits })

/** CPU time (ms) a process has used so far, from /proc (Linux); undefined elsewhere. */
function cpuMs (pid: number): number | undefined {
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ')
    // utime and stime, fields 14 and 15 of stat (11 and 12 after the command name), in clock ticks.
    return (Number(fields[11]) + Number(fields[12])) * 10
  } catch {
    return undefined
  }
}

/**
 * Waits until the given processes stop using CPU (at most `maxMs`): a server may still be working
 * through requests queued in its last slice, which would slow the next slice of another side.
 */
export async function settle (pids: number[], maxMs = 15_000): Promise<void> {
  const until = performance.now() + maxMs
  let last = pids.map(cpuMs)
  while (performance.now() < until) {
    await new Promise(resolve => setTimeout(resolve, 250))
    const now = pids.map(cpuMs)
    const busy = now.some((v, i) => v !== undefined && last[i] !== undefined && v - (last[i] as number) > 20)
    last = now
    if (!busy) return
  }
}

/**
 * The same closed loop with node:http (keep-alive agent, `connections` requests in flight, each
 * sent as soon as the previous answer on its connection is read). For servers autocannon's
 * client stalls against: Werkzeug (Flask's server) answered autocannon's second request on a
 * connection only after long stalls (about 2 requests per connection in 4 s), but serves this
 * client at full speed.
 */
export async function runHttpLoad (spec: LoadSpec): Promise<LoadSample> {
  const url = new URL(spec.url)
  const agent = new http.Agent({ keepAlive: true, maxSockets: spec.connections })
  const body = typeof spec.body === 'string' ? Buffer.from(spec.body) : spec.body ?? Buffer.alloc(0)
  const headers = { ...spec.headers, 'content-length': String(body.length) }
  const latencies: number[] = []
  let failed = 0
  const started = performance.now()
  const until = started + spec.seconds * 1000
  const one = async (): Promise<void> => await new Promise(resolve => {
    const t0 = performance.now()
    const req = http.request(url, { method: spec.method ?? 'POST', agent, headers }, res => {
      res.on('data', () => {})
      res.on('end', () => {
        const status = res.statusCode ?? 0
        if (status >= 200 && status < 300) latencies.push(performance.now() - t0)
        else failed++
        resolve()
      })
      res.on('error', () => { failed++; resolve() })
    })
    req.setTimeout(30_000, () => { req.destroy() })
    req.on('error', () => { failed++; resolve() })
    req.end(body)
  })
  await Promise.all(Array.from({ length: spec.connections }, async () => {
    while (performance.now() < until) await one()
  }))
  agent.destroy()
  return { latencies, failed, seconds: (performance.now() - started) / 1000 }
}

/**
 * The same closed loop through fetch (undici, the client most Node services call with): each of
 * `connections` loops sends its next request as soon as the previous answer is read, so undici
 * holds that many keep-alive connections to the origin.
 */
export async function runFetchLoad (spec: LoadSpec): Promise<LoadSample> {
  const body = typeof spec.body === 'string' ? Buffer.from(spec.body) : spec.body
  const latencies: number[] = []
  let failed = 0
  const started = performance.now()
  const until = started + spec.seconds * 1000
  const one = async (): Promise<void> => {
    const t0 = performance.now()
    try {
      const res = await fetch(spec.url, { method: spec.method ?? 'POST', headers: spec.headers, body: spec.method === 'GET' ? undefined : body, signal: AbortSignal.timeout(30_000) })
      await res.arrayBuffer()
      if (res.ok) latencies.push(performance.now() - t0)
      else failed++
    } catch {
      failed++
    }
  }
  await Promise.all(Array.from({ length: spec.connections }, async () => {
    while (performance.now() < until) await one()
  }))
  return { latencies, failed, seconds: (performance.now() - started) / 1000 }
}
