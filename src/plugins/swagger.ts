import helmet from '@fastify/helmet'
import swagger from '@fastify/swagger'
import swaggerUi from '@fastify/swagger-ui'
import type { FastifyInstance } from 'fastify'
import fp from 'fastify-plugin'
import { jsonSchemaTransform, jsonSchemaTransformObject } from 'fastify-type-provider-zod'
import { MEDIA } from '../codecs/vectors.js'
import { PROBLEM_KINDS, problemType, type ProblemKind, type ProblemKindInfo } from '../errors.js'

/**
 * The OpenAPI 3.1 document is generated from the routes' zod schemas, then completed with what
 * schemas cannot say: errors are application/problem+json, and the hot routes also take and return
 * whole-body binary matrices. `npm run openapi` writes the same document to openapi/openapi.json.
 */

type Json = Record<string, any>

export interface BinaryDoc {
  /** Accepts application/octet-stream and application/x-npy bodies. */
  request?: string
  /** Can answer application/octet-stream and application/x-npy by Accept. */
  response?: string
  /** Answers only application/octet-stream (a file, not a matrix). */
  file?: string
}

const binaryRoutes = new Map<string, BinaryDoc>()
const htmlRoutes = new Map<string, string>()
const timedRoutes = new Set<string>()

/** The timing headers of compute routes (src/plugins/compute.ts): on every response, documented on 200 and 429. */
const TIMING_HEADERS: Json = {
  'x-queue-time': { description: 'ms the request waited for its micro-batch to run', schema: { type: 'string' } },
  'x-compute-time': { description: 'ms of the engine run that computed it', schema: { type: 'string' } },
  'x-total-time': { description: 'ms from the request arriving to the response being sent', schema: { type: 'string' } }
}

/** Compute routes call this so the document lists their timing headers. `path` uses OpenAPI {param} syntax. */
export function documentTiming (method: string, path: string): void {
  timedRoutes.add(`${method.toLowerCase()} ${path}`)
}

/** Routes call this so the document lists their binary forms. `path` uses OpenAPI {param} syntax. */
export function documentBinary (method: string, path: string, doc: BinaryDoc): void {
  binaryRoutes.set(`${method.toLowerCase()} ${path}`, doc)
}

/** Routes that also answer text/html by Accept call this, with what the page is. */
export function documentHtml (method: string, path: string, description: string): void {
  htmlRoutes.set(`${method.toLowerCase()} ${path}`, description)
}

/** The X-Shape request header of binary bodies (src/http/matrix.ts). */
const X_SHAPE_PARAMETER: Json = {
  in: 'header',
  name: 'X-Shape',
  required: false,
  description: 'The shape of a binary matrix body, rows,cols. Optional; when sent it is checked: for application/octet-stream, cols must be the space\'s dim and rows x cols x 4 the body\'s byte length; for application/x-npy, it must equal the shape in the file\'s header. A mismatch is a 422 naming both shapes. Without it, raw float32 is split into rows of the space\'s dim.',
  schema: { type: 'string', pattern: '^\\s*\\d+\\s*,\\s*\\d+\\s*$', examples: ['2,768'] }
}

/** What each status means on this API, for responses the schemas leave undescribed. */
const STATUS_DESCRIPTIONS: Record<string, string> = {
  200: 'OK',
  201: 'Created',
  204: 'Deleted',
  400: 'Malformed request: the problem names the field and what it should be',
  401: 'Missing or invalid API key (only when API_KEYS is configured)',
  403: 'The API key lacks the write scope',
  404: 'The resource does not exist',
  409: 'Conflict with what is stored (the detail says what and how to resolve it)',
  412: 'If-Match names none of the current ETags (changed or deleted since it was read), or If-None-Match: * and it exists; nothing was changed',
  413: 'Body over BODY_LIMIT: send fewer rows per request, or a binary encoding',
  415: 'Unsupported Content-Type',
  422: 'Well-formed but invalid: wrong dimension, non-finite value (first bad row and column named), too few anchors',
  429: 'The compute queue is full (QUEUE_MAX_ROWS rows in flight): retry after Retry-After seconds',
  503: 'Not ready'
}

/** The problem types (src/errors.ts) as the Problem schema's `type` values, each with its meaning and fix. */
function documentProblemTypes (doc: Json): void {
  const problem = doc.components?.schemas?.Problem
  if (problem?.properties?.type === undefined) return
  const kinds = Object.entries(PROBLEM_KINDS) as Array<[string, ProblemKindInfo]>
  problem.properties.type = {
    type: 'string',
    enum: kinds.map(([kind]) => problemType(kind as keyof typeof PROBLEM_KINDS)),
    description: 'A stable URI naming the kind of error: branch on it, not on `detail`.\n\n| type | status | meaning | fix |\n| --- | --- | --- | --- |\n' +
      kinds.map(([kind, info]) => `| \`${problemType(kind as keyof typeof PROBLEM_KINDS)}\` | ${info.status} | ${info.meaning} | ${info.fix} |`).join('\n')
  }
}

/** Operations whose work runs under the budgets (src/services/budget.ts): they also answer 422 over-budget and 503 busy. */
const BUDGETED_OPERATIONS = new Set(['fitTranslator', 'similarity', 'evaluateTranslator', 'selectAnchors', 'translatorReport'])

/** The problem kinds of a status that an operation really answers. */
/** Operations that may run as operations (docs/operations.md): Idempotency-Key, a full queue, a cancelled run. */
const ASYNC_OPERATIONS = new Set(['fitTranslator', 'evaluateTranslator', 'translatorReport'])

function kindsFor (op: Json, path: string, status: number): ProblemKind[] {
  return (Object.keys(PROBLEM_KINDS) as ProblemKind[]).filter(kind => {
    if (PROBLEM_KINDS[kind].status !== status) return false
    // A name holding an unencoded "/" matches no route; paths without parameters cannot miss that way.
    if (kind === 'no-route') return path.includes('{')
    if (kind === 'over-budget' || kind === 'busy') return BUDGETED_OPERATIONS.has(op.operationId)
    if (kind === 'idempotency-key-reused' || kind === 'operations-full' || kind === 'cancelled') return ASYNC_OPERATIONS.has(op.operationId)
    return true
  })
}

function problemExamples (kinds: ProblemKind[]): Json {
  return Object.fromEntries(kinds.map(kind => {
    const { status, title, meaning } = PROBLEM_KINDS[kind]
    return [kind, { summary: title, value: { type: problemType(kind), title, status, detail: meaning } }]
  }))
}

const PROBLEM_REF = '#/components/schemas/Problem'

/** Every /v1 operation can meet a store or engine outage, the pressure guard and the handler deadline. */
const UNAVAILABLE_RESPONSE: Json = {
  description: 'Unavailable for now (the store or the compute engine is down, the server is overloaded, the handler timed out, or working memory is busy): retry after Retry-After seconds',
  content: { [MEDIA.problem]: { schema: { $ref: PROBLEM_REF } } }
}

const header = (description: string): Json => ({ description, schema: { type: 'string' } })

const RETRY_AFTER = header('Seconds to wait before retrying')

/** Headers of binary answers (sent with Accept: application/octet-stream or application/x-npy), by operation. */
const BINARY_HEADERS: Record<string, Json> = {
  relative: {
    'x-anchors': header('Binary answers only: the number of anchors (the width of one block)'),
    'x-anchor-digest': header('Binary answers only: sha256 (hex) of the JSON array of the ordered anchor ids'),
    'x-zero-rows': header('Binary answers only: input rows with zero norm'),
    'x-blocks': header('Binary answers only: the projection of each block, separated by commas')
  },
  translate: {
    'x-translator-id': header('Binary answers only: the id of the translator that computed it'),
    'x-translator-version': header('Binary answers only: the version of that translator')
  },
  getEmbeddings: {
    'x-complete': header('Binary answers only: "true" when every id of the set has a row (else fetch the ids as JSON)'),
    'x-total-rows': header('Binary answers only: how many rows are stored, whatever range was asked for (X-Shape is the shape of the rows returned)'),
    'x-offset': header('Binary answers only: the stored row that is the first one returned')
  }
}

const X_SHAPE_HEADER = header('Binary answers only: the shape of the matrix, rows,cols')

/** Headers of answers that are files, by operation. */
const FILE_HEADERS: Record<string, Json> = {
  getTranslatorOnnx: {
    'content-disposition': header('attachment; filename="translator-<id>-v<version>.onnx"'),
    'x-translator-version': header('The version of the translator')
  }
}

/** GETs of single stored resources answer an ETag of what they return. */
const ETAG_PATHS = new Set(['/v1/spaces/{space}', '/v1/anchor-sets/{set}', '/v1/anchor-sets/{set}/embeddings/{space}', '/v1/translators/{id}'])

const ETAG_HEADER = header('Strong entity tag of this representation (each encoding has its own), for If-None-Match; If-Match on a write takes the ETag of any representation of the resource')

const VARY_HEADER = header('Accept: the body\'s encoding (JSON, npy or raw float32) depends on it')

/** Query parameters that only binary bodies use: a JSON body carries the same fields itself. */
function markBinaryOnly (op: Json): void {
  for (const param of op.parameters ?? []) {
    if (param.in !== 'query') continue
    param.description = `Binary bodies only (${MEDIA.octetStream}, ${MEDIA.npy}); a JSON body carries this field itself.` + (param.description !== undefined ? ` ${String(param.description)}` : '')
  }
}

const SCHEMA_REF = '#/components/schemas/'

/** Replaces each $ref to a component named in `names` by the ref to its new name. */
function renameRefs (node: unknown, names: Map<string, string>): unknown {
  if (Array.isArray(node)) return node.map(v => renameRefs(v, names))
  if (node === null || typeof node !== 'object') return node
  return Object.fromEntries(Object.entries(node).map(([k, v]) => {
    const to = k === '$ref' && typeof v === 'string' && v.startsWith(SCHEMA_REF) ? names.get(v.slice(SCHEMA_REF.length)) : undefined
    return [k, to !== undefined ? SCHEMA_REF + to : renameRefs(v, names)]
  }))
}

function refsIn (node: unknown, into = new Set<string>()): Set<string> {
  if (Array.isArray(node)) for (const v of node) refsIn(v, into)
  else if (node !== null && typeof node === 'object') {
    for (const [k, v] of Object.entries(node)) {
      if (k === '$ref' && typeof v === 'string' && v.startsWith(SCHEMA_REF)) into.add(v.slice(SCHEMA_REF.length))
      else refsIn(v, into)
    }
  }
  return into
}

/**
 * Each zod schema with an id becomes two components, `<id>` (as answered) and `<id>Input` (as
 * sent). One name per schema where the two forms are the same or only one is used; unused go.
 */
function tidyComponents (doc: Json): void {
  const schemas: Json = doc.components?.schemas ?? {}
  const inputs = Object.keys(schemas).filter(name => name.endsWith('Input') && schemas[name.slice(0, -'Input'.length)] !== undefined)
  const plain = new Map(inputs.map(name => [name, name.slice(0, -'Input'.length)]))
  const apply = (names: Map<string, string>): void => {
    for (const from of names.keys()) delete schemas[from]
    doc.paths = renameRefs(doc.paths, names)
    for (const name of Object.keys(schemas)) schemas[name] = renameRefs(schemas[name], names)
  }
  // Input forms identical to their output forms (up to their own Input refs) merge into them.
  apply(new Map(inputs.filter(name => JSON.stringify(renameRefs(schemas[name], plain)) === JSON.stringify(schemas[plain.get(name)!])).map(name => [name, plain.get(name)!])))
  // Drop what the paths do not reach.
  const used = new Set<string>()
  const queue = [...refsIn(doc.paths)]
  while (queue.length > 0) {
    const name = queue.pop()!
    if (used.has(name)) continue
    used.add(name)
    queue.push(...refsIn(schemas[name]))
  }
  for (const name of Object.keys(schemas)) if (!used.has(name)) delete schemas[name]
  // An input form whose output form is unused takes the plain name.
  const alone = new Map([...plain].filter(([name, to]) => schemas[name] !== undefined && schemas[to] === undefined))
  for (const [from, to] of alone) schemas[to] = schemas[from]
  apply(alone)
}

function completeDocument (doc: Json): Json {
  documentProblemTypes(doc)
  for (const [path, item] of Object.entries<Json>(doc.paths ?? {})) {
    for (const [method, op] of Object.entries<Json>(item)) {
      if (path.startsWith('/v1/') && op.responses !== undefined && op.responses['503'] === undefined) op.responses['503'] = structuredClone(UNAVAILABLE_RESPONSE)
      for (const [status, response] of Object.entries<Json>(op.responses ?? {})) {
        if (response.description === 'Default Response' && STATUS_DESCRIPTIONS[status] !== undefined) response.description = STATUS_DESCRIPTIONS[status]
        const json = response.content?.['application/json']
        if (Number(status) >= 400 && typeof json?.schema?.$ref === 'string' && json.schema.$ref.endsWith('/Problem')) {
          response.content = { [MEDIA.problem]: json }
        }
        if (timedRoutes.has(`${method} ${path}`) && (status === '200' || status === '429')) response.headers = { ...response.headers, ...TIMING_HEADERS }
        if (status === '429' || (status === '503' && path.startsWith('/v1/'))) response.headers = { ...response.headers, 'retry-after': RETRY_AFTER }
        const problem = response.content?.[MEDIA.problem]
        if (Number(status) >= 400 && problem?.schema?.$ref === PROBLEM_REF) {
          const kinds = kindsFor(op, path, Number(status))
          if (kinds.length > 0) problem.examples = problemExamples(kinds)
        }
        if (status === '201') response.headers = { location: header('The URL of the resource created'), ...response.headers }
        // Resource GETs, and operations with conditional requests (304, 412), answer with the resource's strong ETag.
        const conditional = op.responses?.['304'] !== undefined || op.responses?.['412'] !== undefined
        if ((status === '200' && method === 'get' && ETAG_PATHS.has(path)) || ((status === '200' || status === '201' || status === '304') && conditional)) {
          response.headers = { etag: ETAG_HEADER, ...response.headers }
        }
      }
      const binary = binaryRoutes.get(`${method} ${path}`)
      if (binary?.request !== undefined && op.requestBody?.content !== undefined) {
        const schema = { type: 'string', format: 'binary', description: binary.request }
        op.requestBody.content[MEDIA.octetStream] = { schema }
        op.requestBody.content[MEDIA.npy] = { schema }
        markBinaryOnly(op)
        op.parameters = [...(op.parameters ?? []), X_SHAPE_PARAMETER]
      }
      const ok = op.responses?.['200'] ?? op.responses?.['201']
      if (binary?.file !== undefined && ok !== undefined) {
        ok.content = { [MEDIA.octetStream]: { schema: { type: 'string', format: 'binary', description: binary.file } } }
      }
      if (binary?.response !== undefined && ok?.content !== undefined) {
        const schema = { type: 'string', format: 'binary', description: binary.response }
        ok.content[MEDIA.octetStream] = { schema }
        ok.content[MEDIA.npy] = { schema }
        ok.headers = { ...ok.headers, vary: VARY_HEADER, 'x-shape': X_SHAPE_HEADER, ...BINARY_HEADERS[op.operationId] }
        const notModified = op.responses?.['304']
        if (notModified !== undefined) notModified.headers = { ...notModified.headers, vary: VARY_HEADER }
      }
      if (binary?.file !== undefined && ok !== undefined) ok.headers = { ...ok.headers, ...FILE_HEADERS[op.operationId] }
      const html = htmlRoutes.get(`${method} ${path}`)
      if (html !== undefined && ok?.content !== undefined) ok.content['text/html'] = { schema: { type: 'string', description: html } }
    }
  }
  tidyComponents(doc)
  return doc
}

async function swaggerPlugin (app: FastifyInstance, opts: { version: string, docs: boolean }): Promise<void> {
  await app.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: {
        title: 'latentbridge',
        version: opts.version,
        description: 'Bridge embedding spaces through parallel anchors: relative representations and fitted translators. ' +
          'Matrices travel as JSON number[][], as base64 float32/float16 objects, or as whole-body application/octet-stream or application/x-npy. ' +
          'Errors are application/problem+json (RFC 9457).'
      },
      tags: [
        { name: 'spaces', description: 'Embedding models and their dimensions' },
        { name: 'anchor-sets', description: 'Parallel anchors: items embedded by several spaces' },
        { name: 'compute', description: 'Relative projection and space similarity' },
        { name: 'translators', description: 'Fit, manage, apply and evaluate maps from one space into another' },
        { name: 'operations', description: 'Health, readiness, metrics' }
      ],
      components: {
        securitySchemes: { apiKey: { type: 'http', scheme: 'bearer', description: 'Needed on /v1 routes when API_KEYS is set' } }
      },
      security: [{ apiKey: [] }]
    },
    transform: jsonSchemaTransform,
    transformObject: (documentObject) => completeDocument(jsonSchemaTransformObject(documentObject) as Json) as ReturnType<typeof jsonSchemaTransformObject>
  })

  if (opts.docs) {
    // Helmet's headers on the documentation pages only (the JSON API has no page to protect), in a
    // context of their own. Swagger UI loads everything from /docs/static (script-src 'self'; its
    // initializer is a file, not an inline script) and sets inline styles ('unsafe-inline' for
    // styles only). No upgrade-insecure-requests: the service is often reached over plain HTTP
    // inside a cluster, where that directive would make the browser fetch the assets over HTTPS.
    await app.register(async docs => {
      // The pages, assets and spec that Swagger UI registers here need no key: its routes cannot
      // carry their own config, so this context gives each of them scope none.
      docs.addHook('onRoute', route => { route.config = { ...route.config, scope: route.config?.scope ?? 'none' } })
      await docs.register(helmet, {
        global: true,
        contentSecurityPolicy: {
          useDefaults: true,
          directives: {
            'default-src': ["'self'"],
            'script-src': ["'self'"],
            'style-src': ["'self'", "'unsafe-inline'"],
            'img-src': ["'self'", 'data:'],
            'connect-src': ["'self'"],
            'upgrade-insecure-requests': null
          }
        },
        // Swagger UI's "Try it out" and the spec fetch are same-origin; keep cross-origin isolation off.
        crossOriginEmbedderPolicy: false
      })
      await docs.register(swaggerUi, {
        routePrefix: '/docs',
        // validatorUrl null: no badge image from an outside validator (img-src 'self' data:).
        uiConfig: { tryItOutEnabled: true, validatorUrl: null }
      })
    })
  }

  app.get('/openapi.json', { config: { scope: 'none' }, schema: { hide: true } }, async () => app.swagger())
}

export default fp(swaggerPlugin, { name: 'swagger' })
