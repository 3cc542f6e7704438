import { spawn, type ChildProcess } from 'node:child_process'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { FastifyInstance } from 'fastify'
import { rowsOf, values } from './data.js'

export { rowsOf, values }

/*
 * Real service processes for the scale-out tests (replicas, graceful shutdown), and a small HTTP
 * client that works the same over a socket and over Fastify's inject.
 */

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..')

const running = new Set<ChildProcess>()
// Last resort if a test run dies before its teardown: never leave a service process behind.
process.once('exit', () => { for (const child of running) child.kill('SIGKILL') })

export interface LogLine {
  level?: number
  msg?: string
  time?: number
  [key: string]: unknown
}

export interface ServiceProcess {
  /** http://127.0.0.1:<port> */
  url: string
  port: number
  pid: number
  /** Its JSON log lines so far. */
  logs: () => LogLine[]
  stderr: () => string
  /** Resolves when it has exited. */
  exited: Promise<{ code: number | null, signal: NodeJS.Signals | null, at: number }>
  signal: (signal: NodeJS.Signals) => void
  /** SIGTERM, SIGKILL after `graceMs` (default 10 s); resolves once it has exited. */
  stop: (graceMs?: number) => Promise<void>
}

/**
 * Starts `node --import tsx src/server.ts` with a clean environment plus `env` (PORT 0: the port
 * is read from its "Server listening" log line), and resolves once /readyz answers 200. One
 * engine worker with one thread, so that every process computes bit-identical results.
 */
export async function startService (env: Record<string, string>, opts: { readyTimeoutMs?: number } = {}): Promise<ServiceProcess> {
  const base: Record<string, string> = {}
  for (const name of ['PATH', 'HOME', 'TMPDIR', 'LANG', 'TZ']) {
    const value = process.env[name]
    if (value !== undefined) base[name] = value
  }
  const child = spawn(process.execPath, ['--import', 'tsx', join('src', 'server.ts')], {
    cwd: root,
    env: {
      ...base,
      NODE_ENV: 'production',
      HOST: '127.0.0.1',
      PORT: '0',
      LOG_LEVEL: 'info',
      ENGINE_WORKERS: '1',
      ENGINE_THREADS: '1',
      DOCS_ENABLED: 'false',
      // Fits stay synchronous unless a test sets ASYNC_AFTER_MS.
      ASYNC_AFTER_MS: '86400000',
      ...env
    },
    stdio: ['ignore', 'pipe', 'pipe']
  })
  running.add(child)
  // 'close', not 'exit': 'exit' can come before the last lines of stdout have been read, and
  // the tests read the log once the process has ended.
  const exited = new Promise<{ code: number | null, signal: NodeJS.Signals | null, at: number }>(resolve => {
    child.once('close', (code, signal) => {
      running.delete(child)
      resolve({ code, signal, at: Date.now() })
    })
  })
  const lines: LogLine[] = []
  let partial = ''
  let stderr = ''
  let port = 0
  child.stdout?.on('data', (chunk: Buffer) => {
    partial += chunk.toString()
    const complete = partial.split('\n')
    partial = complete.pop() ?? ''
    for (const text of complete) {
      if (text.trim() === '') continue
      try {
        const line = JSON.parse(text) as LogLine
        lines.push(line)
        const match = typeof line.msg === 'string' ? /^Server listening at http:\/\/127\.0\.0\.1:(\d+)/.exec(line.msg) : null
        if (match !== null && port === 0) port = Number(match[1])
      } catch {
        lines.push({ msg: text })
      }
    }
  })
  child.stderr?.on('data', (chunk: Buffer) => { stderr = (stderr + chunk.toString()).slice(-20_000) })

  const stop = async (graceMs = 10_000): Promise<void> => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM')
      const timer = setTimeout(() => child.kill('SIGKILL'), graceMs)
      await exited
      clearTimeout(timer)
    }
  }

  const deadline = Date.now() + (opts.readyTimeoutMs ?? 60_000)
  let exitedEarly = false
  void exited.then(() => { exitedEarly = true })
  try {
    for (;;) {
      if (exitedEarly) throw new Error(`the service exited while starting:\n${stderr}\n${lines.map(l => JSON.stringify(l)).join('\n')}`)
      if (Date.now() > deadline) throw new Error(`the service was not ready in time:\n${stderr}`)
      if (port !== 0) {
        const ready = await fetch(`http://127.0.0.1:${port}/readyz`).then(r => r.status === 200, () => false)
        if (ready) break
      }
      await new Promise(resolve => setTimeout(resolve, 50))
    }
  } catch (err) {
    child.kill('SIGKILL')
    await exited
    throw err
  }
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    pid: child.pid ?? 0,
    logs: () => lines,
    stderr: () => stderr,
    exited,
    signal: signal => { child.kill(signal) },
    stop
  }
}

export interface ApiResponse {
  status: number
  headers: Record<string, string | string[] | undefined>
  body: any
  raw: Buffer
}

/** One way to call the API: over HTTP or through inject. */
export type Api = (method: string, url: string, payload?: object | Buffer, headers?: Record<string, string>) => Promise<ApiResponse>

function parse (raw: Buffer, contentType: string | undefined): any {
  if (contentType === undefined || !/json/.test(contentType) || raw.length === 0) return undefined
  return JSON.parse(raw.toString('utf8'))
}

export function httpApi (baseUrl: string): Api {
  return async (method, url, payload, headers = {}) => {
    const binary = Buffer.isBuffer(payload)
    const res = await fetch(baseUrl + url, {
      method,
      headers: { ...(payload !== undefined ? { 'content-type': binary ? 'application/octet-stream' : 'application/json' } : {}), ...headers },
      body: payload === undefined ? undefined : binary ? new Uint8Array(payload) : JSON.stringify(payload)
    })
    const raw = Buffer.from(await res.arrayBuffer())
    const out: Record<string, string> = {}
    res.headers.forEach((value, key) => { out[key] = value })
    return { status: res.status, headers: out, body: parse(raw, out['content-type']), raw }
  }
}

export function injectApi (app: FastifyInstance): Api {
  return async (method, url, payload, headers = {}) => {
    const binary = Buffer.isBuffer(payload)
    const res = await app.inject({
      method: method as 'GET',
      url,
      headers: { ...(binary ? { 'content-type': 'application/octet-stream' } : {}), ...headers },
      ...(payload !== undefined ? { payload } : {})
    })
    const contentType = res.headers['content-type']
    const out: Record<string, string | string[] | undefined> = {}
    for (const [key, value] of Object.entries(res.headers)) out[key] = typeof value === 'number' ? String(value) : value
    return { status: res.statusCode, headers: out, body: parse(res.rawPayload, typeof contentType === 'string' ? contentType : undefined), raw: res.rawPayload }
  }
}


export const SOURCE_DIM = 8
export const TARGET_DIM = 6

/** Source rows X and target rows Y = X·M + 0.5 + noise (float32, row-major), `rows` of each. */
export function pairData (rows: number, seed: number): { x: Float32Array, y: Float32Array } {
  const x = values(rows * SOURCE_DIM, seed)
  const m = values(SOURCE_DIM * TARGET_DIM, seed + 1)
  const noise = values(rows * TARGET_DIM, seed + 2)
  const y = new Float32Array(rows * TARGET_DIM)
  for (let i = 0; i < rows; i++) {
    for (let j = 0; j < TARGET_DIM; j++) {
      let v = 0.5 + 0.01 * noise[i * TARGET_DIM + j]
      for (let k = 0; k < SOURCE_DIM; k++) v += x[i * SOURCE_DIM + k] * m[k * TARGET_DIM + j]
      y[i * TARGET_DIM + j] = v
    }
  }
  return { x, y }
}

export function bytes (values: Float32Array): Buffer {
  return Buffer.from(values.buffer, values.byteOffset, values.byteLength)
}


/** Spaces `source` (dim 8) and `target` (dim 6), set `set` of `rows` ids, both spaces' embeddings uploaded. */
export async function setUpPair (api: Api, names: { source: string, target: string, set: string }, rows = 80, seed = 11): Promise<{ x: Float32Array, y: Float32Array }> {
  const data = pairData(rows, seed)
  const ok = async (res: Promise<ApiResponse>, what: string): Promise<void> => {
    const r = await res
    if (r.status >= 300) throw new Error(`${what}: ${r.status} ${r.raw.toString()}`)
  }
  const enc = encodeURIComponent
  await ok(api('PUT', `/v1/spaces/${enc(names.source)}`, { dim: SOURCE_DIM }), 'source space')
  await ok(api('PUT', `/v1/spaces/${enc(names.target)}`, { dim: TARGET_DIM }), 'target space')
  await ok(api('PUT', `/v1/anchor-sets/${enc(names.set)}`, { ids: Array.from({ length: rows }, (_, i) => `item-${i}`) }), 'anchor set')
  await ok(api('PUT', `/v1/anchor-sets/${enc(names.set)}/embeddings/${enc(names.source)}`, bytes(data.x)), 'source embeddings')
  await ok(api('PUT', `/v1/anchor-sets/${enc(names.set)}/embeddings/${enc(names.target)}`, bytes(data.y)), 'target embeddings')
  return data
}
