import type { FastifyReply } from 'fastify'
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod'
import { z } from 'zod'
import { CSLS_K } from '../../analysis/csls.js'
import { responseEncoding } from '../../codecs/negotiate.js'
import { translatorModel } from '../../engine/ops/translate.js'
import { notAcceptable, notFound, preconditionFailed, unprocessable } from '../../errors.js'
import { ifMatch, ifMatchHolds, notModified, strongEtag } from '../../http/conditional.js'
import { confidenceOf } from '../../fit/confidence.js'
import { isBinaryBody, readBinaryMatrix, readMatrixField, sendMatrix } from '../../http/matrix.js'
import { timingOf } from '../../services/compute.js'
import { documentBinary, documentTiming } from '../../plugins/swagger.js'
import { problemResponses } from '../../schemas/common.js'
import {
  EvaluateBody, EvaluateResult, FitBody, ListQuery, TranslateBody, TranslateQuery, TranslateResult, Translator, TranslatorList,
  TranslatorParams
} from '../../schemas/translators.js'
import { pageOf } from '../../http/page.js'
import type { Store, TranslatorListing } from '../../store/types.js'
import { prepareFit } from '../../translators/pipeline.js'
import { cancellable } from '../../budget/cancel.js'
import { evaluatePlan } from '../../budget/work.js'
import { AsyncHeaders, Operation } from '../../schemas/operations.js'
import { answerWithOperation, runsAsOperation } from './operations.js'
import { translatorOut } from './translator-out.js'
import { evaluate, type EvaluateRequest, type Evaluation } from '../../translators/evaluate.js'
import { encodeMatrixJson } from '../../codecs/vectors.js'

/**
 * A fitted translator never changes (id + version); only whether it is its pair's active one does,
 * and that flag is in its representation, so the ETag of a read carries it (`.active`). If-Match
 * compares the translator alone: either form names it.
 */
function translatorTag (t: TranslatorListing, withActive: boolean): string {
  return `${encodeURIComponent(t.id)}.v${t.version}${withActive && t.active ? '.active' : ''}`
}

/**
 * If-Match for activate and delete. Checking it before the write is not a race: the tag of an id
 * never changes, so it either still matches or the translator is gone, which the write itself
 * reports (null / false), and then a request with If-Match gets 412 too.
 */
async function checkTranslatorIfMatch (store: Store, id: string, expected: '*' | string[] | undefined): Promise<void> {
  if (expected === undefined) return
  const found = await store.getTranslatorMeta(id)
  const current = found === null ? null : translatorTag(found, false)
  const accepted = expected === '*' ? expected : expected.map(tag => tag.replace(/\.active$/, ''))
  if (!ifMatchHolds(accepted, current)) throw preconditionFailed(`translator "${id}" ${found === null ? 'does not exist' : `is version ${found.version}, not the one named in If-Match`}; nothing was changed`)
}

const translators: FastifyPluginAsyncZod<{ maxRows: number }> = async (app, opts) => {
  app.post('/v1/translators', {
    config: { scope: 'write' },
    schema: {
      tags: ['translators'],
      summary: 'Fit a translator from one space into another on their parallel anchors',
      operationId: 'fitTranslator',
      description: 'The parallel anchors are the ids of the anchor set that both spaces hold. The first translator of a (source, target) pair, and any later one with "activate": true, becomes the pair\'s active translator. ' +
        'With `Prefer: respond-async`, or when the fit is estimated to take longer than ASYNC_AFTER_MS, the answer is 202 with `Location: /v1/operations/{id}` and the operation: wait for it with GET /v1/operations/{id}?wait=30. ' +
        'With an `Idempotency-Key`, the same key and body answer the same operation or translator, never a second one.',
      headers: AsyncHeaders,
      body: FitBody,
      response: { 201: Translator, 202: Operation.describe('The fit runs as an operation: poll Location'), ...problemResponses(400, 401, 403, 404, 409, 422, 429) }
    }
  }, async (request, reply) => {
    const prepared = await prepareFit({ store: app.store, engine: app.engine, maxTranslatorBytes: app.budgets.maxTranslatorBytes }, request.body)
    request.rows = prepared.rows
    const created = (stored: TranslatorListing): FastifyReply =>
      reply.code(201).header('etag', strongEtag(translatorTag(stored, true))).header('location', `/v1/translators/${encodeURIComponent(stored.id)}`).send(translatorOut(stored))
    if (runsAsOperation(request, prepared.plan)) {
      return await answerWithOperation(request, reply, { plan: prepared.plan, kind: 'fit', input: request.body }, result => created(result as TranslatorListing))
    }
    return created(await app.runBudgeted(request, prepared.plan, prepared.run))
  })

  app.get('/v1/translators', {
    config: { scope: 'read' },
    schema: {
      tags: ['translators'],
      summary: 'List translators, optionally of one source and/or target',
      operationId: 'listTranslators',
      description: 'By source, target and version, a page at a time: follow `next` until it is null.',
      querystring: ListQuery,
      response: { 200: TranslatorList, ...problemResponses(400, 401) }
    }
  }, async (request) => {
    const { source, target } = request.query
    // Paged here over the sorted list: the store reads whole lists, bounded by what it holds.
    const page = pageOf(await app.store.listTranslators({ source, target }), t => [t.source, t.target, t.version], ['string', 'string', 'number'], request.query)
    return { translators: page.items.map(translatorOut), next: page.next }
  })

  app.get('/v1/translators/:id', {
    config: { scope: 'read' },
    schema: {
      tags: ['translators'],
      summary: 'Get a translator',
      operationId: 'getTranslator',
      params: TranslatorParams,
      headers: z.looseObject({ 'if-none-match': z.string().optional().describe('ETags of representations held: 304 when one is current') }),
      response: { 200: Translator, 304: z.null().describe('Not modified: If-None-Match names the current ETag; no body'), ...problemResponses(400, 401, 404) }
    }
  }, async (request, reply) => {
    const found = await app.store.getTranslatorMeta(request.params.id)
    if (found === null) throw notFound(`translator "${request.params.id}" does not exist`)
    if (notModified(request, reply, translatorTag(found, true))) return reply
    return translatorOut(found)
  })

  app.post('/v1/translators/:id/activate', {
    config: { scope: 'write' },
    schema: {
      tags: ['translators'],
      summary: "Make a translator its pair's active one",
      operationId: 'activateTranslator',
      params: TranslatorParams,
      headers: z.looseObject({ 'if-match': z.string().optional().describe("Activate only if the translator has this ETag; else 412 and nothing changes") }),
      response: { 200: Translator, ...problemResponses(400, 401, 403, 404, 412) }
    }
  }, async (request, reply) => {
    const expected = ifMatch(request)
    await checkTranslatorIfMatch(app.store, request.params.id, expected)
    const activated = await app.store.activateTranslator(request.params.id)
    if (activated === null && expected !== undefined) throw preconditionFailed(`translator "${request.params.id}" was deleted meanwhile; nothing was changed`)
    if (activated === null) throw notFound(`translator "${request.params.id}" does not exist`)
    return reply.header('etag', strongEtag(translatorTag(activated, true))).send(translatorOut(activated))
  })

  app.delete('/v1/translators/:id', {
    config: { scope: 'write' },
    schema: {
      tags: ['translators'],
      summary: 'Delete a translator',
      operationId: 'deleteTranslator',
      description: 'Deleting the active translator leaves its pair with none active until another is activated or fitted.',
      params: TranslatorParams,
      headers: z.looseObject({ 'if-match': z.string().optional().describe('Delete only if the translator has this ETag; else 412 and nothing changes') }),
      response: { 204: z.null().describe('Deleted'), ...problemResponses(400, 401, 403, 404, 412) }
    }
  }, async (request, reply) => {
    const expected = ifMatch(request)
    await checkTranslatorIfMatch(app.store, request.params.id, expected)
    const deleted = await app.store.deleteTranslator(request.params.id)
    if (!deleted && expected !== undefined) throw preconditionFailed(`translator "${request.params.id}" was deleted meanwhile`)
    if (!deleted) throw notFound(`translator "${request.params.id}" does not exist`)
    app.translators.evict(request.params.id)
    return reply.code(204).send(null)
  })

  documentBinary('get', '/v1/translators/{id}/onnx', { file: 'An ONNX model (ModelProto, opset 21): input x [N, sourceDim] float32, output y [N, targetDim] float32' })
  app.get('/v1/translators/:id/onnx', {
    config: { scope: 'read' },
    schema: {
      tags: ['translators'],
      summary: 'Download the translator as a standalone ONNX model',
      operationId: 'getTranslatorOnnx',
      description: 'Input x [N, sourceDim] float32, output y [N, targetDim] float32; it computes exactly what /v1/translate computes (scaling, map and de-scaling baked in).',
      params: TranslatorParams,
      response: { 200: z.custom<Buffer>(() => true).describe('An ONNX ModelProto'), ...problemResponses(400, 401, 404) }
    }
  }, async (request, reply) => {
    const loaded = await app.translators.get(request.params.id)
    if (loaded === null) throw notFound(`translator "${request.params.id}" does not exist`)
    const model = translatorModel(loaded.map)
    return reply
      .type('application/octet-stream')
      .header('content-disposition', `attachment; filename="translator-${loaded.meta.id}-v${loaded.meta.version}.onnx"`)
      .header('x-translator-version', String(loaded.meta.version))
      .send(Buffer.from(model.buffer, model.byteOffset, model.byteLength))
  })

  documentBinary('post', '/v1/translate', {
    request: "The source matrix as raw little-endian float32 (row length = the source space's dim) or a .npy file; source, target and optionally translator go in the query string.",
    response: 'With Accept: application/octet-stream or application/x-npy: the translated matrix; X-Shape, X-Translator-Id and X-Translator-Version headers carry the other fields.'
  })
  documentTiming('post', '/v1/translate')
  app.post('/v1/translate', {
    config: { scope: 'read', binaryBody: true, timing: true },
    schema: {
      tags: ['translators'],
      summary: 'Translate vectors from a source space into a target space',
      operationId: 'translate',
      description: "Uses the pair's active translator unless one is named. The response says which translator (id and version) computed it. Concurrent small requests for the same translator are computed together (micro-batching, BATCH_WINDOW_MS and BATCH_MAX_ROWS); each gets exactly the rows it would get alone. 429 with Retry-After when the compute queue (QUEUE_MAX_ROWS rows) is full.",
      body: TranslateBody,
      querystring: TranslateQuery,
      response: { 200: TranslateResult, ...problemResponses(400, 401, 404, 406, 413, 415, 422, 429) }
    }
  }, async (request, reply) => {
    const binary = isBinaryBody(request)
    const { source, target, translator: id } = binary ? request.query : request.body
    const withConfidence = binary ? request.query.withConfidence === 'true' : request.body.withConfidence === true
    if (withConfidence && responseEncoding(request.headers.accept) !== 'json') {
      throw notAcceptable('withConfidence returns one score per row next to the vectors, in a JSON body; a binary response has nowhere to put them. ' +
        'Ask for Accept: application/json (with "encodingFormat": "base64" the vectors stay compact), or drop withConfidence')
    }
    if (source === undefined || target === undefined) {
      throw unprocessable('source and target are required: in the JSON body, or in the query string for binary bodies (?source=A&target=B)')
    }
    const loaded = await app.translators.resolve(source, target, id)
    const spec = { field: 'vectors', cols: loaded.meta.sourceDim, colsLabel: `space "${source}"`, maxRows: opts.maxRows }
    const x = binary ? readBinaryMatrix(request, spec) : readMatrixField(request, request.body.vectors, spec)
    let confidence: number[] | undefined
    if (withConfidence) {
      if (loaded.confidence === null) {
        throw unprocessable(`translator "${loaded.meta.id}" was fitted before per-vector confidence existed; fit it again (POST /v1/translators) to get confidence, or drop withConfidence`)
      }
      const model = loaded.confidence
      confidence = Array.from(await app.compute.timed(async () => await confidenceOf(x, model, app.engine), timingOf(request)))
    }
    const y = await app.compute.translate({ id: loaded.meta.id, map: loaded.map }, x, timingOf(request))
    return sendMatrix(request, reply, y, {
      field: 'vectors',
      encodingFormat: binary ? 'float' : request.body.encodingFormat,
      json: { translator: { id: loaded.meta.id, version: loaded.meta.version }, ...(confidence !== undefined ? { confidence } : {}) },
      headers: { 'x-translator-id': loaded.meta.id, 'x-translator-version': String(loaded.meta.version) }
    })
  })

  documentTiming('post', '/v1/translators/{id}/evaluate')
  app.post('/v1/translators/:id/evaluate', {
    config: { scope: 'read', timing: true },
    schema: {
      tags: ['translators'],
      summary: 'Score a translator on pairs of source and true target vectors',
      operationId: 'evaluateTranslator',
      description: 'Retrieval is among the given target rows, by cosine or (retrieval: "csls") by CSLS, which discounts target rows that are close to everything (hubs). ' +
        'With `Prefer: respond-async`, an estimate over ASYNC_AFTER_MS, or an `Idempotency-Key`, it runs as an operation as POST /v1/translators does (202 and Location when not answered in the request).',
      params: TranslatorParams,
      headers: AsyncHeaders,
      body: EvaluateBody,
      response: { 200: EvaluateResult, 202: Operation.describe('The evaluation runs as an operation: poll Location'), ...problemResponses(400, 401, 404, 413, 422, 429) }
    }
  }, async (request, reply) => {
    const loaded = await app.translators.get(request.params.id)
    if (loaded === null) throw notFound(`translator "${request.params.id}" does not exist`)
    const { meta, map } = loaded
    const x = readMatrixField(request, request.body.vectors, { field: 'vectors', cols: meta.sourceDim, colsLabel: `space "${meta.source}"`, maxRows: opts.maxRows })
    const y = readMatrixField(request, request.body.targetVectors, { field: 'targetVectors', cols: meta.targetDim, colsLabel: `space "${meta.target}"`, maxRows: opts.maxRows })
    if (x.rows !== y.rows) throw unprocessable(`vectors has ${x.rows} rows but targetVectors has ${y.rows}; send the true target of each source row, row for row`)
    const { k, retrieval } = request.body
    const cslsK = request.body.cslsK ?? CSLS_K
    if (x.rows < 2) throw unprocessable('evaluation needs at least 2 rows')
    if (k > x.rows) throw unprocessable(`k ${k} is more than the ${x.rows} rows; use at most ${x.rows}`)
    if (retrieval === 'csls' && cslsK > x.rows) throw unprocessable(`cslsK ${cslsK} is more than the ${x.rows} rows; use at most ${x.rows}`)
    if (retrieval !== 'csls' && request.body.cslsK !== undefined) throw unprocessable('cslsK applies to "retrieval": "csls" only; add it or drop cslsK')
    const plan = evaluatePlan(x.rows, meta.sourceDim, meta.targetDim, k, retrieval === 'csls')
    if (runsAsOperation(request, plan)) {
      const input: EvaluateRequest = { translator: meta.id, x: encodeMatrixJson(x, 'base64'), y: encodeMatrixJson(y, 'base64'), k, retrieval, cslsK }
      return await answerWithOperation(request, reply, { plan, kind: 'evaluate', input }, result => reply.code(200).send(result as Evaluation))
    }
    return await app.runBudgeted(request, plan, async signal => await app.compute.timed(async () =>
      await evaluate(cancellable(app.engine, signal), x, y, map, meta.id, { k, retrieval, cslsK }), timingOf(request)))
  })
}

export default translators
