import type { FastifyInstance } from 'fastify'
import fp from 'fastify-plugin'
import { MEDIA } from '../codecs/vectors.js'
import { unsupportedMediaType } from '../errors.js'
import { readBody, releaseBody } from '../http/body.js'

declare module 'fastify' {
  interface FastifyContextConfig {
    /** The route also takes whole-body application/octet-stream and application/x-npy matrices. */
    binaryBody?: boolean
  }
}

/**
 * Whole-body binary matrices (docs/operations.md §9.2) arrive as Buffers; the routes that
 * take them decode them with the codecs, which know the row length from the space. Every other
 * route takes JSON only, so plain text is not parsed at all.
 */
async function contentTypes (app: FastifyInstance, opts: { bodyLimit: number }): Promise<void> {
  app.removeContentTypeParser('text/plain')
  for (const type of [MEDIA.octetStream, MEDIA.npy]) {
    // Read into reused memory (src/http/body.ts), handed back once the response is sent.
    app.addContentTypeParser(type, (request, payload, done) => {
      readBody(request, payload, request.routeOptions.bodyLimit ?? opts.bodyLimit, done)
    })
  }
  app.addHook('onResponse', async (request) => { releaseBody(request) })
  app.addHook('preValidation', async (request) => {
    // An unmatched path is answered by the not-found handler (no-route), whatever its body.
    if (Buffer.isBuffer(request.body) && request.routeOptions.config?.binaryBody !== true && !request.is404) {
      throw unsupportedMediaType(`${request.method} ${request.routeOptions.url ?? request.url} takes application/json; binary matrix bodies are accepted by the upload, relative and translate routes`)
    }
  })
}

export default fp(contentTypes, { name: 'content-types' })
