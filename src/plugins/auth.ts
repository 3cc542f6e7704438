import { createHash, timingSafeEqual } from 'node:crypto'
import type { FastifyInstance, FastifyRequest, RouteOptions } from 'fastify'
import fp from 'fastify-plugin'
import type { ApiKey } from '../config.js'
import { ProblemError } from '../errors.js'

/**
 * Bearer API keys with a scope (docs/operations.md §8.1). Every route declares the scope it needs in its own definition,
 * `config: { scope }`: `read` (GET routes and the compute routes), `write` (routes that change
 * stored state) or `none` (operational routes and the documentation). Access is decided on the
 * route the router matched, never on the URL: the router decodes and resolves the request target
 * (percent-encodings, absolute form) before it matches, so a check on the raw URL can be walked
 * around by spelling the same route another way.
 */

export type Scope = 'read' | 'write' | 'none'
const SCOPES: readonly Scope[] = ['read', 'write', 'none']

declare module 'fastify' {
  interface FastifyContextConfig {
    scope?: Scope
  }
}

const digest = (s: string): Buffer => createHash('sha256').update(s).digest()

async function auth (app: FastifyInstance, opts: { keys: ApiKey[] }): Promise<void> {
  // A route that forgets its scope stops start-up, keys or not, so the omission shows in every
  // test run rather than as an open or a locked route in production. The check waits for ready:
  // a context's own onRoute hooks (the documentation's, which fill in `none`) run after this one.
  const declared: RouteOptions[] = []
  app.addHook('onRoute', route => { declared.push(route) })
  app.addHook('onReady', async () => {
    const undeclared = declared.filter(r => !SCOPES.includes(r.config?.scope as Scope))
    declared.length = 0
    if (undeclared.length > 0) {
      const names = undeclared.map(r => `${String(r.method)} ${r.url}${r.config?.scope !== undefined ? ` (scope ${JSON.stringify(r.config.scope)})` : ''}`)
      throw new Error(`routes without a valid access scope: ${names.join(', ')}; give each one config: { scope: 'read' | 'write' | 'none' }`)
    }
  })

  if (opts.keys.length === 0) {
    app.log.warn('API_KEYS and API_KEYS_FILE are not set: every /v1 route is open to anyone who can reach this port')
    return
  }
  // How many, never which: keys stay out of the logs.
  app.log.info({ read: opts.keys.filter(k => k.scope === 'read').length, write: opts.keys.filter(k => k.scope === 'write').length }, 'API keys loaded')
  // Compare fixed-length digests in constant time, and try every key, so timing tells nothing.
  const keys = opts.keys.map(k => ({ digest: digest(k.key), scope: k.scope }))
  const scopeOf = (presented: string): 'read' | 'write' | null => {
    const d = digest(presented)
    let found: 'read' | 'write' | null = null
    for (const k of keys) {
      if (timingSafeEqual(d, k.digest) && found !== 'write') found = k.scope
    }
    return found
  }

  app.addHook('onRequest', async (request: FastifyRequest) => {
    // No route matched: the not-found handler answers no-route, with or without a key.
    if (request.is404) return
    // Deny by default: a route outside the start-up check (registered before this plugin, as the
    // CORS preflight route is; the CORS hook answers preflights before this one) that declares
    // nothing needs the write scope.
    const needed = request.routeOptions.config.scope ?? 'write'
    if (needed === 'none') return
    const header = request.headers.authorization
    const match = typeof header === 'string' ? /^Bearer\s+(\S+)\s*$/i.exec(header) : null
    if (match === null) {
      throw new ProblemError('unauthenticated', 'this route needs an API key: send the header "Authorization: Bearer <key>"', {
        headers: { 'www-authenticate': 'Bearer realm="latentbridge"' }
      })
    }
    const scope = scopeOf(match[1])
    if (scope === null) {
      throw new ProblemError('unauthenticated', 'the API key is not valid', { headers: { 'www-authenticate': 'Bearer realm="latentbridge", error="invalid_token"' } })
    }
    if (needed === 'write' && scope !== 'write') {
      throw new ProblemError('forbidden', 'this route changes stored state and needs a key with the write scope; the key sent has the read scope')
    }
  })
}

export default fp(auth, { name: 'auth' })
