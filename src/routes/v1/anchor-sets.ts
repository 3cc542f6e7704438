import { randomUUID } from 'node:crypto'
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod'
import { z } from 'zod'
import { badRequest, conflict, notFound, preconditionFailed, unprocessable } from '../../errors.js'
import { addVary, ifMatchRevisions, ifNoneMatchRevisions, notModified, strongEtag, variantTag } from '../../http/conditional.js'
import { responseEncoding } from '../../codecs/negotiate.js'
import { isBinaryBody, readBinaryMatrix, readMatrixField, sendMatrix } from '../../http/matrix.js'
import { takeRows, type Matrix } from '../../math/matrix.js'
import { rowNormStats } from '../../math/stats.js'
import {
  AnchorSet, AnchorSetBody, AnchorSetList, Embeddings, EmbeddingsBody, EmbeddingsStored, GetEmbeddingsQuery, GetSetQuery,
  SetParams, SetSpaceParams
} from '../../schemas/anchor-sets.js'
import { CascadeQuery, problemResponses } from '../../schemas/common.js'
import { DeleteConditions, NotModified, PutConditions, ReadConditions } from '../../schemas/conditional.js'
import { SelectBody, SelectResult } from '../../schemas/compute.js'
import { cancellable } from '../../budget/cancel.js'
import { selectPlan } from '../../budget/work.js'
import { selectAnchors } from '../../analysis/select.js'
import { documentBinary } from '../../plugins/swagger.js'
import type { AnchorSetRecord, AnchorSetSummary } from '../../store/types.js'
import { describeDependents } from './dependents.js'
import { requireEmbeddings } from '../../store/require.js'
import { PageQuery, pageOf, rowRange } from '../../http/page.js'

const enc = encodeURIComponent

/** Where each id sits in the set, for checking and ordering uploaded rows. */
function indexOfIds (set: AnchorSetRecord): Map<string, number> {
  return new Map(set.ids.map((id, i) => [id, i]))
}

/**
 * Checks uploaded row ids against the set and returns the permutation that puts the rows in the
 * set's order: embeddings are stored in set order, so two spaces' rows line up by position.
 */
function orderRows (set: AnchorSetRecord, ids: string[]): { order: number[], ids: string[] } {
  const position = indexOfIds(set)
  const seen = new Set<string>()
  const positions: Array<[number, number]> = []
  for (let i = 0; i < ids.length; i++) {
    const id = ids[i]
    const at = position.get(id)
    if (at === undefined) {
      throw unprocessable(`ids[${i}] = ${JSON.stringify(id.slice(0, 80))} is not in anchor set "${set.name}"; every id must be one of the set's ids (add it to the set first)`, [{ path: `body.ids[${i}]`, message: 'not in the anchor set' }])
    }
    if (seen.has(id)) {
      throw unprocessable(`ids[${i}] = ${JSON.stringify(id.slice(0, 80))} appears twice; each id may have one row`, [{ path: `body.ids[${i}]`, message: 'duplicate id' }])
    }
    seen.add(id)
    positions.push([at, i])
  }
  positions.sort((a, b) => a[0] - b[0])
  return { order: positions.map(p => p[1]), ids: positions.map(p => set.ids[p[0]]) }
}

const PRECONDITION_FAILED = 'If-Match names none of the current entity tags (another client changed or deleted them since); nothing was changed. GET them for the current ETag and retry'

const SET_PRECONDITION_FAILED = 'is not in the state the request\'s If-Match or If-None-Match names (another client created, changed or deleted it, or stored or deleted embeddings in it, since); nothing was changed. GET it for its current ETag and retry'

/** The ETag variant of a set's representation with its ids from start to end (exclusive). */
const withIds = (start: number, end: number): string => `ids=${start}-${end}`

function summaryOut (s: AnchorSetSummary, ids?: string[]): z.infer<typeof AnchorSet> {
  return { name: s.name, size: s.size, description: s.description, createdAt: s.createdAt, spaces: s.spaces, ...(ids !== undefined ? { ids } : {}) }
}

/** Bytes a set holds for its spaces once `space` holds `rows` x `dim` float32 values (replacing what it held). */
function setBytesAfter (summary: AnchorSetSummary, space: string, rows: number, dim: number): number {
  let bytes = rows * dim * 4
  for (const [name, held] of Object.entries(summary.spaces)) {
    if (name !== space) bytes += held.rows * held.dim * 4
  }
  return bytes
}

const anchorSets: FastifyPluginAsyncZod<{ maxAnchors: number, maxRows: number, maxSetBytes?: number }> = async (app, opts) => {
  const maxSetBytes = opts.maxSetBytes ?? Number.MAX_SAFE_INTEGER
  app.put('/v1/anchor-sets/:set', {
    config: { scope: 'write' },
    schema: {
      tags: ['anchor-sets'],
      summary: 'Create an anchor set (an ordered list of item ids)',
      operationId: 'putAnchorSet',
      description: "201 when created; 200 when one with the same ids exists (the description is updated); 409 when it exists with other ids. The set's ETag changes when its description does and whenever embeddings are stored in it or deleted from it. If-Match: replace only that revision (* : only if it exists); If-None-Match: * : only create. Else 412, and nothing changes.",
      params: SetParams,
      headers: PutConditions,
      body: AnchorSetBody,
      response: { 200: AnchorSet, 201: AnchorSet, ...problemResponses(400, 401, 403, 409, 412, 413, 422) }
    }
  }, async (request, reply) => {
    const { set } = request.params
    const { ids, description } = request.body
    if (ids.length > opts.maxAnchors) {
      throw unprocessable(`the set has ${ids.length} ids; this server allows at most ${opts.maxAnchors} per set (MAX_ANCHORS_PER_SET)`)
    }
    const seen = new Map<string, number>()
    for (let i = 0; i < ids.length; i++) {
      const first = seen.get(ids[i])
      if (first !== undefined) {
        throw unprocessable(`ids[${i}] repeats ids[${first}] (${JSON.stringify(ids[i].slice(0, 80))}); ids must be unique within a set`, [{ path: `body.ids[${i}]`, message: 'duplicate id' }])
      }
      seen.set(ids[i], i)
    }
    const outcome = await app.store.putAnchorSet(
      { name: set, ids, description: description ?? null, createdAt: new Date().toISOString(), revision: randomUUID() },
      { ifRevision: ifMatchRevisions(request), ifNoneRevision: ifNoneMatchRevisions(request) })
    if (outcome.status === 'precondition-failed') throw preconditionFailed(`anchor set "${set}" ${SET_PRECONDITION_FAILED}`)
    if (outcome.status === 'conflict') {
      throw conflict(`anchor set "${set}" already exists with other ids (${outcome.existing.ids.length} ids); a set's ids cannot change. Use another name, or delete it first`)
    }
    const summary = await app.store.getAnchorSetSummary(set)
    if (summary === null) throw notFound(`anchor set "${set}" was deleted while it was being written`)
    const body = summaryOut(summary)
    void reply.header('etag', strongEtag(summary.revision))
    if (outcome.status === 'created') return reply.code(201).header('location', `/v1/anchor-sets/${enc(set)}`).send(body)
    return reply.code(200).send(body)
  })

  app.get('/v1/anchor-sets', {
    config: { scope: 'read' },
    schema: {
      tags: ['anchor-sets'],
      summary: 'List anchor sets',
      operationId: 'listAnchorSets',
      description: 'By name, a page at a time: follow `next` until it is null.',
      querystring: PageQuery,
      response: { 200: AnchorSetList, ...problemResponses(400, 401) }
    }
  }, async (request) => {
    // Paged here over the sorted list: the store reads whole lists, bounded by what it holds.
    const page = pageOf(await app.store.listAnchorSets(), s => [s.name], ['string'], request.query)
    return { anchorSets: page.items.map(s => summaryOut(s)), next: page.next }
  })

  app.get('/v1/anchor-sets/:set', {
    config: { scope: 'read' },
    schema: {
      tags: ['anchor-sets'],
      summary: 'Get an anchor set: its size, and what each space holds of it',
      operationId: 'getAnchorSet',
      params: SetParams,
      querystring: GetSetQuery,
      headers: ReadConditions,
      response: { 200: AnchorSet, 304: NotModified, ...problemResponses(400, 401, 404, 422) }
    }
  }, async (request, reply) => {
    const { set } = request.params
    const summary = await app.store.getAnchorSetSummary(set)
    if (summary === null) throw notFound(`anchor set "${set}" does not exist; create it with PUT /v1/anchor-sets/{set}`)
    const { includeIds, offset, limit } = request.query
    if (!includeIds && (offset !== undefined || limit !== undefined)) {
      throw badRequest('offset and limit select a range of the ids; send them with includeIds=true', [{ path: 'querystring', message: 'offset and limit need includeIds=true' }])
    }
    let body = summaryOut(summary)
    let variant: string | undefined
    if (includeIds) {
      const ids = (await app.store.getAnchorSet(set))?.ids ?? []
      const { start, end } = rowRange(ids.length, { offset, limit }, `anchor set "${set}"`)
      body = summaryOut(summary, start === 0 && end === ids.length ? ids : ids.slice(start, end))
      variant = withIds(start, end)
    }
    if (notModified(request, reply, variantTag(summary.revision, variant))) return reply
    return body
  })

  app.delete('/v1/anchor-sets/:set', {
    config: { scope: 'write' },
    schema: {
      tags: ['anchor-sets'],
      summary: 'Delete an anchor set with its embeddings',
      operationId: 'deleteAnchorSet',
      description: '409 while a translator was fitted on it, unless ?cascade=true, which deletes those translators too. If-Match: delete only that revision; else 412, and nothing changes.',
      params: SetParams,
      querystring: CascadeQuery,
      headers: DeleteConditions,
      response: { 204: z.null().describe('Deleted'), ...problemResponses(400, 401, 403, 404, 409, 412) }
    }
  }, async (request, reply) => {
    const { set } = request.params
    const outcome = await app.store.deleteAnchorSet(set, { cascade: request.query.cascade, ifRevision: ifMatchRevisions(request) })
    if (outcome.status === 'precondition-failed') throw preconditionFailed(`anchor set "${set}" ${SET_PRECONDITION_FAILED}`)
    if (outcome.status === 'not-found') throw notFound(`anchor set "${set}" does not exist`)
    if (outcome.status === 'conflict') {
      throw conflict(`anchor set "${set}" is in use by ${describeDependents(outcome.dependents)}; delete those first, or send ?cascade=true to delete them with it`)
    }
    return reply.code(204).send(null)
  })

  documentBinary('put', '/v1/anchor-sets/{set}/embeddings/{space}', {
    request: "The whole set's embeddings in the set's order: raw little-endian float32, row-major (rows = set size, row length = the space's dim), or a .npy file (float32 or float64, C order, 2-D)."
  })
  app.put('/v1/anchor-sets/:set/embeddings/:space', {
    config: { scope: 'write', binaryBody: true },
    schema: {
      tags: ['anchor-sets'],
      summary: "Upload a space's embeddings of the set's items",
      operationId: 'putEmbeddings',
      description: "Rows follow `ids` when given (a subset of the set's ids), else the set's own order (then the row count equals the set's size). " +
        'Binary bodies (application/octet-stream, application/x-npy) always follow the set order. Replaces earlier embeddings of that space in that set: 201 with Location when the set held none of that space, 200 when they replaced earlier ones.',
      params: SetSpaceParams,
      headers: z.looseObject({
        'if-match': z.string().optional().describe('Store only if the current embeddings have one of these ETags, of any encoding (* : only if some are stored); else 412 and nothing changes'),
        'if-none-match': z.string().optional().describe('* : store only if the set holds none of this space yet (412 when it does); or ETags: 412 when the current embeddings have one of them')
      }),
      body: EmbeddingsBody,
      response: { 200: EmbeddingsStored, 201: EmbeddingsStored, ...problemResponses(400, 401, 403, 404, 412, 413, 415, 422) }
    }
  }, async (request, reply) => {
    const { set, space } = request.params
    const preconditions = { ifRevision: ifMatchRevisions(request), ifNoneRevision: ifNoneMatchRevisions(request) }
    const [setRecord, spaceRecord] = await Promise.all([app.store.getAnchorSet(set), app.store.getSpace(space)])
    if (setRecord === null) throw notFound(`anchor set "${set}" does not exist; create it with PUT /v1/anchor-sets/${enc(set)}`)
    if (spaceRecord === null) throw notFound(`space "${space}" does not exist; create it with PUT /v1/spaces/${enc(space)}`)
    // At most one row per id of the set, and at most MAX_ROWS_PER_REQUEST: checked before decoding.
    const setBound = setRecord.ids.length < opts.maxRows
    const target = {
      field: 'vectors',
      cols: spaceRecord.dim,
      colsLabel: `space "${space}"`,
      maxRows: setBound ? setRecord.ids.length : opts.maxRows,
      maxRowsSetting: setBound ? `anchor set "${set}" has ${setRecord.ids.length} ids, one row each at most` : 'MAX_ROWS_PER_REQUEST'
    }

    let matrix: Matrix
    let ids: string[] | undefined
    if (isBinaryBody(request)) {
      matrix = readBinaryMatrix(request, target)
    } else {
      matrix = readMatrixField(request, request.body.vectors, target)
      ids = request.body.ids
    }
    if (matrix.rows === 0) {
      throw unprocessable(`vectors has 0 rows; an upload holds at least one row (to remove a space's embeddings from the set, DELETE /v1/anchor-sets/${enc(set)}/embeddings/${enc(space)})`)
    }
    if (ids === undefined) {
      if (matrix.rows !== setRecord.ids.length) {
        throw unprocessable(`vectors has ${matrix.rows} rows but anchor set "${set}" has ${setRecord.ids.length} ids; send one row per id in the set's order, or send "ids" naming the rows (JSON bodies)`)
      }
      ids = setRecord.ids
    } else {
      if (ids.length !== matrix.rows) {
        throw unprocessable(`ids has ${ids.length} entries but vectors has ${matrix.rows} rows; send one id per row`)
      }
      const ordered = orderRows(setRecord, ids)
      matrix = takeRows(matrix, ordered.order)
      ids = ordered.ids
    }
    const summary = await app.store.getAnchorSetSummary(set)
    if (summary !== null) {
      const bytes = setBytesAfter(summary, space, matrix.rows, matrix.cols)
      if (bytes > maxSetBytes) {
        throw unprocessable(`with these ${matrix.rows} x ${matrix.cols} float32 values, anchor set "${set}" would hold ${bytes} bytes of embeddings over all its spaces, over this server's limit of ${maxSetBytes} bytes per set (MAX_SET_BYTES); upload fewer rows (an "ids" subset), or delete another space's embeddings from the set first`)
      }
    }
    const stats = rowNormStats(matrix)
    const revision = randomUUID()
    const outcome = await app.store.putEmbeddings({
      set, space, ids, matrix, rows: matrix.rows, dim: matrix.cols, ...stats, updatedAt: new Date().toISOString(), revision
    }, preconditions)
    if (outcome.status === 'missing-set') throw notFound(`anchor set "${set}" was deleted while the embeddings were uploaded`)
    if (outcome.status === 'missing-space') throw notFound(`space "${space}" was deleted or recreated with another dim while the embeddings were uploaded; nothing was stored`)
    if (outcome.status === 'precondition-failed') {
      if (preconditions.ifNoneRevision !== undefined) throw preconditionFailed(`anchor set "${set}" holds embeddings of space "${space}" already (If-None-Match), or none with the ETag in If-Match; nothing was changed. GET them for the current ETag and retry with If-Match`)
      throw preconditionFailed(`anchor set "${set}" holds no embeddings of space "${space}" with the ETag in If-Match: ${PRECONDITION_FAILED}`)
    }
    const stored = { set, space, rows: matrix.rows, dim: matrix.cols, ...stats, revision, replaced: outcome.replaced }
    void reply.header('etag', strongEtag(revision))
    if (outcome.replaced) return reply.code(200).send(stored)
    return reply.code(201).header('location', `/v1/anchor-sets/${enc(set)}/embeddings/${enc(space)}`).send(stored)
  })

  documentBinary('get', '/v1/anchor-sets/{set}/embeddings/{space}', {
    response: "With Accept: application/octet-stream (raw little-endian float32) or application/x-npy: the matrix alone, rows in the set's order, shape (of the rows returned) in X-Shape, the stored row count in X-Total-Rows and the first row's offset in X-Offset; X-Complete says whether every id of the set has a row (else fetch the ids as JSON)."
  })
  app.get('/v1/anchor-sets/:set/embeddings/:space', {
    config: { scope: 'read' },
    schema: {
      tags: ['anchor-sets'],
      summary: "Download a space's embeddings of the set",
      operationId: 'getEmbeddings',
      params: SetSpaceParams,
      querystring: GetEmbeddingsQuery,
      headers: z.looseObject({ 'if-none-match': z.string().optional().describe('ETags of the embeddings held: 304 when one is current. Each encoding (JSON, npy, raw float32) has its own ETag') }),
      response: { 200: Embeddings, 304: NotModified, ...problemResponses(400, 401, 404, 422) }
    }
  }, async (request, reply) => {
    const { set, space } = request.params
    const found = await requireEmbeddings(app.store, set, space)
    // The range is checked first: an offset past the end is a 422 even for a client holding the current ETag.
    const { start, end } = rowRange(found.rows, request.query, `the embeddings of space "${space}" in anchor set "${set}"`)
    // One ETag per encoding: a client holding the JSON must not be told its copy is the npy one.
    addVary(reply, 'Accept')
    const encoding = responseEncoding(request.headers.accept)
    if (notModified(request, reply, variantTag(found.revision, encoding === 'json' ? undefined : encoding))) return reply
    const setRecord = await app.store.getAnchorSet(set)
    const whole = start === 0 && end === found.rows
    // A view of the stored rows, not a copy.
    const slice = whole ? found.matrix : { rows: end - start, cols: found.matrix.cols, data: found.matrix.data.subarray(start * found.matrix.cols, end * found.matrix.cols) }
    return sendMatrix(request, reply, slice, {
      field: 'vectors',
      json: { set, space, rows: found.rows, offset: start, ids: whole ? found.ids : found.ids.slice(start, end) },
      headers: { 'x-complete': String(setRecord !== null && setRecord.ids.length === found.rows), 'x-total-rows': String(found.rows), 'x-offset': String(start) },
      encodingFormat: request.query.encodingFormat
    })
  })

  app.delete('/v1/anchor-sets/:set/embeddings/:space', {
    config: { scope: 'write' },
    schema: {
      tags: ['anchor-sets'],
      summary: "Delete a space's embeddings from the set",
      operationId: 'deleteEmbeddings',
      description: '409 while a translator was fitted on them, unless ?cascade=true, which deletes those translators too.',
      params: SetSpaceParams,
      querystring: CascadeQuery,
      headers: z.looseObject({ 'if-match': z.string().optional().describe('Delete only if the current embeddings have one of these ETags, of any encoding; else 412 and nothing changes') }),
      response: { 204: z.null().describe('Deleted'), ...problemResponses(400, 401, 403, 404, 409, 412) }
    }
  }, async (request, reply) => {
    const { set, space } = request.params
    const outcome = await app.store.deleteEmbeddings(set, space, { cascade: request.query.cascade, ifRevision: ifMatchRevisions(request) })
    if (outcome.status === 'precondition-failed') throw preconditionFailed(`anchor set "${set}" holds no embeddings of space "${space}" with the ETag in If-Match: ${PRECONDITION_FAILED}`)
    if (outcome.status === 'not-found') throw notFound(`anchor set "${set}" holds no embeddings of space "${space}"`)
    if (outcome.status === 'conflict') {
      throw conflict(`these embeddings are in use by ${describeDependents(outcome.dependents)}; delete those first, or send ?cascade=true to delete them too`)
    }
    return reply.code(204).send(null)
  })

  app.post('/v1/anchor-sets/:set/select', {
    config: { scope: 'read' },
    schema: {
      tags: ['anchor-sets'],
      summary: 'Choose k well-spread ids among those a space holds',
      operationId: 'selectAnchors',
      description: 'For choosing which items to embed with another model. Seeded and reproducible: the same set, space, k, strategy and seed give the same ids.',
      params: SetParams,
      body: SelectBody,
      response: { 200: SelectResult, ...problemResponses(400, 401, 404, 422) }
    }
  }, async (request) => {
    const { set } = request.params
    const { space, k, strategy, seed } = request.body
    const held = await requireEmbeddings(app.store, set, space)
    if (k > held.rows) throw unprocessable(`k ${k} is more than the ${held.rows} ids space "${space}" holds in set "${set}"; use at most ${held.rows}`)
    request.rows = held.rows
    const ids = await app.runBudgeted(request, selectPlan(held.rows, held.matrix.cols, k, strategy), async signal =>
      await selectAnchors(held.matrix, held.ids, { k, strategy, seed, signal }, cancellable(app.engine, signal)))
    return { ids }
  })
}

export default anchorSets
