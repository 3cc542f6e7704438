import cors from '@fastify/cors'
import type { FastifyInstance } from 'fastify'
import fp from 'fastify-plugin'

/**
 * Cross-origin requests from browsers: off (no CORS headers at all, so browsers refuse other
 * origins' scripts) unless CORS_ORIGINS names the origins allowed, or `*`. Preflights are answered
 * before authentication, as browsers send them without the Authorization header. Credentials
 * (cookies) are never allowed: the API authenticates with bearer keys only.
 */
async function corsPlugin (app: FastifyInstance, opts: { origins?: string[] | '*' }): Promise<void> {
  if (opts.origins === undefined) return
  await app.register(cors, {
    origin: opts.origins === '*' ? '*' : opts.origins,
    methods: ['GET', 'HEAD', 'PUT', 'POST', 'DELETE'],
    allowedHeaders: ['authorization', 'content-type', 'content-encoding', 'accept', 'x-request-id', 'x-shape'],
    exposedHeaders: ['x-request-id', 'x-shape', 'x-anchors', 'x-anchor-digest', 'x-zero-rows', 'x-blocks', 'x-complete', 'x-translator-id', 'x-translator-version', 'retry-after'],
    credentials: false,
    maxAge: 600,
    strictPreflight: true
  })
}

export default fp(corsPlugin, { name: 'cors' })
