/**
 * Errors that reach clients as RFC 9457 problem+json. Domain code throws these; the error handler
 * in src/plugins/problems.ts renders them. Anything else is a 500 whose details stay in the log.
 */
export interface ProblemFieldError {
  path: string
  message: string
}

const TITLES: Record<number, string> = {
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
  406: 'Not Acceptable',
  408: 'Request Timeout',
  409: 'Conflict',
  413: 'Content Too Large',
  414: 'URI Too Long',
  415: 'Unsupported Media Type',
  431: 'Request Header Fields Too Large',
  422: 'Unprocessable Content',
  429: 'Too Many Requests',
  500: 'Internal Server Error',
  503: 'Service Unavailable'
}

export class ProblemError extends Error {
  readonly status: number
  readonly title: string
  readonly detail: string
  readonly errors?: ProblemFieldError[]
  readonly type: string
  readonly headers?: Record<string, string>

  constructor (status: number, detail: string, opts: { errors?: ProblemFieldError[], type?: string, title?: string, headers?: Record<string, string> } = {}) {
    super(detail)
    this.name = 'ProblemError'
    this.status = status
    this.detail = detail
    this.title = opts.title ?? TITLES[status] ?? 'Error'
    this.errors = opts.errors
    this.type = opts.type ?? 'about:blank'
    this.headers = opts.headers
  }
}

export const badRequest = (detail: string, errors?: ProblemFieldError[]): ProblemError => new ProblemError(400, detail, { errors })
export const notFound = (detail: string): ProblemError => new ProblemError(404, detail)
export const conflict = (detail: string): ProblemError => new ProblemError(409, detail)
export const unprocessable = (detail: string, errors?: ProblemFieldError[]): ProblemError => new ProblemError(422, detail, { errors })
export const notAcceptable = (detail: string): ProblemError => new ProblemError(406, detail)
export const unsupportedMediaType = (detail: string): ProblemError => new ProblemError(415, detail)
export const unavailable = (detail: string): ProblemError => new ProblemError(503, detail)

export function titleFor (status: number): string {
  return TITLES[status] ?? 'Error'
}
