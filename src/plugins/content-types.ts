import type { FastifyInstance } from 'fastify'
import fp from 'fastify-plugin'
import { MEDIA } from '../codecs/vectors.js'

/**
 * Whole-body binary matrices (API.md "Vectors on the wire") arrive as Buffers; the routes decode
 * them with the codecs, which know the row length from the space.
 */
async function contentTypes (app: FastifyInstance, opts: { bodyLimit: number }): Promise<void> {
  for (const type of [MEDIA.octetStream, MEDIA.npy]) {
    app.addContentTypeParser(type, { parseAs: 'buffer', bodyLimit: opts.bodyLimit }, (_request, body, done) => {
      done(null, body)
    })
  }
}

export default fp(contentTypes, { name: 'content-types' })
