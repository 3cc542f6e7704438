import { STATUS_CODES } from 'node:http'
import type { Duplex } from 'node:stream'
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import fp from 'fastify-plugin'
import { hasZodFastifySchemaValidationErrors } from 'fastify-type-provider-zod'
import { WorkCancelled } from '../budget/cancel.js'
import { PROBLEM_KINDS, ProblemError, kindForStatus, problemType, type ProblemFieldError, type ProblemKind } from '../errors.js'

/**
 * Every error leaves as application/problem+json (RFC 9457). Client errors say what is wrong and
 * how to fix it; server errors say only that something failed, with the request id to find the
 * logged details.
 */

export interface ProblemBody {
  type: string
  title: string
  status: number
  detail: string
  instance?: string
  requestId?: string
  errors?: ProblemFieldError[]
}

/** A problem document of a kind from the catalogue (src/errors.ts). */
export function problemOf (kind: ProblemKind, detail: string, errors?: ProblemFieldError[]): ProblemBody {
  const { status, title } = PROBLEM_KINDS[kind]
  return { type: problemType(kind), title, status, detail, ...(errors !== undefined ? { errors } : {}) }
}

export function sendProblem (request: FastifyRequest, reply: FastifyReply, problem: ProblemBody, headers?: Record<string, string>): FastifyReply {
  if (headers !== undefined) void reply.headers(headers)
  return reply
    .code(problem.status)
    .type('application/problem+json; charset=utf-8')
    // Bypass the route's response serializer: problems have their own fixed shape.
    .serializer(JSON.stringify)
    .send({ ...problem, instance: request.url.split('?')[0], requestId: request.id })
}

function zodPath (instancePath: string | undefined, params: Record<string, unknown> | undefined): string {
  const issue = params?.issue as { path?: Array<string | number> } | undefined
  if (issue?.path !== undefined && issue.path.length > 0) {
    return issue.path.map((p, i) => typeof p === 'number' ? `[${p}]` : (i === 0 ? p : `.${p}`)).join('')
  }
  return (instancePath ?? '').replace(/^\//, '').replace(/\//g, '.')
}

/** Maps Fastify's own errors (parsing, limits, validation) to problems with useful details. */
function fromFastifyError (error: FastifyError, request: FastifyRequest, bodyLimit: number): ProblemBody | null {
  const mib = (bodyLimit / (1024 * 1024)).toFixed(bodyLimit % (1024 * 1024) === 0 ? 0 : 1)
  if (hasZodFastifySchemaValidationErrors(error) || error.validation !== undefined) {
    const where = error.validationContext ?? 'body'
    const errors = (error.validation ?? []).map(v => {
      const path = zodPath(v.instancePath, v.params as Record<string, unknown>)
      return { path: path === '' ? where : `${where}.${path}`, message: v.message ?? 'invalid' }
    })
    const first = errors[0]
    return problemOf('invalid-request', `the request ${where} is invalid${first !== undefined ? `: ${first.path}: ${first.message}` : ''}`, errors)
  }
  switch (error.code) {
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return problemOf('body-too-large', `the request body is larger than the limit of ${bodyLimit} bytes (${mib} MiB). Send fewer rows per request (split into batches), or use a compact encoding: the base64 float32 form in JSON, or a whole-body application/octet-stream or application/x-npy request, which are 3-5x smaller than JSON number arrays. The limit is set by BODY_LIMIT.`)
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return problemOf('unsupported-media-type', `Content-Type ${JSON.stringify(request.headers['content-type'] ?? '')} is not supported here; send application/json${request.method === 'PUT' || request.method === 'POST' ? ', or for matrix uploads application/octet-stream or application/x-npy' : ''}`)
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
      return problemOf('invalid-request', 'the request body is empty; send a JSON object')
    case 'FST_ERR_CTP_INVALID_JSON_BODY':
    case 'FST_ERR_CTP_INVALID_CONTENT_LENGTH':
      return problemOf('invalid-request', `the request body is not valid JSON: ${error.message}`)
    case 'FST_ERR_CTP_INVALID_TYPE':
    case 'FST_ERR_CTP_EMPTY_TYPE':
      return problemOf('invalid-request', 'the Content-Type header is missing or malformed; send application/json')
    default:
      break
  }
  if (error instanceof SyntaxError) {
    return problemOf('invalid-request', `the request body is not valid JSON: ${error.message}`)
  }
  const status = error.statusCode
  if (status !== undefined && status >= 400 && status < 500) {
    return problemOf(kindForStatus(status), error.message)
  }
  return null
}

/**
 * Errors Fastify meets before a request reaches the router (Fastify's `frameworkErrors` option):
 * an undecodable URL, a path parameter over the router's length limit. Answered as problems too.
 */
export function frameworkErrors (error: FastifyError, request: FastifyRequest, reply: FastifyReply): void {
  const path = request.url.split('?')[0]
  const shown = JSON.stringify(path.length > 200 ? `${path.slice(0, 200)}...` : path)
  let problem: ProblemBody
  if (error.code === 'FST_ERR_BAD_URL') {
    problem = problemOf('invalid-request', `the path ${shown} is not valid: it holds a malformed percent-encoding; encode each byte of a name as %XX (e.g. "/" as %2F)`)
  } else if (error.code === 'FST_ERR_MAX_PARAM_LENGTH') {
    problem = problemOf('uri-too-long', `a segment of the path ${shown} is longer than 512 characters; names are at most 128 characters and translator ids at most 200`)
  } else {
    request.log.error({ err: error }, 'framework error')
    problem = problemOf('internal', `an internal error occurred; the server log has the details under request id ${request.id}`)
  }
  sendProblem(request, reply, problem)
}

/**
 * Errors at the socket, before Fastify has a request (Fastify's `clientErrorHandler`): malformed
 * HTTP, headers over the size limit, a request not received within REQUEST_TIMEOUT_MS. Written as
 * problems directly on the socket, then the connection is closed, as Fastify's default does.
 */
export function clientErrorHandler (requestTimeoutMs: number): (this: FastifyInstance, err: NodeJS.ErrnoException, socket: Duplex) => void {
  return function (this: FastifyInstance, err, socket) {
    if (err.code === 'ECONNRESET' || socket.destroyed) return
    let kind: ProblemKind = 'invalid-request'
    let detail = 'the request is not valid HTTP/1.1'
    if (err.code === 'ERR_HTTP_REQUEST_TIMEOUT') {
      kind = 'request-timeout'
      detail = `the request was not received completely within the limit of ${requestTimeoutMs} ms (REQUEST_TIMEOUT_MS)`
    } else if (err.code === 'HPE_HEADER_OVERFLOW') {
      kind = 'headers-too-large'
      detail = 'the request headers are larger than the limit of 16 KiB (Node.js --max-http-header-size)'
    }
    this.log.trace({ err }, 'client error')
    if (socket.writable) {
      const body = JSON.stringify(problemOf(kind, detail))
      const status = PROBLEM_KINDS[kind].status
      socket.write(`HTTP/1.1 ${status} ${STATUS_CODES[status] ?? 'Error'}\r\nConnection: close\r\nContent-Length: ${Buffer.byteLength(body)}\r\nContent-Type: application/problem+json; charset=utf-8\r\n\r\n${body}`)
    }
    socket.destroy(err)
  }
}

/** The 503 answered when a request runs past HANDLER_TIMEOUT_MS (src/plugins/deadline.ts sends it). */
export function timeoutProblem (handlerTimeoutMs: number): ProblemBody {
  return problemOf('timeout', `the request took longer than the limit of ${handlerTimeoutMs} ms (HANDLER_TIMEOUT_MS) and was abandoned; send fewer rows per request, or retry later. A write may still complete after this answer: check its result before retrying it.`)
}

async function problems (app: FastifyInstance, opts: { bodyLimit: number }): Promise<void> {
  app.setErrorHandler((error: FastifyError, request, reply) => {
    if (error instanceof ProblemError) {
      // 503s are overload or unavailability, reported by whoever threw them: a warning, not an error.
      if (error.status === 503) request.log.warn({ detail: error.detail }, 'request refused')
      else if (error.status >= 500) request.log.error({ err: error }, 'request failed')
      return sendProblem(request, reply, {
        type: error.type, title: error.title, status: error.status, detail: error.detail, errors: error.errors
      }, error.headers)
    }
    if (error instanceof WorkCancelled) {
      // The client left: nobody reads this answer; not a server failure.
      request.log.info({ detail: error.message }, 'request cancelled')
      return sendProblem(request, reply, problemOf('unavailable', error.message))
    }
    const mapped = fromFastifyError(error, request, opts.bodyLimit)
    if (mapped !== null) return sendProblem(request, reply, mapped)
    request.log.error({ err: error }, 'unhandled error')
    return sendProblem(request, reply, problemOf('internal', `an internal error occurred; the server log has the details under request id ${request.id}`))
  })

  app.setNotFoundHandler((request, reply) => {
    const path = request.url.split('?')[0]
    return sendProblem(request, reply, problemOf('no-route',
      `no route ${request.method} ${path}${slashInNameHint(path)}; the API is described at /docs and /openapi.json`))
  })
}

/** The /v1 collections whose members are named in the path. */
const NAMED_COLLECTIONS = /^\/v1\/(spaces|anchor-sets|translators)\/[^/]+\/[^/]/

/**
 * A path with more segments after a collection member than any route takes is most often a name
 * holding "/" sent unencoded: say how to send it.
 */
function slashInNameHint (path: string): string {
  const match = NAMED_COLLECTIONS.exec(path)
  if (match === null) return ''
  return `; a name that holds "/" must be percent-encoded as %2F (the name "a/b" is /v1/${match[1]}/a%2Fb)`
}

export default fp(problems, { name: 'problems' })
