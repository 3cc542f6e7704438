import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod'
import type { z } from 'zod'
import { linearCka, knnJaccard } from '../../analysis/similarity.js'
import { commonRows } from '../../anchors/parallel.js'
import type { Projection } from '../../engine/types.js'
import { badRequest, notFound, unprocessable } from '../../errors.js'
import { isBinaryBody, readBinaryMatrix, readMatrixField, sendMatrix } from '../../http/matrix.js'
import { timingOf } from '../../services/compute.js'
import { documentBinary, documentTiming } from '../../plugins/swagger.js'
import { problemResponses } from '../../schemas/common.js'
import { requireEmbeddings } from '../../store/require.js'
import { cancellable } from '../../budget/cancel.js'
import { similarityPlan } from '../../budget/work.js'
import {
  RelativeBody, RelativeParams, RelativeQuery, RelativeResult, SimilarityBody, SimilarityResult
} from '../../schemas/compute.js'


/** The binary form carries the options in the query string; read them into the JSON shape. */
function paramsFromQuery (query: z.infer<typeof RelativeQuery>): z.infer<typeof RelativeParams> {
  const list = (s: string | undefined): string[] | undefined => s === undefined ? undefined : s.split(',').map(p => p.trim()).filter(p => p !== '')
  const num = (s: string | undefined): number | undefined => s === undefined || s === '' ? undefined : Number(s)
  const projections = list(query.projection)
  const candidate = {
    space: query.space,
    anchorSet: query.anchorSet,
    projection: projections === undefined ? undefined : projections.length === 1 ? projections[0] : projections,
    center: query.center === undefined ? undefined : query.center === 'true',
    commonWith: list(query.commonWith),
    topK: num(query.topK),
    power: num(query.power),
    normalize: query.normalize,
    returnAnchorIds: query.returnAnchorIds === undefined ? undefined : query.returnAnchorIds === 'true'
  }
  const parsed = RelativeParams.safeParse(Object.fromEntries(Object.entries(candidate).filter(([, v]) => v !== undefined)))
  if (!parsed.success) {
    const errors = parsed.error.issues.map(i => ({ path: `querystring.${i.path.join('.')}`, message: i.message }))
    throw badRequest(`the query string is invalid: ${errors[0].path}: ${errors[0].message} (binary bodies take the options as query parameters, e.g. ?space=A&anchorSet=wiki)`, errors)
  }
  return parsed.data
}

const compute: FastifyPluginAsyncZod<{ maxRows: number }> = async (app, opts) => {
  documentBinary('post', '/v1/relative', {
    request: 'The input matrix as raw little-endian float32 (row length = the space\'s dim) or a .npy file; the options go in the query string.',
    response: 'With Accept: application/octet-stream or application/x-npy: the relative matrix; X-Shape, X-Anchors, X-Anchor-Digest, X-Zero-Rows and X-Blocks headers carry the other fields.'
  })
  documentTiming('post', '/v1/relative')
  app.post('/v1/relative', {
    config: { scope: 'read', binaryBody: true, timing: true },
    schema: {
      tags: ['compute'],
      summary: 'Relative representation: each vector as its similarities to the anchors',
      operationId: 'relative',
      description: 'Relative vectors made on the same anchors (same anchorDigest) with the same options are comparable across spaces. Concurrent small requests with the same space, anchors and options are computed together (micro-batching); each gets exactly the rows it would get alone. 429 with Retry-After when the compute queue (QUEUE_MAX_ROWS rows) is full.',
      body: RelativeBody,
      querystring: RelativeQuery,
      response: { 200: RelativeResult, ...problemResponses(400, 401, 404, 413, 415, 422, 429) }
    }
  }, async (request, reply) => {
    const binary = isBinaryBody(request)
    const params = binary ? paramsFromQuery(request.query) : request.body
    const space = await app.store.getSpace(params.space)
    if (space === null) throw notFound(`space "${params.space}" does not exist`)
    // `stamp` names the anchors' exact content (the uploads' revisions), so requests may share a run.
    const anchors = await app.compute.anchors.load(app.store, params.anchorSet, params.space, params.commonWith ?? [])
    const target = { field: 'vectors', cols: space.dim, colsLabel: `space "${params.space}"`, maxRows: opts.maxRows }
    const x = binary ? readBinaryMatrix(request, target) : readMatrixField(request, request.body.vectors, target)
    const projections: Projection[] = Array.isArray(params.projection) ? params.projection : [params.projection]
    if (new Set(projections).size !== projections.length) {
      throw unprocessable('projection lists a projection twice; each block must be a different projection')
    }
    if (params.topK !== undefined && params.topK > anchors.ids.length) {
      throw unprocessable(`topK ${params.topK} is more than the ${anchors.ids.length} anchors; use at most ${anchors.ids.length}`)
    }
    const options = { projections, center: params.center, topK: params.topK, power: params.power, normalize: params.normalize }
    const { matrix, zeroRows } = await app.compute.relative(params.space, anchors, options, x, timingOf(request))
    const digest = anchors.digest
    return sendMatrix(request, reply, matrix, {
      field: 'vectors',
      encodingFormat: params.encodingFormat,
      json: { anchorIds: params.returnAnchorIds ? anchors.ids : null, anchors: anchors.ids.length, blocks: projections, anchorDigest: digest, zeroRows },
      headers: { 'x-anchors': String(anchors.ids.length), 'x-anchor-digest': digest, 'x-zero-rows': String(zeroRows), 'x-blocks': projections.join(',') }
    })
  })

  documentTiming('post', '/v1/similarity')
  app.post('/v1/similarity', {
    config: { scope: 'read', timing: true },
    schema: {
      tags: ['compute'],
      summary: 'How alike two spaces are, on the anchors both hold',
      operationId: 'similarity',
      body: SimilarityBody,
      response: { 200: SimilarityResult, ...problemResponses(400, 401, 404, 422) }
    }
  }, async (request) => {
    const { spaces, anchorSet, k } = request.body
    const held = await Promise.all(spaces.map(async s => await requireEmbeddings(app.store, anchorSet, s)))
    const { ids, matrices } = commonRows(held)
    if (ids.length < 3) {
      throw unprocessable(`spaces "${spaces[0]}" and "${spaces[1]}" hold ${ids.length} anchors in common in set "${anchorSet}"; similarity needs at least 3`)
    }
    if (k >= ids.length) throw unprocessable(`k ${k} must be below the ${ids.length} anchors both spaces hold`)
    request.rows = ids.length
    const plan = similarityPlan(ids.length, matrices[0].cols, matrices[1].cols, k)
    const [cka, jaccard] = await app.runBudgeted(request, plan, async signal => await app.compute.timed(async () => {
      const engine = cancellable(app.engine, signal)
      return await Promise.all([linearCka(matrices[0], matrices[1], engine), knnJaccard(matrices[0], matrices[1], k, engine)])
    }, timingOf(request)))
    return { count: ids.length, cka, knnJaccard: jaccard }
  })
}

export default compute
