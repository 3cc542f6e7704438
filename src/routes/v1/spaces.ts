import { randomUUID } from 'node:crypto'
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod'
import { z } from 'zod'
import { conflict, notFound, preconditionFailed, unprocessable } from '../../errors.js'
import { ifMatchRevisions, ifNoneMatchRevisions, notModified, strongEtag } from '../../http/conditional.js'
import { CascadeQuery, problemResponses } from '../../schemas/common.js'
import { DeleteConditions, NotModified, PutConditions, ReadConditions } from '../../schemas/conditional.js'
import { Space, SpaceBody, SpaceList, SpaceParams } from '../../schemas/spaces.js'
import { describeDependents } from './dependents.js'
import { PageQuery, pageOf } from '../../http/page.js'

/** Metadata nesting limit: deeper JSON is refused before anything recursive (serializing, storing) touches it. */
export const MAX_METADATA_DEPTH = 32

/** Whether a parsed JSON value nests deeper than `max` levels; iterative, so any depth is safe to check. */
function deeperThan (value: unknown, max: number): boolean {
  const stack: Array<[unknown, number]> = [[value, 0]]
  while (stack.length > 0) {
    const [v, depth] = stack.pop()!
    if (v === null || typeof v !== 'object') continue
    if (depth >= max) return true
    for (const child of Object.values(v)) stack.push([child, depth + 1])
  }
  return false
}

const PRECONDITION_FAILED = 'is not in the state the request\'s If-Match or If-None-Match names (another client created, changed or deleted it since); nothing was changed. GET it for its current ETag and retry'

const spaces: FastifyPluginAsyncZod<{ maxDim: number, maxMetadataBytes?: number }> = async (app, opts) => {
  const maxMetadataBytes = opts.maxMetadataBytes ?? 64 * 1024
  app.put('/v1/spaces/:space', {
    config: { scope: 'write' },
    schema: {
      tags: ['spaces'],
      summary: 'Create or update a space (an embedding model)',
      operationId: 'putSpace',
      description: '201 when created; 200 when one with the same dim exists (description and metadata are updated: a new ETag when they change); 409 when one with another dim exists. If-Match: replace only that revision (* : only if it exists); If-None-Match: * : only create. Else 412, and nothing changes.',
      params: SpaceParams,
      headers: PutConditions,
      body: SpaceBody,
      response: { 200: Space, 201: Space, ...problemResponses(400, 401, 403, 409, 412, 422) }
    }
  }, async (request, reply) => {
    const { space } = request.params
    const { dim, description, metadata } = request.body
    if (dim > opts.maxDim) {
      throw unprocessable(`dim ${dim} is above this server's limit of ${opts.maxDim} (MAX_DIM)`, [{ path: 'body.dim', message: `at most ${opts.maxDim}` }])
    }
    if (metadata !== undefined) {
      if (deeperThan(metadata, MAX_METADATA_DEPTH)) {
        throw unprocessable(`metadata nests deeper than ${MAX_METADATA_DEPTH} levels; keep it a small, shallow JSON object`, [{ path: 'body.metadata', message: `at most ${MAX_METADATA_DEPTH} levels deep` }])
      }
      const bytes = Buffer.byteLength(JSON.stringify(metadata))
      if (bytes > maxMetadataBytes) {
        throw unprocessable(`metadata is ${bytes} bytes of JSON, over this server's limit of ${maxMetadataBytes} (MAX_METADATA_BYTES)`, [{ path: 'body.metadata', message: `at most ${maxMetadataBytes} bytes` }])
      }
    }
    const outcome = await app.store.putSpace({
      name: space, dim, description: description ?? null, metadata: metadata ?? {}, createdAt: new Date().toISOString(), revision: randomUUID()
    }, { ifRevision: ifMatchRevisions(request), ifNoneRevision: ifNoneMatchRevisions(request) })
    if (outcome.status === 'precondition-failed') throw preconditionFailed(`space "${space}" ${PRECONDITION_FAILED}`)
    if (outcome.status === 'conflict') {
      throw conflict(`space "${space}" already exists with dim ${outcome.existing.dim}; a space's dim cannot change. Use another name, or delete it first (DELETE /v1/spaces/${encodeURIComponent(space)}?cascade=true also deletes its embeddings and translators)`)
    }
    void reply.header('etag', strongEtag(outcome.value.revision))
    if (outcome.status === 'created') return reply.code(201).header('location', `/v1/spaces/${encodeURIComponent(space)}`).send(outcome.value)
    return reply.code(200).send(outcome.value)
  })

  app.get('/v1/spaces', {
    config: { scope: 'read' },
    schema: {
      tags: ['spaces'],
      summary: 'List spaces',
      operationId: 'listSpaces',
      description: 'By name, a page at a time: follow `next` until it is null.',
      querystring: PageQuery,
      response: { 200: SpaceList, ...problemResponses(400, 401) }
    }
  }, async (request) => {
    // Paged here over the sorted list: the store reads whole lists, bounded by what it holds.
    const page = pageOf(await app.store.listSpaces(), s => [s.name], ['string'], request.query)
    return { spaces: page.items, next: page.next }
  })

  app.get('/v1/spaces/:space', {
    config: { scope: 'read' },
    schema: {
      tags: ['spaces'],
      summary: 'Get a space',
      operationId: 'getSpace',
      params: SpaceParams,
      headers: ReadConditions,
      response: { 200: Space, 304: NotModified, ...problemResponses(400, 401, 404) }
    }
  }, async (request, reply) => {
    const found = await app.store.getSpace(request.params.space)
    if (found === null) throw notFound(`space "${request.params.space}" does not exist; create it with PUT /v1/spaces/{space}`)
    if (notModified(request, reply, found.revision)) return reply
    return found
  })

  app.delete('/v1/spaces/:space', {
    config: { scope: 'write' },
    schema: {
      tags: ['spaces'],
      summary: 'Delete a space',
      operationId: 'deleteSpace',
      description: '409 while anchor embeddings or translators use it, unless ?cascade=true, which deletes those too. If-Match: delete only that revision; else 412, and nothing changes.',
      params: SpaceParams,
      querystring: CascadeQuery,
      headers: DeleteConditions,
      response: { 204: z.null().describe('Deleted'), ...problemResponses(400, 401, 403, 404, 409, 412) }
    }
  }, async (request, reply) => {
    const { space } = request.params
    const outcome = await app.store.deleteSpace(space, { cascade: request.query.cascade, ifRevision: ifMatchRevisions(request) })
    if (outcome.status === 'precondition-failed') throw preconditionFailed(`space "${space}" ${PRECONDITION_FAILED}`)
    if (outcome.status === 'not-found') throw notFound(`space "${space}" does not exist`)
    if (outcome.status === 'conflict') {
      throw conflict(`space "${space}" is in use by ${describeDependents(outcome.dependents)}; delete those first, or send ?cascade=true to delete them with it`)
    }
    return reply.code(204).send(null)
  })
}

export default spaces
