import os from 'node:os'
import { z } from 'zod'

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

const cores = Math.max(1, os.availableParallelism?.() ?? os.cpus().length)

export const configSchema = z.object({
  PORT: int(0, 65535).default(8080),
  HOST: z.string().min(1).default('0.0.0.0'),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  BODY_LIMIT: int(1024, 2 ** 31 - 1).default(64 * MiB),
  REDIS_URL: z.string().url().optional(),
  REDIS_KEY_PREFIX: z.string().regex(/^[A-Za-z0-9._-]{1,64}$/, 'letters, digits, dot, underscore or dash, at most 64').default('latentbridge'),
  EXECUTION_PROVIDERS: providerList.default(['cpu']),
  EXECUTION_PROVIDERS_STRICT: bool.default(false),
  ENGINE_WORKERS: int(0, 64).default(Math.min(cores, 2)),
  ENGINE_THREADS: int(1, 256).default(Math.max(1, Math.floor(cores / Math.min(cores, 2)))),
  ENGINE_ROW_BUDGET: int(1, 10_000_000).default(8192),
  ENGINE_SESSION_CACHE: int(1, 10_000).default(32),
  TRANSLATOR_CACHE: int(1, 100_000).default(64),
  API_KEYS: apiKeys.default([]),
  DOCS_ENABLED: bool.default(true),
  MAX_ROWS_PER_REQUEST: int(1, 100_000_000).default(100_000),
  MAX_ANCHORS_PER_SET: int(1, 10_000_000).default(100_000),
  MAX_DIM: int(1, 1_000_000).default(16_384)
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
  if (result.success) return result.data
  const lines = result.error.issues.map(issue => {
    const name = String(issue.path[0] ?? '(environment)')
    const shown = name === 'API_KEYS' ? '(hidden)' : JSON.stringify(present[name] ?? '')
    return `${name}=${shown}: ${issue.message}`
  })
  throw new ConfigError(`invalid configuration:\n  ${lines.join('\n  ')}`)
}
