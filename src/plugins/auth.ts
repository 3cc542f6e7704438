import { createHash, timingSafeEqual } from 'node:crypto'
import type { FastifyInstance, FastifyRequest } from 'fastify'
import fp from 'fastify-plugin'
import type { ApiKey } from '../config.js'
import { ProblemError } from '../errors.js'

/**
 * Bearer API keys with a scope (docs/operations.md §8.1). `read` keys may call GET routes and the
 * compute routes (which mark themselves with `config: { scope: 'read' }`); `write` keys may call
 * everything. Operational routes (outside /v1) never need a key.
 */

declare module 'fastify' {
  interface FastifyContextConfig {
    scope?: 'read' | 'write'
  }
}

const digest = (s: string): Buffer => createHash('sha256').update(s).digest()

async function auth (app: FastifyInstance, opts: { keys: ApiKey[] }): Promise<void> {
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
    if (!request.url.startsWith('/v1/') && request.url !== '/v1') return
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
    const needed = request.routeOptions.config?.scope ?? (request.method === 'GET' || request.method === 'HEAD' ? 'read' : 'write')
    if (needed === 'write' && scope !== 'write') {
      throw new ProblemError('forbidden', `this route changes stored state and needs a key with the write scope; the key sent has the read scope`)
    }
  })
}

export default fp(auth, { name: 'auth' })
