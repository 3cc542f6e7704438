/**
 * Errors that reach clients as RFC 9457 problem+json. Domain code throws these; the error handler
 * in src/plugins/problems.ts renders them. Anything else is a 500 whose details stay in the log.
 *
 * Every kind of error has a stable `type` URI (PROBLEM_TYPE_BASE + its kind), documented in the
 * OpenAPI document from PROBLEM_KINDS, so clients branch on the type and never on the prose of
 * `detail`. A new kind of error gets a new entry here: its status, a title, what it means and how
 * a client fixes it.
 */
export interface ProblemFieldError {
  path: string
  message: string
}

export interface ProblemKindInfo {
  status: number
  title: string
  /** What the error means, for the document. */
  meaning: string
  /** What a client does about it. */
  fix: string
}

export const PROBLEM_TYPE_BASE = 'urn:latentbridge:problem:'

export const PROBLEM_KINDS = {
  'invalid-request': { status: 400, title: 'Invalid request', meaning: 'The request is malformed: a field, the query string, the path or the JSON does not have the required form. `errors` lists each field at fault.', fix: 'Correct the fields named in `errors` (or `detail`) and send the request again.' },
  unauthenticated: { status: 401, title: 'Unauthenticated', meaning: 'API keys are configured and the request carries no valid key.', fix: 'Send `Authorization: Bearer <key>` with a configured key.' },
  forbidden: { status: 403, title: 'Forbidden', meaning: 'The key is valid but its scope does not allow this operation (a read key on a route that changes stored state).', fix: 'Use a key with the write scope.' },
  'not-found': { status: 404, title: 'Not found', meaning: 'A space, anchor set, embeddings, translator or operation named in the request does not exist.', fix: 'Create it first, or correct the name; `detail` names what is missing.' },
  'no-route': { status: 404, title: 'No such route', meaning: 'No operation of the API has this method and path.', fix: 'See /docs or /openapi.json for the operations. A name holding `/` must be sent percent-encoded (%2F).' },
  'not-acceptable': { status: 406, title: 'Not acceptable', meaning: 'The response cannot be given in a media type the Accept header allows.', fix: 'Accept one of the media types the operation lists.' },
  'request-timeout': { status: 408, title: 'Request timeout', meaning: 'The request was not received completely within REQUEST_TIMEOUT_MS.', fix: 'Send the body faster, or smaller.' },
  conflict: { status: 409, title: 'Conflict', meaning: 'The request conflicts with what is stored: a name already taken, a dependent that blocks a delete, a resource deleted meanwhile.', fix: '`detail` says what conflicts and how to resolve it (e.g. `?cascade=true`).' },
  'body-too-large': { status: 413, title: 'Body too large', meaning: 'The body (after decoding any Content-Encoding) is larger than BODY_LIMIT.', fix: 'Send fewer rows per request, or a binary form (application/x-npy or application/octet-stream), which is 3-5x smaller than JSON.' },
  'uri-too-long': { status: 414, title: 'URI too long', meaning: 'A path segment is longer than the router accepts.', fix: 'Use shorter names (at most 128 characters).' },
  'unsupported-media-type': { status: 415, title: 'Unsupported media type', meaning: 'The Content-Type or Content-Encoding of the body is not one this operation takes.', fix: 'Send application/json, or for matrix bodies application/x-npy or application/octet-stream; encodings: identity, gzip, deflate, br.' },
  unprocessable: { status: 422, title: 'Unprocessable content', meaning: 'The request is well-formed but cannot be done as asked: a wrong dimension, a non-finite value, too few anchors, incompatible options.', fix: '`detail` names the value at fault and what would work.' },
  'headers-too-large': { status: 431, title: 'Request header fields too large', meaning: 'The request headers exceed 16 KiB.', fix: 'Send smaller headers.' },
  'queue-full': { status: 429, title: 'Compute queue full', meaning: 'The compute queue (QUEUE_MAX_ROWS rows) has no room for this request now.', fix: 'Retry after the Retry-After seconds, or send fewer rows at once.' },
  internal: { status: 500, title: 'Internal server error', meaning: 'Something failed inside the service; the log holds the details under the request id.', fix: 'Retry; report the `requestId` if it persists.' },
  overloaded: { status: 503, title: 'Overloaded', meaning: 'The server refuses new work for now (event-loop delay, heap or RSS over their limits, or too many large JSON bodies waiting to be parsed).', fix: 'Retry after the Retry-After seconds, or send smaller batches.' },
  timeout: { status: 503, title: 'Handler timeout', meaning: 'The request took longer than HANDLER_TIMEOUT_MS and was abandoned.', fix: 'Send less work per request, or retry later.' },
  unavailable: { status: 503, title: 'Service unavailable', meaning: 'The store or the compute engine cannot serve right now.', fix: 'Retry after the Retry-After seconds.' },
  'over-budget': { status: 422, title: 'Over budget', meaning: 'The estimated memory or time of the work asked for (estimated from the shapes and options before it starts) exceeds WORK_MEMORY_BYTES or WORK_TIME_MS, or the translator it would store exceeds MAX_TRANSLATOR_BYTES. Nothing was run or stored.', fix: '`detail` gives the estimate, the limit and what to send instead: fewer anchors or dimensions, a named method instead of `auto`, fewer folds, a `ridge` value instead of the search, fewer rows.' },
  busy: { status: 503, title: 'Working memory busy', meaning: 'The work fits the budget, but other requests hold too much of the working-memory pool (WORK_MEMORY_BYTES) right now.', fix: 'Retry after the Retry-After seconds.' },
  'precondition-failed': { status: 412, title: 'Precondition failed', meaning: 'The request carried If-Match and the resource no longer has (or never had) one of the entity tags it names: another client changed or deleted it since it was read; or it carried If-None-Match (* : only create) and the resource exists. Nothing was changed.', fix: 'GET the resource again for its current ETag (and content), reconcile, and send the request again with that ETag in If-Match.' },
  'operations-full': { status: 429, title: 'Operations queue full', meaning: 'OPERATIONS_MAX_QUEUED operations are waiting for a worker already; no more are accepted until some start.', fix: 'Retry after the Retry-After seconds, or wait for your queued operations (GET /v1/operations?status=queued).' },
  'idempotency-key-reused': { status: 422, title: 'Idempotency key reused', meaning: 'The Idempotency-Key was sent earlier (within IDEMPOTENCY_TTL) with another request body or to another route; a key names one request.', fix: 'Send the original body with this key to get its operation or result, or use a new key for a new request.' },
  cancelled: { status: 409, title: 'Cancelled', meaning: 'The operation was cancelled (POST /v1/operations/{id}/cancel) before it finished; nothing was stored.', fix: 'Start the work again if it is still wanted.' }
} as const satisfies Record<string, ProblemKindInfo>

export type ProblemKind = keyof typeof PROBLEM_KINDS

export const problemType = (kind: ProblemKind): string => `${PROBLEM_TYPE_BASE}${kind}`

export class ProblemError extends Error {
  readonly status: number
  readonly title: string
  readonly detail: string
  readonly errors?: ProblemFieldError[]
  readonly type: string
  readonly kind: ProblemKind
  readonly headers?: Record<string, string>

  constructor (kind: ProblemKind, detail: string, opts: { errors?: ProblemFieldError[], headers?: Record<string, string> } = {}) {
    super(detail)
    this.name = 'ProblemError'
    const info: ProblemKindInfo = PROBLEM_KINDS[kind]
    this.kind = kind
    this.status = info.status
    this.detail = detail
    this.title = info.title
    this.errors = opts.errors
    this.type = problemType(kind)
    this.headers = opts.headers
  }
}

export const badRequest = (detail: string, errors?: ProblemFieldError[]): ProblemError => new ProblemError('invalid-request', detail, { errors })
export const notFound = (detail: string): ProblemError => new ProblemError('not-found', detail)
export const conflict = (detail: string): ProblemError => new ProblemError('conflict', detail)
export const unprocessable = (detail: string, errors?: ProblemFieldError[]): ProblemError => new ProblemError('unprocessable', detail, { errors })
export const notAcceptable = (detail: string): ProblemError => new ProblemError('not-acceptable', detail)
export const unsupportedMediaType = (detail: string): ProblemError => new ProblemError('unsupported-media-type', detail)
export const preconditionFailed = (detail: string): ProblemError => new ProblemError('precondition-failed', detail)
export const unavailable = (detail: string, headers?: Record<string, string>): ProblemError => new ProblemError('unavailable', detail, { headers })

/** The generic kind of a status, for errors that arrive with a status only (Fastify's own). */
export function kindForStatus (status: number): ProblemKind {
  for (const [kind, info] of Object.entries(PROBLEM_KINDS) as Array<[ProblemKind, ProblemKindInfo]>) {
    if (info.status === status && kind !== 'no-route' && kind !== 'overloaded' && kind !== 'timeout') return kind
  }
  return status >= 500 ? 'internal' : 'invalid-request'
}
