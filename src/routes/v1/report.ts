import type { FastifyReply } from 'fastify'
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod'
import { renderReportPage } from '../../analysis/report-page.js'
import { prepareReport } from '../../analysis/report-run.js'
import type { MigrationReport } from '../../analysis/report.js'
import { decodeMatrixField, encodeMatrixJson } from '../../codecs/vectors.js'
import { documentHtml } from '../../plugins/swagger.js'
import { problemResponses } from '../../schemas/common.js'
import { ReportBody, ReportResult } from '../../schemas/report.js'
import { TranslatorParams } from '../../schemas/translators.js'
import { AsyncHeaders, Operation } from '../../schemas/operations.js'
import type { ReportJobInput } from '../../jobs/kinds.js'
import { answerWithOperation, runsAsOperation } from './operations.js'

/** The page loads nothing and runs nothing: a CSP that allows only its inline styles. */
const PAGE_CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

/**
 * Whether `Accept` prefers the HTML page to JSON: text/html named with a q above 0 and at least
 * the q JSON gets (from application/json, application/*, or the full wildcard). A browser's
 * Accept names text/html; a program's names JSON or nothing, and gets JSON.
 */
export function prefersHtml (accept: string | undefined): boolean {
  if (accept === undefined) return false
  let html = 0
  let json = 0
  let jsonSpecificity = -1
  for (const part of accept.split(',')) {
    const [range, ...params] = part.split(';').map(s => s.trim().toLowerCase())
    const qParam = params.find(p => p.startsWith('q='))
    const parsed = qParam === undefined ? 1 : Number(qParam.slice(2))
    const q = Number.isFinite(parsed) ? Math.min(1, Math.max(0, parsed)) : 1
    if (range === 'text/html') html = q
    const specificity = range === 'application/json' ? 2 : range === 'application/*' ? 1 : range === '*/*' ? 0 : -1
    if (specificity > jsonSpecificity) {
      jsonSpecificity = specificity
      json = q
    }
  }
  return html > 0 && html >= json
}

const report: FastifyPluginAsyncZod<{ maxRows: number }> = async (app, opts) => {
  documentHtml('post', '/v1/translators/{id}/report', 'With Accept: text/html: the same report as one self-contained page (tables, inline SVG curves, no scripts or external assets), for a person deciding')
  app.post('/v1/translators/:id/report', {
    config: { scope: 'read' },
    schema: {
      tags: ['translators'],
      summary: 'Migration report: what switching to translated vectors costs in retrieval',
      operationId: 'translatorReport',
      description: 'Held-out items embedded by both models: each source row is translated and searched, as a query, among the target model\'s vectors of the items as they are (cosine, raw, as a vector index of the target model holds them). ' +
        'Per direction: neighbour recall@1/5/10 of translated queries against native ones, own-item retrieval@1/5/10, MRR, and the confidence-coverage curve (for confidence thresholds 0 to 1: the share of rows kept and their top-1 and recall@10) to pick a threshold below which items are re-embedded instead. ' +
        'The reverse direction is reported too when the reverse pair has an active translator. JSON by default; with Accept: text/html, one self-contained page. ' +
        'With `Prefer: respond-async`, or when the report is estimated to take longer than ASYNC_AFTER_MS, the answer is 202 with `Location: /v1/operations/{id}`, and the operation\'s result is the report as JSON; a request for the page (Accept: text/html) is always answered at once.',
      params: TranslatorParams,
      headers: AsyncHeaders,
      body: ReportBody,
      response: { 200: ReportResult, 202: Operation.describe('The report runs as an operation: poll Location'), ...problemResponses(400, 401, 404, 413, 422, 429) }
    }
  }, async (request, reply) => {
    // Row lengths are checked against the translator's spaces once it is loaded (prepareReport).
    const limit = { maxRows: opts.maxRows, maxRowsSetting: 'MAX_ROWS_PER_REQUEST' }
    const vectors = decodeMatrixField(request.body.vectors, { field: 'vectors', ...limit })
    const targetVectors = decodeMatrixField(request.body.targetVectors, { field: 'targetVectors', ...limit })
    request.rows = vectors.rows + targetVectors.rows
    const prepared = await prepareReport({ store: app.store, engine: app.engine, translators: app.translators }, {
      translator: request.params.id, vectors, targetVectors, reverse: request.body.reverse
    })
    void reply.header('vary', 'accept')
    // The page is for a person waiting at a browser, and an operation's result is JSON: a request
    // for the page is answered synchronously (within the budgets), whatever its other headers.
    const html = prefersHtml(request.headers.accept)
    if (!html && runsAsOperation(request, prepared.plan)) {
      const input: ReportJobInput = { translator: request.params.id, vectors: encodeMatrixJson(vectors, 'base64'), targetVectors: encodeMatrixJson(targetVectors, 'base64'), reverse: request.body.reverse }
      return await answerWithOperation(request, reply, { plan: prepared.plan, kind: 'report', input }, result => reply.code(200).send(result as MigrationReport))
    }
    const result = await app.runBudgeted(request, prepared.plan, async signal => await prepared.run(signal))
    if (html) {
      // The page is not the JSON schema's shape: sent as text, past the typed reply.
      const page: FastifyReply = reply
      return page.type('text/html; charset=utf-8').header('content-security-policy', PAGE_CSP).send(renderReportPage(result))
    }
    return result
  })
}

export default report
