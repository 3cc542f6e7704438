import type { FastifyInstance, FastifyRequest } from 'fastify'
import fp from 'fastify-plugin'
import { Counter, Gauge } from 'prom-client'
import { MEDIA } from '../codecs/vectors.js'
import { unsupportedMediaType } from '../errors.js'
import { readBody, releaseBody } from '../http/body.js'
import { contentCoding, decodeBody, hasBody } from '../http/encoding.js'
import { LargeBodyPermits } from '../http/large-bodies.js'

declare module 'fastify' {
  interface FastifyContextConfig {
    /** The route also takes whole-body application/octet-stream and application/x-npy matrices. */
    binaryBody?: boolean
  }
  interface FastifyInstance {
    /** The bound on large JSON bodies in flight (src/http/large-bodies.ts). */
    largeJsonBodies: LargeBodyPermits
  }
}

export interface ContentTypesOptions {
  bodyLimit: number
  /** JSON bodies of at least this many bytes (declared, or received so far) need a permit. */
  largeJsonBytes: number
  largeJsonConcurrency: number
  largeJsonQueue: number
  retryAfterSeconds: number
}

/**
 * Request bodies: a Content-Encoding is undone first (src/http/encoding.ts), for every body type,
 * under the route's body limit on the decoded bytes. Whole-body binary matrices (docs/operations.md §9.2) arrive as Buffers;
 * the routes that take them decode them with the codecs, which know the row length from the
 * space. JSON is read by the same reader, large bodies under a concurrency bound, then parsed by
 * Fastify's own JSON parser (secure-json-parse: __proto__ and constructor.prototype keys refused).
 * Every other route takes JSON only, so plain text is not parsed at all.
 */
async function contentTypes (app: FastifyInstance, opts: ContentTypesOptions): Promise<void> {
  const limitOf = (request: FastifyRequest): number => request.routeOptions.bodyLimit ?? opts.bodyLimit
  app.removeContentTypeParser('text/plain')

  app.addHook('preParsing', async (request, _reply, payload) => {
    if (!hasBody(request.headers)) return payload
    const coding = contentCoding(request.headers['content-encoding'])
    if (coding === undefined) return payload
    return decodeBody(payload, coding, limitOf(request))
  })

  for (const type of [MEDIA.octetStream, MEDIA.npy]) {
    // Read into reused memory (src/http/body.ts), handed back once the response is sent.
    app.addContentTypeParser(type, (request, payload, done) => {
      readBody(request, payload, limitOf(request), done)
    })
  }
  app.addHook('onResponse', async (request) => { releaseBody(request) })

  const permits = new LargeBodyPermits(opts.largeJsonConcurrency, opts.largeJsonQueue, opts.retryAfterSeconds)
  app.decorate('largeJsonBodies', permits)
  const held = new WeakMap<FastifyRequest, () => void>()
  const releasePermit = (request: FastifyRequest): void => {
    held.get(request)?.()
    held.delete(request)
  }
  // Released once the response is out, or the connection is gone (a response to a closed socket
  // may never finish).
  app.addHook('onRequest', async (request, reply) => {
    if (hasBody(request.headers)) reply.raw.once('close', () => { releasePermit(request) })
  })
  app.addHook('onResponse', async (request) => { releasePermit(request) })
  const registers = [app.metrics.registry]
  /* eslint-disable no-new */
  new Gauge({ name: 'latentbridge_large_json_bodies_active', help: 'Large JSON bodies being read, parsed or handled (at most LARGE_JSON_CONCURRENCY)', registers, collect () { this.set(permits.inUse) } })
  new Gauge({ name: 'latentbridge_large_json_bodies_waiting', help: 'Large JSON bodies waiting for their turn, unread (at most LARGE_JSON_QUEUE)', registers, collect () { this.set(permits.waiting) } })
  new Gauge({ name: 'latentbridge_large_json_bodies_peak_active', help: 'The most large JSON bodies ever in flight at once', registers, collect () { this.set(permits.peakActive) } })
  new Counter({ name: 'latentbridge_large_json_bodies_refused_total', help: 'Large JSON bodies refused with 503 because the queue was full', registers, collect () { this.reset(); this.inc(permits.refused) } })
  /* eslint-enable no-new */

  const parseJson = app.getDefaultJsonParser('error', 'error')
  app.removeContentTypeParser('application/json')
  app.addContentTypeParser('application/json', (request, payload, done) => {
    readBody(request, payload, limitOf(request), (err, body) => {
      if (err !== null || body === undefined) {
        done(err)
        return
      }
      parseJson(request, body.toString('utf8'), done)
    }, {
      pooled: false,
      large: {
        bytes: opts.largeJsonBytes,
        admit: async (signal) => {
          const release = await permits.acquire(signal)
          held.set(request, release)
        }
      }
    })
  })

  app.addHook('preValidation', async (request) => {
    // An unmatched path is answered by the not-found handler (no-route), whatever its body.
    if (Buffer.isBuffer(request.body) && request.routeOptions.config?.binaryBody !== true && !request.is404) {
      throw unsupportedMediaType(`${request.method} ${request.routeOptions.url ?? request.url} takes application/json; binary matrix bodies are accepted by the upload, relative and translate routes`)
    }
  })
}

export default fp(contentTypes, { name: 'content-types', dependencies: ['metrics'] })
