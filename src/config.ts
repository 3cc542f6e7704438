import { readFileSync } from 'node:fs'
import { totalmem } from 'node:os'
import v8 from 'node:v8'
import { z } from 'zod'
import { defaultThreadLayout } from './engine/defaults.js'

/**
 * Configuration comes from environment variables only, validated once at start-up. A bad value
 * stops the process with a message naming the variable, what it holds and what it should hold.
 */

const MiB = 1024 * 1024

const bool = z.enum(['true', 'false', '1', '0', 'yes', 'no']).transform(v => v === 'true' || v === '1' || v === 'yes')
const int = (min: number, max: number) => z.coerce.number().int().min(min).max(max)
const providerList = z.string().transform((s, ctx) => {
  const list = s.split(',').map(p => p.trim().toLowerCase()).filter(p => p !== '')
  const known = ['cpu', 'cuda', 'tensorrt']
  const bad = list.filter(p => !known.includes(p))
  if (bad.length > 0) {
    ctx.addIssue({ code: 'custom', message: `unknown execution provider ${bad.map(b => `"${b}"`).join(', ')}; use a comma-separated list of ${known.join(', ')}` })
    return z.NEVER
  }
  return list.length === 0 ? ['cpu'] : list
})

export interface ApiKey {
  key: string
  scope: 'read' | 'write'
}

const apiKeys = z.string().transform((s, ctx) => {
  const keys: ApiKey[] = []
  for (const entry of s.split(',').map(e => e.trim()).filter(e => e !== '')) {
    const i = entry.lastIndexOf(':')
    const scope = i > 0 ? entry.slice(i + 1) : 'write'
    const key = i > 0 ? entry.slice(0, i) : entry
    if (scope !== 'read' && scope !== 'write') {
      ctx.addIssue({ code: 'custom', message: `an entry has scope "${scope}"; each entry is key or key:read or key:write` })
      return z.NEVER
    }
    if (key.length < 8) {
      ctx.addIssue({ code: 'custom', message: 'an API key is shorter than 8 characters; use long random keys' })
      return z.NEVER
    }
    keys.push({ key, scope })
  }
  return keys
})

/** `*` (any origin) or a comma-separated list of origins such as https://app.example.com. */
const corsOrigins = z.string().transform((s, ctx) => {
  const list = s.split(',').map(o => o.trim()).filter(o => o !== '')
  if (list.includes('*')) return '*' as const
  const bad = list.filter(o => !/^https?:\/\/[^/\s]+$/.test(o))
  if (bad.length > 0 || list.length === 0) {
    ctx.addIssue({ code: 'custom', message: `${bad.length > 0 ? `${bad.map(b => JSON.stringify(b)).join(', ')} is not an origin` : 'no origin given'}; use * or a comma-separated list of origins like https://app.example.com (scheme, host and optional port, no path)` })
    return z.NEVER
  }
  return list
})

/** Entries of an API key file: one per line or comma-separated; blank lines and lines starting with # are skipped. */
function readApiKeysFile (path: string): { keys: ApiKey[] } | { error: string } {
  let text: string
  try {
    text = readFileSync(path, 'utf8')
  } catch (err) {
    return { error: `cannot be read (${(err as NodeJS.ErrnoException).code ?? (err as Error).message}); name a readable file holding key:scope entries` }
  }
  const entries = text.split(/\r?\n/).map(l => l.trim()).filter(l => l !== '' && !l.startsWith('#')).join(',')
  const parsed = apiKeys.safeParse(entries)
  if (!parsed.success) return { error: parsed.error.issues.map(i => i.message).join('; ') }
  if (parsed.data.length === 0) return { error: 'holds no key; write one key:scope entry per line' }
  return { keys: parsed.data }
}

export interface HostPort {
  host: string
  port: number
}

/** `host:port,host:port` (IPv6 hosts in brackets) for Redis Cluster nodes and Sentinels. */
const hostPortList = z.string().transform((s, ctx) => {
  const out: HostPort[] = []
  for (const entry of s.split(',').map(e => e.trim()).filter(e => e !== '')) {
    const match = /^(\[[0-9A-Fa-f:.]+\]|[^:\s[\]]+):(\d{1,5})$/.exec(entry)
    const port = match === null ? NaN : Number(match[2])
    if (match === null || port < 1 || port > 65535) {
      ctx.addIssue({ code: 'custom', message: `"${entry}" is not host:port; give a comma-separated list such as redis-0.redis:6379,redis-1.redis:6379` })
      return z.NEVER
    }
    out.push({ host: match[1].replace(/^\[|\]$/g, ''), port })
  }
  if (out.length === 0) {
    ctx.addIssue({ code: 'custom', message: 'no host:port given; give a comma-separated list such as redis-0.redis:6379,redis-1.redis:6379' })
    return z.NEVER
  }
  return out
})

/** Variables whose values never appear in error messages. */
const SECRET_VARIABLES = new Set(['API_KEYS', 'REDIS_PASSWORD', 'REDIS_SENTINEL_PASSWORD'])


export const configSchema = z.object({
  PORT: int(0, 65535).default(8080),
  HOST: z.string().min(1).default('0.0.0.0'),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  BODY_LIMIT: int(1024, 2 ** 31 - 1).default(64 * MiB),
  REDIS_URL: z.string().url().optional(),
  REDIS_KEY_PREFIX: z.string().regex(/^[A-Za-z0-9._-]{1,64}$/, 'letters, digits, dot, underscore or dash, at most 64').default('latentbridge'),
  // Redis Cluster or Sentinel instead of REDIS_URL (at most one of the three), and Redis tuning.
  REDIS_CLUSTER_NODES: hostPortList.optional(),
  REDIS_SENTINELS: hostPortList.optional(),
  REDIS_SENTINEL_NAME: z.string().regex(/^[A-Za-z0-9._-]{1,128}$/, 'letters, digits, dot, underscore or dash').default('mymaster'),
  REDIS_SENTINEL_USERNAME: z.string().min(1).optional(),
  REDIS_SENTINEL_PASSWORD: z.string().min(1).optional(),
  REDIS_USERNAME: z.string().min(1).optional(),
  REDIS_PASSWORD: z.string().min(1).optional(),
  REDIS_TLS: bool.default(false),
  REDIS_CONNECT_TIMEOUT_MS: int(100, 600_000).default(5000),
  REDIS_COMMAND_TIMEOUT_MS: int(100, 600_000).default(5000),
  // While Redis is known down (the store's circuit breaker is open), how often it is pinged for its return.
  STORE_BREAKER_PROBE_INTERVAL_MS: int(10, 60_000).default(500),
  SHUTDOWN_TIMEOUT_MS: int(0, 600_000).default(10_000),
  EXECUTION_PROVIDERS: providerList.default(['cpu']),
  EXECUTION_PROVIDERS_STRICT: bool.default(false),
  ENGINE_WORKERS: int(0, 64).default(defaultThreadLayout().workers),
  ENGINE_THREADS: int(1, 256).default(defaultThreadLayout().intraOpThreads),
  ENGINE_ROW_BUDGET: int(1, 10_000_000).default(8192),
  ENGINE_SESSION_CACHE: int(1, 10_000).default(64),
  TRANSLATOR_CACHE: int(1, 100_000).default(64),
  API_KEYS: apiKeys.default([]),
  DOCS_ENABLED: bool.default(true),
  MAX_ROWS_PER_REQUEST: int(1, 100_000_000).default(100_000),
  MAX_ANCHORS_PER_SET: int(1, 10_000_000).default(100_000),
  MAX_DIM: int(1, 1_000_000).default(16_384),
  // Production hardening (issue 6): key file, CORS, overload, timeouts, metrics port, stored bytes.
  API_KEYS_FILE: z.string().min(1).optional(),
  CORS_ORIGINS: corsOrigins.optional(),
  MAX_SET_BYTES: int(1, Number.MAX_SAFE_INTEGER).default(1024 * MiB),
  MAX_METADATA_BYTES: int(2, 16 * MiB).default(64 * 1024),
  MAX_EVENT_LOOP_DELAY_MS: int(0, 3_600_000).default(2000),
  MAX_HEAP_USED_BYTES: int(0, Number.MAX_SAFE_INTEGER).default(Math.floor(v8.getHeapStatistics().heap_size_limit * 0.9)),
  MAX_RSS_BYTES: int(0, Number.MAX_SAFE_INTEGER).default(0),
  PRESSURE_SAMPLE_INTERVAL_MS: int(50, 60_000).default(1000),
  PRESSURE_RETRY_AFTER_S: int(1, 3600).default(10),
  CONNECTION_TIMEOUT_MS: int(0, 86_400_000).default(120_000),
  REQUEST_TIMEOUT_MS: int(0, 86_400_000).default(300_000),
  KEEP_ALIVE_TIMEOUT_MS: int(1, 86_400_000).default(10_000),
  HANDLER_TIMEOUT_MS: int(0, 86_400_000).default(300_000),
  ENGINE_PROBE_INTERVAL_MS: int(0, 3_600_000).default(5000),
  ENGINE_PROBE_TIMEOUT_MS: int(1, 600_000).default(5000),
  // Micro-batching and the compute queue (issue 5).
  BATCH_WINDOW_MS: z.coerce.number().min(0).max(1000).default(1),
  BATCH_MAX_ROWS: int(1, 1_000_000).default(256),
  QUEUE_MAX_ROWS: int(1, 100_000_000).default(200_000),
  QUEUE_RETRY_AFTER_S: int(1, 3600).default(1),
  METRICS_PORT: int(1, 65535).optional(),
  METRICS_HOST: z.string().min(1).optional(),
  // Large JSON bodies: how many are read and parsed at once, and how many may wait (issue 13).
  LARGE_JSON_BYTES: int(1024, 2 ** 31 - 1).default(1 * MiB),
  LARGE_JSON_CONCURRENCY: int(1, 1024).default(2),
  LARGE_JSON_QUEUE: int(0, 100_000).default(64),
  // Work budgets (issue 13): estimated memory and time of fits, refinements, evaluations, similarity, select.
  WORK_MEMORY_BYTES: int(MiB, Number.MAX_SAFE_INTEGER).default(Math.floor(Math.min(4096 * MiB, totalmem() * 0.25))),
  WORK_TIME_MS: int(1, 86_400_000).default(120_000),
  WORK_RETRY_AFTER_S: int(1, 3600).default(5),
  MAX_TRANSLATOR_BYTES: int(1, Number.MAX_SAFE_INTEGER).default(512 * MiB),
  // Long work as operations (issue 15): workers, retention, queue bound, idempotency, stall detection.
  FIT_CONCURRENCY: int(1, 64).default(1),
  ASYNC_AFTER_MS: int(0, 86_400_000).default(5000),
  OPERATION_TTL_S: int(1, 365 * 86_400).default(86_400),
  OPERATIONS_MAX_QUEUED: int(1, 1_000_000).default(100),
  OPERATIONS_RETRY_AFTER_S: int(1, 3600).default(10),
  IDEMPOTENCY_TTL_S: int(1, 365 * 86_400).default(86_400),
  OPERATION_ATTEMPTS: int(1, 100).default(3),
  OPERATION_LOCK_MS: int(500, 3_600_000).default(30_000),
  OPERATION_STALLED_INTERVAL_MS: int(100, 3_600_000).default(30_000),
  OPERATION_MAX_STALLED: int(0, 100).default(1)
}).superRefine((c, ctx) => {
  const given = (['REDIS_URL', 'REDIS_CLUSTER_NODES', 'REDIS_SENTINELS'] as const).filter(name => c[name] !== undefined)
  for (const name of given.slice(1)) {
    ctx.addIssue({ code: 'custom', path: [name], message: `${given.join(' and ')} are all set; set only one of REDIS_URL (one Redis), REDIS_CLUSTER_NODES (Redis Cluster) and REDIS_SENTINELS (Redis Sentinel)` })
  }
  if (c.QUEUE_MAX_ROWS < c.MAX_ROWS_PER_REQUEST) {
    ctx.addIssue({ code: 'custom', path: ['QUEUE_MAX_ROWS'], message: `is below MAX_ROWS_PER_REQUEST (${c.MAX_ROWS_PER_REQUEST}), so a request within that limit could never be queued; set QUEUE_MAX_ROWS to at least MAX_ROWS_PER_REQUEST` })
  }
  if (c.REDIS_TLS && c.REDIS_URL !== undefined) {
    ctx.addIssue({ code: 'custom', path: ['REDIS_TLS'], message: 'with REDIS_URL, ask for TLS with the rediss:// scheme instead' })
  }
})

export type Config = z.output<typeof configSchema>

export class ConfigError extends Error {
  constructor (message: string) {
    super(message)
    this.name = 'ConfigError'
  }
}

/** Parses the environment; throws ConfigError naming every bad variable. */
export function loadConfig (env: NodeJS.ProcessEnv = process.env): Config {
  // Empty strings count as unset, so `REDIS_URL=` in a compose file means "embedded store".
  const present = Object.fromEntries(Object.entries(env).filter(([, v]) => v !== undefined && v !== ''))
  const result = configSchema.safeParse(present)
  if (result.success) {
    // Keys from a file (read once, here, at start-up) join those of API_KEYS.
    if (result.data.API_KEYS_FILE === undefined) return result.data
    const fromFile = readApiKeysFile(result.data.API_KEYS_FILE)
    if ('error' in fromFile) {
      throw new ConfigError(`invalid configuration:\n  API_KEYS_FILE=${JSON.stringify(result.data.API_KEYS_FILE)}: ${fromFile.error}`)
    }
    return { ...result.data, API_KEYS: [...result.data.API_KEYS, ...fromFile.keys] }
  }
  const lines = result.error.issues.map(issue => {
    const name = String(issue.path[0] ?? '(environment)')
    const shown = SECRET_VARIABLES.has(name)
      ? '(hidden)'
      : JSON.stringify(name === 'REDIS_URL' ? (present[name] ?? '').replace(/\/\/[^@/]*@/, '//***@') : present[name] ?? '')
    return `${name}=${shown}: ${issue.message}`
  })
  throw new ConfigError(`invalid configuration:\n  ${lines.join('\n  ')}`)
}
