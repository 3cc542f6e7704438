import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod'
import { z } from 'zod'
import { conflict, notFound, unprocessable } from '../../errors.js'
import { CascadeQuery, problemResponses } from '../../schemas/common.js'
import { Space, SpaceBody, SpaceList, SpaceParams } from '../../schemas/spaces.js'
import { describeDependents } from './dependents.js'

const spaces: FastifyPluginAsyncZod<{ maxDim: number }> = async (app, opts) => {
  app.put('/v1/spaces/:space', {
    schema: {
      tags: ['spaces'],
      summary: 'Create or update a space (an embedding model)',
      description: '201 when created; 200 when one with the same dim exists (description and metadata are updated); 409 when one with another dim exists.',
      params: SpaceParams,
      body: SpaceBody,
      response: { 200: Space, 201: Space, ...problemResponses(400, 401, 403, 409, 422) }
    }
  }, async (request, reply) => {
    const { space } = request.params
    const { dim, description, metadata } = request.body
    if (dim > opts.maxDim) {
      throw unprocessable(`dim ${dim} is above this server's limit of ${opts.maxDim} (MAX_DIM)`, [{ path: 'body.dim', message: `at most ${opts.maxDim}` }])
    }
    const outcome = await app.store.putSpace({
      name: space, dim, description: description ?? null, metadata: metadata ?? {}, createdAt: new Date().toISOString()
    })
    if (outcome.status === 'conflict') {
      throw conflict(`space "${space}" already exists with dim ${outcome.existing.dim}; a space's dim cannot change. Use another name, or delete it first (DELETE /v1/spaces/${encodeURIComponent(space)}?cascade=true also deletes its embeddings and translators)`)
    }
    return reply.code(outcome.status === 'created' ? 201 : 200).send(outcome.value)
  })

  app.get('/v1/spaces', {
    schema: { tags: ['spaces'], summary: 'List spaces', response: { 200: SpaceList, ...problemResponses(401) } }
  }, async () => ({ spaces: await app.store.listSpaces() }))

  app.get('/v1/spaces/:space', {
    schema: { tags: ['spaces'], summary: 'Get a space', params: SpaceParams, response: { 200: Space, ...problemResponses(400, 401, 404) } }
  }, async (request) => {
    const found = await app.store.getSpace(request.params.space)
    if (found === null) throw notFound(`space "${request.params.space}" does not exist; create it with PUT /v1/spaces/{space}`)
    return found
  })

  app.delete('/v1/spaces/:space', {
    schema: {
      tags: ['spaces'],
      summary: 'Delete a space',
      description: '409 while anchor embeddings or translators use it, unless ?cascade=true, which deletes those too.',
      params: SpaceParams,
      querystring: CascadeQuery,
      response: { 204: z.null().describe('Deleted'), ...problemResponses(400, 401, 403, 404, 409) }
    }
  }, async (request, reply) => {
    const { space } = request.params
    const outcome = await app.store.deleteSpace(space, { cascade: request.query.cascade })
    if (outcome.status === 'not-found') throw notFound(`space "${space}" does not exist`)
    if (outcome.status === 'conflict') {
      throw conflict(`space "${space}" is in use by ${describeDependents(outcome.dependents)}; delete those first, or send ?cascade=true to delete them with it`)
    }
    return reply.code(204).send(null)
  })
}

export default spaces
