/**
 * Hostile and broken input, one fast-check property per /v1 route of the OpenAPI document: random
 * malformed bodies, wrong content types, wrong shapes, NaN/Inf (1e999 in JSON text, NaN bytes in
 * binary bodies), huge ids, deep JSON, __proto__ keys, truncated base64 and npy, bad keys. Every
 * answer must be a 4xx application/problem+json document, never a 5xx, and the store must hold
 * exactly what it held before each batch of bad requests.
 *
 * Every generator produces requests that are wrong by construction (each starts from a valid
 * request of its route and breaks one thing), so any 2xx is a finding too: a request the service
 * should have refused, caught both by the status check and by the store snapshot.
 */
import fc from 'fast-check'
import type { FastifyInstance } from 'fastify'
import t from 'tap'
import { npyHeader } from '../../src/codecs/npy.js'
import { PROBLEM_KINDS, PROBLEM_TYPE_BASE, type ProblemKind } from '../../src/errors.js'
import { NAME_PATTERN } from '../../src/schemas/common.js'
import { json, testApp } from '../helpers/app.js'
import { appSnapshot, releaseTranslators, seedTranslator } from '../helpers/fixtures.js'

type Method = 'GET' | 'PUT' | 'POST' | 'DELETE'

interface Bad {
  method: Method
  url: string
  headers: Record<string, string>
  payload?: string | Buffer
  /** What was broken, for the failure message. */
  what: string
}

const WRITE = 'hostile-write-key-0123456789'
const READ = 'hostile-read-key-0123456789'
const MAX_ROWS = 64
const MAX_ANCHORS = 256
const MAX_DIM = 4096
const BODY_LIMIT = 1024 * 1024

const SRC = 'fx.src'
const TGT = 'fx.tgt'
const SET = 'fx.set'
const SRC_DIM = 4
const TGT_DIM = 3
const IDS = Array.from({ length: 12 }, (_, i) => `id-${i}`)

const RUNS = Number(process.env.HOSTILE_RUNS ?? 200)

// ---------------------------------------------------------------------------------------------
// JSON text with raw literals (1e999 cannot be written by JSON.stringify)

class Raw {
  constructor (readonly text: string) {}
}

function jsonText (v: unknown): string {
  if (v instanceof Raw) return v.text
  if (Array.isArray(v)) return `[${v.map(jsonText).join(',')}]`
  if (v !== null && typeof v === 'object') return `{${Object.entries(v).map(([k, x]) => `${JSON.stringify(k)}:${jsonText(x)}`).join(',')}}`
  return JSON.stringify(v) ?? 'null'
}

const auth = (key = WRITE): Record<string, string> => ({ authorization: `Bearer ${key}` })
const jsonHeaders = (key = WRITE): Record<string, string> => ({ ...auth(key), 'content-type': 'application/json' })
const enc = encodeURIComponent

function values (n: number, seed: number): number[] {
  const out: number[] = []
  let s = seed >>> 0
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0
    out.push(Math.fround(s / 2 ** 31 - 1))
  }
  return out
}

function rowsOf (rows: number, cols: number, seed = 1): number[][] {
  const flat = values(rows * cols, seed)
  return Array.from({ length: rows }, (_, r) => flat.slice(r * cols, (r + 1) * cols))
}

function f32Bytes (flat: number[]): Buffer {
  return Buffer.from(new Float32Array(flat).buffer)
}

// ---------------------------------------------------------------------------------------------
// Building blocks

const junkValue = fc.oneof(
  fc.string({ maxLength: 20 }),
  fc.integer(),
  fc.boolean(),
  fc.constant(null),
  fc.array(fc.integer(), { maxLength: 3 }),
  fc.constant({}),
  fc.constantFrom(new Raw('1e999'), new Raw('-1e999'), new Raw('1e400'))
)

/** Names the API refuses: wrong characters, too long (400), or longer than the router's 512 (414). */
const badName = fc.oneof(
  fc.string({ minLength: 1, maxLength: 30 }).filter(s => !NAME_PATTERN.test(s) && s !== '.' && s !== '..' && !s.includes('/') && !hasLoneSurrogate(s)),
  fc.integer({ min: 129, max: 700 }).map(n => 'n'.repeat(n)),
  fc.constantFrom('-leading-dash', '.hidden', 'with space', 'tab\tname', 'nul\u0000byte', 'ünïcödé', 'semi;colon', 'a?b', 'a#b', '%', '\u202Eevil')
)

function hasLoneSurrogate (s: string): boolean {
  try {
    encodeURIComponent(s)
    return false
  } catch {
    return true
  }
}

/** Path segments that are not valid percent-encodings at all. */
const rawBadSegment = fc.constantFrom('%', '%E0%A4%A', '%zz', '%C0%AF%', '%ff%fe')

/** Valid names that no fixture uses: 404s. */
const absentName = fc.stringMatching(/^hx[A-Za-z0-9._-]{0,20}$/)

const nonFiniteLiteral = fc.constantFrom('1e999', '-1e999', '1e400', '1e39', '-3.5e38', '3.5e38')

interface MatrixBreak {
  value: unknown
  what: string
}

/** A matrix field value that is wrong by construction, for a field whose rows have `cols` values. */
function badMatrix (cols: number): fc.Arbitrary<MatrixBreak> {
  const rows = fc.integer({ min: 1, max: 5 })
  return fc.oneof(
    fc.record({ rows, at: fc.nat(), lit: nonFiniteLiteral }).map(({ rows, at, lit }) => {
      const m: unknown[][] = rowsOf(rows, cols)
      const i = at % (rows * cols)
      m[Math.floor(i / cols)][i % cols] = new Raw(lit)
      return { value: m, what: `vectors with ${lit} at ${i}` }
    }),
    fc.record({ rows, at: fc.nat(), cell: fc.constantFrom<unknown>(null, '1', true, [], {}, [1]) }).map(({ rows, at, cell }) => {
      const m: unknown[][] = rowsOf(rows, cols)
      const i = at % (rows * cols)
      m[Math.floor(i / cols)][i % cols] = cell
      return { value: m, what: `vectors with ${JSON.stringify(cell)} at ${i}` }
    }),
    fc.record({ rows: fc.integer({ min: 2, max: 5 }), at: fc.nat(), delta: fc.constantFrom(-1, 1, 5) }).map(({ rows, at, delta }) => {
      const m = rowsOf(rows, cols)
      const r = 1 + (at % (rows - 1))
      m[r] = delta < 0 ? m[r].slice(0, cols - 1) : [...m[r], ...values(delta, 7)]
      return { value: m, what: `ragged row ${r}` }
    }),
    fc.record({ rows, delta: fc.constantFrom(-1, 1, 3) }).filter(({ delta }) => cols + delta >= 0).map(({ rows, delta }) => ({ value: rowsOf(rows, cols + delta), what: `rows of ${cols + delta}` })),
    fc.integer({ min: MAX_ROWS + 1, max: MAX_ROWS + 4 }).map(n => ({ value: rowsOf(n, cols), what: `${n} rows` })),
    fc.constantFrom<unknown>('matrix', 42, true, [1, 2, 3], [[1, 2], 'row'], {}, { data: 'AAAA' }).map(v => ({ value: v, what: `not a matrix: ${JSON.stringify(v)}` })),
    // base64: truncated data, NaN bytes, shape that disagrees, wrong dtype, characters outside the alphabet
    fc.record({ rows, cut: fc.integer({ min: 1, max: 40 }) }).map(({ rows, cut }) => {
      // Padding alone may be left out; cut into the data itself.
      const data = f32Bytes(values(rows * cols, 3)).toString('base64').replace(/=+$/, '')
      return { value: { dtype: 'float32', shape: [rows, cols], data: data.slice(0, Math.max(0, data.length - cut)) }, what: `base64 cut by ${cut}` }
    }),
    fc.record({ rows, at: fc.nat(), bits: fc.constantFrom(0x7fc00000, 0x7f800000, 0xff800000, 0x7fa00001) }).map(({ rows, at, bits }) => {
      const buf = f32Bytes(values(rows * cols, 4))
      buf.writeUInt32LE(bits, 4 * (at % (rows * cols)))
      return { value: { dtype: 'float32', shape: [rows, cols], data: buf.toString('base64') }, what: `base64 with 0x${bits.toString(16)}` }
    }),
    fc.record({ rows, extra: fc.constantFrom([1, 0], [0, 1], [-1, 0]) }).map(({ rows, extra }) => ({
      value: { dtype: 'float32', shape: [rows + extra[0], cols + extra[1]], data: f32Bytes(values(rows * cols, 5)).toString('base64') },
      what: `base64 shape off by ${extra.join(',')}`
    })),
    fc.record({ dtype: fc.constantFrom<unknown>('float64', 'int8', 'F32', null, 3), shape: fc.constantFrom<unknown>([1, cols], [1], 'x', [1.5, cols], [-1, cols], [2 ** 60, cols]) }).map(({ dtype, shape }) => ({
      value: { dtype: dtype === null ? 'float32' : dtype, shape, data: 'AAAAAA==' },
      what: `base64 with dtype ${String(dtype)} shape ${JSON.stringify(shape)}`
    })),
    fc.constantFrom('@@@@', 'AA AA', 'AA==AA==', '-_-_', 'A', 'AAAAA').map(data => ({ value: { dtype: 'float32', shape: [1, cols], data }, what: `base64 data ${JSON.stringify(data)}` }))
  )
}

/** A whole-body binary matrix that is wrong by construction: content type and bytes. */
function badBinary (cols: number): fc.Arbitrary<{ type: string, body: Buffer, what: string }> {
  const rows = fc.integer({ min: 1, max: 4 })
  const npy = (header: Buffer, data: Buffer): Buffer => Buffer.concat([header, data])
  const customHeader = (dict: string): Buffer => {
    const total = Math.ceil((10 + dict.length + 1) / 64) * 64
    const text = dict + ' '.repeat(total - 10 - dict.length - 1) + '\n'
    const pre = Buffer.from([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0, 0, 0])
    pre.writeUInt16LE(text.length, 8)
    return Buffer.concat([pre, Buffer.from(text, 'latin1')])
  }
  return fc.oneof(
    fc.record({ rows, at: fc.nat(), bits: fc.constantFrom(0x7fc00000, 0x7f800000, 0xff800000, 0xffffffff) }).map(({ rows, at, bits }) => {
      const body = f32Bytes(values(rows * cols, 6))
      body.writeUInt32LE(bits, 4 * (at % (rows * cols)))
      return { type: 'application/octet-stream', body, what: `raw float32 with 0x${bits.toString(16)}` }
    }),
    fc.record({ rows, extra: fc.integer({ min: 1, max: cols * 4 - 1 }) }).map(({ rows, extra }) => ({
      type: 'application/octet-stream', body: Buffer.concat([f32Bytes(values(rows * cols, 7)), Buffer.alloc(extra, 1)]), what: `raw float32 with ${extra} extra bytes`
    })),
    fc.record({ rows, cut: fc.integer({ min: 1, max: 64 }) }).map(({ rows, cut }) => {
      const file = npy(npyHeader(rows, cols), f32Bytes(values(rows * cols, 8)))
      return { type: 'application/x-npy', body: file.subarray(0, Math.max(0, file.length - cut)), what: `npy cut by ${cut}` }
    }),
    fc.record({ rows, at: fc.nat() }).map(({ rows, at }) => {
      const data = f32Bytes(values(rows * cols, 9))
      data.writeUInt32LE(0x7fc00000, 4 * (at % (rows * cols)))
      return { type: 'application/x-npy', body: npy(npyHeader(rows, cols), data), what: 'npy with NaN' }
    }),
    fc.record({ rows, dict: fc.constantFrom(
      "{'descr': '<i4', 'fortran_order': False, 'shape': (R, C), }",
      "{'descr': '<f4', 'fortran_order': True, 'shape': (R, C), }",
      "{'descr': '<f4', 'fortran_order': False, 'shape': (R, C, 1), }",
      "{'descr': '<f4', 'fortran_order': False, 'shape': (R, X), }",
      "{'descr': '<f4', 'fortran_order': False, 'shape': (99999999999999, C), }",
      "{'descr': '<f4', 'fortran_order': False, 'shape': (-R, C), }",
      "{'descr': '|O', 'fortran_order': False, 'shape': (R, C), }",
      "{'descr': '<f4', 'fortran_order': False, 'shape': (R, C)",
      "{'descr': '<f4', 'shape': (R, C), }",
      "{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (R, C), }",
      '{' + "'k': ".repeat(200) + '1' + '}'.repeat(200)
    ) }).map(({ rows, dict }) => {
      // One row is the same in C and Fortran order (a valid file): Fortran order needs two or more.
      const r = dict.includes('True') ? rows + 1 : rows
      return {
        type: 'application/x-npy',
        body: npy(customHeader(dict.replace(/R/g, String(r)).replace(/C/g, String(cols)).replace(/X/g, String(cols + 1))), f32Bytes(values(r * cols, 10))),
        what: `npy header ${dict.slice(0, 60)} (${r} rows)`
      }
    }),
    fc.uint8Array({ minLength: 1, maxLength: 200 }).map(bytes => ({ type: 'application/x-npy', body: Buffer.from(bytes), what: 'npy of random bytes' })),
    fc.constantFrom(Buffer.from('\x93NUMPY'), Buffer.from('\x93NUMPY\x01\x00'), Buffer.from('\x93NUMPY\x01\x00\xff\xff{')).map(body => ({ type: 'application/x-npy', body, what: 'npy preamble only' }))
  )
}

// ---------------------------------------------------------------------------------------------
// Route descriptions

interface BodyRoute {
  method: Method
  /** The route with valid fixture parameters. */
  url: string
  /** A valid body (never sent as is). */
  template: Record<string, unknown>
  /** Fields whose absence makes the body invalid. */
  required: string[]
  /** Per field, values that make the body invalid. */
  invalid: Record<string, fc.Arbitrary<unknown>>
  /** The fields that hold matrices. */
  matrixFields?: string[]
  /** Whole-body binary form: the query string that carries the other fields. */
  binary?: { query: string, cols: number }
  /** Other broken requests of this route (bad parameters, conflicts, refused keys). */
  extra?: fc.Arbitrary<Bad>
  write: boolean
}

interface BodylessRoute {
  method: Method
  url: string
  /** Broken requests of this route: bad parameters or queries, absent resources, refused keys. */
  broken?: fc.Arbitrary<Bad>
  write: boolean
}

/** Requests with a missing, malformed or unknown key (401), or a read key on a write route (403). */
function badAuth (method: Method, url: string, write: boolean, payload?: string): fc.Arbitrary<Bad> {
  const withHeader = (authorization: string | undefined, what: string): Bad => ({
    method,
    url,
    headers: { ...(authorization !== undefined ? { authorization } : {}), ...(payload !== undefined ? { 'content-type': 'application/json' } : {}) },
    payload,
    what
  })
  const cases: Array<fc.Arbitrary<Bad>> = [
    fc.constant(withHeader(undefined, 'no key')),
    fc.constantFrom('Basic abc', 'Bearer', 'Bearer ', `Token ${WRITE}`, `Bearer ${WRITE}x`, `Bearer ${WRITE.slice(0, -1)}`, `Bearer  ${WRITE} extra`, `${WRITE}`)
      .map(h => withHeader(h, `authorization ${JSON.stringify(h.slice(0, 30))}`)),
    fc.stringMatching(/^[!-~]{1,120}$/).filter(s => s !== WRITE && s !== READ).map(s => withHeader(`Bearer ${s}`, 'unknown key')),
    fc.integer({ min: 1000, max: 8000 }).map(n => withHeader(`Bearer ${'k'.repeat(n)}`, `key of ${n} characters`))
  ]
  if (write) cases.push(fc.constant(withHeader(`Bearer ${READ}`, 'read key on a write route')))
  return fc.oneof(...cases)
}

/** Every broken request of a route with a JSON body. */
function bodyRequests (route: BodyRoute): fc.Arbitrary<Bad> {
  const { method, url, template } = route
  const text = jsonText(template)
  const bad = (payload: string | Buffer, what: string, headers = jsonHeaders()): Bad => ({ method, url, headers, payload, what })
  const fields = Object.keys(template)

  const malformed = fc.oneof(
    fc.nat().map(n => bad(text.slice(0, n % text.length), `truncated JSON at ${n % text.length}`)),
    fc.string({ maxLength: 60 }).filter(s => { try { JSON.parse(s); return false } catch { return true } }).map(s => bad(s, `not JSON: ${JSON.stringify(s.slice(0, 20))}`)),
    fc.constantFrom('NaN', 'Infinity', '{"a":1,}', "{'a':1}", `${text}${text}`, `/* c */${text}`, '{"a":01}', '\u0000', '{"a":"\\x"}', `${text},`, `[${text}`)
      .map(s => bad(s, `malformed JSON ${JSON.stringify(s.slice(0, 20))}`)),
    fc.uint8Array({ minLength: 1, maxLength: 64 }).map(b => Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from(b)])).map(b => bad(b, 'binary garbage as JSON'))
  )

  const binaryTypes = ['application/octet-stream', 'application/x-npy']
  const wrongType = fc.constantFrom(
    'text/plain', 'application/xml', 'text/html', 'multipart/form-data; boundary=x', 'application/x-www-form-urlencoded',
    'image/png', 'application/jsonx', 'application/json-patch+json', 'application/problem+json', 'foo', 'application/',
    ...(route.binary === undefined ? binaryTypes : [])
  ).map(type => bad(text, `Content-Type ${type}`, { ...auth(), 'content-type': type }))

  const proto = fc.oneof(
    fc.constantFrom('{"x":1}', '{"isAdmin":true}', '[]', 'null').map(inner => bad(`{"__proto__":${inner},${text.slice(1)}`, '__proto__ key at the top')),
    fc.record({ field: fc.constantFrom(...fields), inner: fc.constantFrom('{"__proto__":{"polluted":1}}', '{"constructor":{"prototype":{"polluted":1}}}', '[{"__proto__":{}}]') })
      .map(({ field, inner }) => bad(jsonText({ ...template, [field]: new Raw(inner) }), `__proto__ inside ${field}`)),
    fc.constant(bad(`{"constructor":{"prototype":{"polluted":1}}${text.length > 2 ? ',' : ''}${text.slice(1)}`, 'constructor.prototype at the top'))
  )

  const deep = fc.record({ depth: fc.integer({ min: 1000, max: 100_000 }), kind: fc.constantFrom('array', 'object'), field: fc.option(fc.constantFrom(...fields), { nil: undefined }) })
    .map(({ depth, kind, field }) => {
      const nested = kind === 'array' ? '['.repeat(depth) + ']'.repeat(depth) : '{"a":'.repeat(depth) + '1' + '}'.repeat(depth)
      return bad(field === undefined ? nested : jsonText({ ...template, [field]: new Raw(nested) }), `${kind} nested ${depth} deep${field !== undefined ? ` in ${field}` : ''}`)
    })

  const shapes: Array<fc.WeightedArbitrary<Bad>> = [
    fc.oneof(fc.array(fc.jsonValue({ maxDepth: 2 }), { maxLength: 4 }), fc.string({ maxLength: 10 }), fc.integer(), fc.boolean(), fc.constant(null))
      .map(v => bad(JSON.stringify(v), `top-level ${JSON.stringify(v).slice(0, 20)}`)),
    fc.string({ minLength: 1, maxLength: 12 }).filter(k => !fields.includes(k) && k !== '__proto__' && k !== 'constructor')
      .map(k => bad(jsonText({ ...template, [k]: 1 }), `unknown key ${JSON.stringify(k)}`))
  ].map(arbitrary => ({ arbitrary, weight: 1 }))
  if (route.required.length > 0) {
    shapes.push({
      arbitrary: fc.constantFrom(...route.required).map(f => {
        const { [f]: _dropped, ...rest } = template
        return bad(jsonText(rest), `without ${f}`)
      }),
      weight: 1
    })
  }
  for (const [field, values] of Object.entries(route.invalid)) {
    shapes.push({
      arbitrary: values.map(v => {
        const isBreak = (v as MatrixBreak)?.what !== undefined && 'value' in (v as object)
        const value = isBreak ? (v as MatrixBreak).value : v
        const label = isBreak ? (v as MatrixBreak).what : jsonText(v).slice(0, 40)
        return bad(jsonText({ ...template, [field]: value }), `${field}: ${label}`)
      }),
      // Matrix fields have the most ways to be wrong: they get more of the runs.
      weight: route.matrixFields?.includes(field) === true ? 5 : 2
    })
  }

  const all: Array<fc.WeightedArbitrary<Bad>> = [
    { arbitrary: malformed, weight: 2 },
    { arbitrary: wrongType, weight: 1 },
    { arbitrary: proto, weight: 1 },
    { arbitrary: deep, weight: 1 },
    ...shapes,
    { arbitrary: badAuth(method, url, route.write, text), weight: 2 }
  ]
  if (route.binary !== undefined) {
    const { query, cols } = route.binary
    all.push({ arbitrary: badBinary(cols).map(b => ({ method, url: `${url}${query}`, headers: { ...auth(), 'content-type': b.type }, payload: b.body, what: b.what })), weight: 6 })
  }
  if (route.extra !== undefined) all.push({ arbitrary: route.extra, weight: 2 })
  return fc.oneof(...all)
}

const get = (url: string, what: string, key = WRITE): Bad => ({ method: 'GET', url, headers: auth(key), what })
const del = (url: string, what: string, key = WRITE): Bad => ({ method: 'DELETE', url, headers: auth(key), what })

/** A path with one segment replaced by a bad or absent name, or an undecodable one. */
function pathVariants (method: Method, build: (segment: string) => string, write: boolean): fc.Arbitrary<Bad> {
  return fc.oneof(
    badName.map(n => ({ method, url: build(enc(n)), headers: auth(), what: `bad name ${JSON.stringify(n.slice(0, 30))}` })),
    rawBadSegment.map(s => ({ method, url: build(s), headers: auth(), what: `raw segment ${s}` })),
    absentName.map(n => ({ method, url: build(enc(n)), headers: auth(), what: `absent ${n}` })),
    badAuth(method, build(enc('fx.absent')), write)
  )
}

const badCascade = fc.constantFrom('yes', 'TRUE', '1', '', 'true,true', 'null')

/** A list's page query out of bounds, or a cursor that is not base64url (so never one the server gave out). */
function badPage (url: string): fc.Arbitrary<Bad> {
  const sep = url.includes('?') ? '&' : '?'
  return fc.oneof(
    fc.oneof(fc.integer({ max: 0 }), fc.integer({ min: 1001 }), fc.constantFrom('1.5', 'ten', '', '1e9')).map(l => get(`${url}${sep}limit=${enc(String(l))}`, `limit=${String(l)}`)),
    fc.string({ maxLength: 12 }).map(c => get(`${url}${sep}cursor=${enc(`${c}*`)}`, `cursor=${JSON.stringify(c)}*`))
  )
}

// ---------------------------------------------------------------------------------------------

t.test('hostile input: every /v1 route answers 4xx problem+json and the store is unchanged', async t => {
  const app = await testApp(t, {
    env: {
      API_KEYS: `${WRITE}:write,${READ}:read`,
      BODY_LIMIT: String(BODY_LIMIT),
      MAX_ROWS_PER_REQUEST: String(MAX_ROWS),
      MAX_ANCHORS_PER_SET: String(MAX_ANCHORS),
      MAX_DIM: String(MAX_DIM),
      // No load shedding or timeouts here: a loaded CI machine must not turn a 4xx into a 503.
      MAX_EVENT_LOOP_DELAY_MS: '0',
      MAX_HEAP_USED_BYTES: '0',
      HANDLER_TIMEOUT_MS: '0'
    }
  })
  const setup = async (method: Method, url: string, payload: object): Promise<void> => {
    const res = await app.inject({ method, url, headers: auth(), payload })
    if (res.statusCode >= 300) throw new Error(`setup ${method} ${url}: ${res.statusCode} ${res.body}`)
  }
  await setup('PUT', `/v1/spaces/${SRC}`, { dim: SRC_DIM })
  await setup('PUT', `/v1/spaces/${TGT}`, { dim: TGT_DIM })
  await setup('PUT', `/v1/anchor-sets/${SET}`, { ids: IDS })
  await setup('PUT', `/v1/anchor-sets/${SET}/embeddings/${SRC}`, { vectors: rowsOf(IDS.length, SRC_DIM, 21) })
  await setup('PUT', `/v1/anchor-sets/${SET}/embeddings/${TGT}`, { vectors: rowsOf(IDS.length, TGT_DIM, 22) })
  const T = await seedTranslator(app.store, { source: SRC, target: TGT, anchorSet: SET, sourceDim: SRC_DIM, targetDim: TGT_DIM })
  // No operation exists: every id is absent (404), and bad keys are refused before the handler.
  const OP = '00000000-0000-4000-8000-000000000000'

  const names = { bad: badName, absent: absentName }
  const notAnId = fc.oneof(
    fc.integer({ min: 201, max: 500 }).map(n => 'i'.repeat(n)),
    fc.integer({ min: 513, max: 2000 }).map(n => 'i'.repeat(n)),
    fc.uuid().filter(u => u !== T),
    fc.string({ minLength: 1, maxLength: 40 }).filter(s => s !== T && !hasLoneSurrogate(s) && s !== '.' && s !== '..')
  )
  const idPath = (suffix: string) => (segment: string): string => `/v1/translators/${segment}${suffix}`
  const idVariants = (method: Method, suffix: string, write: boolean): fc.Arbitrary<Bad> => fc.oneof(
    notAnId.map(id => ({ method, url: idPath(suffix)(enc(id)), headers: auth(), what: `id ${JSON.stringify(id.slice(0, 30))} (${id.length} chars)` })),
    rawBadSegment.map(s => ({ method, url: idPath(suffix)(s), headers: auth(), what: `raw id segment ${s}` })),
    badAuth(method, idPath(suffix)(T), write)
  )
  const badIds = fc.oneof(
    fc.constant([]),
    fc.constantFrom<unknown>('a', 1, null, {}, [1, 2], ['a', null], [['a']], ['']),
    fc.string({ minLength: 1, maxLength: 10 }).map(s => [s, s]),
    fc.integer({ min: 513, max: 1200 }).map(n => ['ok', 'x'.repeat(n)]),
    fc.constant(Array.from({ length: MAX_ANCHORS + 1 }, (_, i) => `many-${i}`))
  )
  const notBool = fc.constantFrom<unknown>('true', 1, 0, null, [], {})
  const notName = fc.oneof(badName, fc.constantFrom<unknown>(1, null, [], {}, true))
  const matrixSrc = badMatrix(SRC_DIM)
  const matrixTgt = badMatrix(TGT_DIM)

  const bodyRoutes: Record<string, BodyRoute> = {
    'PUT /v1/spaces/{space}': {
      method: 'PUT',
      url: '/v1/spaces/hx-new-space',
      write: true,
      template: { dim: 3, description: 'a model', metadata: { provider: 'x' } },
      required: ['dim'],
      invalid: {
        dim: fc.oneof(fc.integer({ max: 0 }), fc.integer({ min: MAX_DIM + 1 }), fc.double({ noInteger: true, noDefaultInfinity: true, noNaN: true }), fc.constantFrom<unknown>('3', null, [], true, new Raw('1e999'), new Raw('-1e999'), new Raw('1e308'), new Raw('3.0000000001'))),
        description: fc.oneof(fc.constantFrom<unknown>(1, null, [], {}, true), fc.integer({ min: 4097, max: 6000 }).map(n => 'd'.repeat(n))),
        metadata: fc.oneof(
          fc.constantFrom<unknown>('meta', 1, null, [], true, [1, 2]),
          fc.integer({ min: 33, max: 400 }).map(n => JSON.parse('{"a":'.repeat(n) + '1' + '}'.repeat(n))),
          fc.integer({ min: 70, max: 120 }).map(k => ({ big: 'm'.repeat(k * 1024) }))
        )
      },
      extra: pathVariants('PUT', s => `/v1/spaces/${s}`, true).map(b => ({ ...b, headers: { ...b.headers, 'content-type': 'application/json' }, payload: '{"dim":2}' }))
        .filter(b => !b.what.startsWith('absent'))
    },
    'PUT /v1/anchor-sets/{set}': {
      method: 'PUT',
      url: '/v1/anchor-sets/hx-new-set',
      write: true,
      template: { ids: ['a', 'b', 'c'], description: 'three items' },
      required: ['ids'],
      invalid: {
        ids: badIds,
        description: fc.oneof(fc.constantFrom<unknown>(1, null, [], {}), fc.integer({ min: 4097, max: 6000 }).map(n => 'd'.repeat(n)))
      },
      extra: fc.oneof(
        fc.constant<Bad>({ method: 'PUT', url: `/v1/anchor-sets/${SET}`, headers: jsonHeaders(), payload: '{"ids":["other","ids"]}', what: 'existing set with other ids (409)' }),
        pathVariants('PUT', s => `/v1/anchor-sets/${s}`, true).filter(b => !b.what.startsWith('absent')).map(b => ({ ...b, headers: { ...b.headers, 'content-type': 'application/json' }, payload: '{"ids":["a"]}' }))
      )
    },
    'PUT /v1/anchor-sets/{set}/embeddings/{space}': {
      method: 'PUT',
      url: `/v1/anchor-sets/${SET}/embeddings/${SRC}`,
      write: true,
      template: { vectors: rowsOf(2, SRC_DIM, 31), ids: ['id-0', 'id-1'] },
      matrixFields: ['vectors'],
      required: ['vectors'],
      invalid: {
        vectors: fc.oneof(matrixSrc, fc.constant({ value: [], what: 'no rows' }), fc.constant({ value: rowsOf(3, SRC_DIM), what: '3 rows for 2 ids' })),
        ids: fc.oneof(badIds, fc.constantFrom<unknown>(['id-0', 'nope'], ['id-0', 'id-0'], ['id-0'], ['id-0', 'id-1', 'id-2']))
      },
      binary: { query: '', cols: SRC_DIM },
      extra: fc.oneof(
        pathVariants('PUT', s => `/v1/anchor-sets/${s}/embeddings/${SRC}`, true),
        pathVariants('PUT', s => `/v1/anchor-sets/${SET}/embeddings/${s}`, true)
      ).map(b => ({ ...b, headers: { ...b.headers, 'content-type': 'application/json' }, payload: jsonText({ vectors: rowsOf(IDS.length, SRC_DIM, 21) }) }))
    },
    'POST /v1/anchor-sets/{set}/select': {
      method: 'POST',
      url: `/v1/anchor-sets/${SET}/select`,
      write: false,
      template: { space: SRC, k: 2, strategy: 'fps', seed: 0 },
      required: ['space', 'k'],
      invalid: {
        space: fc.oneof(notName, absentName),
        k: fc.oneof(fc.integer({ max: 0 }), fc.integer({ min: IDS.length + 1 }), fc.constantFrom<unknown>(1.5, '2', null, new Raw('1e999'), new Raw('1e308'))),
        strategy: fc.oneof(fc.string({ maxLength: 8 }).filter(s => !['fps', 'kmeans', 'random'].includes(s)), fc.constantFrom<unknown>(1, null)),
        seed: fc.oneof(fc.integer({ max: -1 }), fc.constantFrom<unknown>(2 ** 32, 1.5, '0', new Raw('-1e999')))
      },
      extra: pathVariants('POST', s => `/v1/anchor-sets/${s}/select`, false).map(b => ({ ...b, headers: { ...b.headers, 'content-type': 'application/json' }, payload: jsonText({ space: SRC, k: 2 }) }))
    },
    'POST /v1/relative': {
      method: 'POST',
      url: '/v1/relative',
      write: false,
      template: { space: SRC, anchorSet: SET, vectors: rowsOf(2, SRC_DIM, 41) },
      matrixFields: ['vectors'],
      required: ['space', 'anchorSet', 'vectors'],
      invalid: {
        vectors: matrixSrc,
        space: fc.oneof(notName, absentName),
        anchorSet: fc.oneof(notName, absentName),
        projection: fc.oneof(fc.string({ maxLength: 10 }).filter(s => !['cosine', 'angular', 'euclidean', 'l1', 'linf', 'dot'].includes(s)), fc.constantFrom<unknown>([], ['cosine', 'cosine'], ['cosine', 'bogus'], 1, null, Array(7).fill('dot'))),
        center: notBool,
        commonWith: fc.oneof(fc.constantFrom<unknown>('fx.tgt', [1], [null]), fc.array(absentName, { minLength: 1, maxLength: 3 }), fc.constant(Array(17).fill(TGT))),
        topK: fc.oneof(fc.integer({ max: 0 }), fc.integer({ min: IDS.length + 1 }), fc.constantFrom<unknown>(1.5, '3', new Raw('1e999'))),
        power: fc.oneof(fc.double({ max: 0.0099, noNaN: true }), fc.double({ min: 64.0001, noNaN: true, noDefaultInfinity: true }), fc.constantFrom<unknown>('1', null, new Raw('-1e999'))),
        normalize: fc.oneof(fc.string({ maxLength: 8 }).filter(s => !['none', 'l2', 'layernorm'].includes(s)), fc.constant<unknown>(1)),
        encodingFormat: fc.string({ maxLength: 8 }).filter(s => s !== 'float' && s !== 'base64'),
        returnAnchorIds: notBool
      },
      binary: { query: `?space=${SRC}&anchorSet=${SET}`, cols: SRC_DIM },
      extra: fc.oneof(
        fc.constantFrom(`?space=${SRC}`, `?anchorSet=${SET}`, `?space=${SRC}&anchorSet=${SET}&topK=abc`, `?space=${SRC}&anchorSet=${SET}&projection=bogus`,
          `?space=${SRC}&anchorSet=${SET}&power=0`, `?space=${SRC}&anchorSet=${SET}&center=maybe`, `?space=bad%20name&anchorSet=${SET}`, `?space=${SRC}&anchorSet=${SET}&topK=1e999`,
          `?space=${SRC}&anchorSet=${SET}&normalize=l3`, `?space=hx-absent&anchorSet=${SET}`, `?space=${SRC}&anchorSet=${SET}&commonWith=hx-absent`)
          .map(q => ({ method: 'POST' as const, url: `/v1/relative${q}`, headers: { ...auth(), 'content-type': 'application/octet-stream' }, payload: f32Bytes(values(SRC_DIM, 3)), what: `binary with query ${q}` }))
      )
    },
    'POST /v1/similarity': {
      method: 'POST',
      url: '/v1/similarity',
      write: false,
      template: { spaces: [SRC, TGT], anchorSet: SET, k: 2 },
      required: ['spaces', 'anchorSet'],
      invalid: {
        spaces: fc.oneof(fc.constantFrom<unknown>([SRC], [SRC, TGT, SRC], SRC, [], [SRC, null]), absentName.map(n => [n, TGT]), badName.map(n => [SRC, n])),
        anchorSet: fc.oneof(notName, absentName),
        k: fc.oneof(fc.integer({ max: 0 }), fc.integer({ min: IDS.length }), fc.constantFrom<unknown>(1.5, '2', null))
      }
    },
    'POST /v1/translators': {
      method: 'POST',
      url: '/v1/translators',
      write: true,
      template: { source: SRC, target: TGT, anchorSet: SET, method: 'procrustes', scaling: 'center', holdout: 0 },
      required: ['source', 'target', 'anchorSet'],
      invalid: {
        source: fc.oneof(notName, absentName, fc.constant(TGT)),
        target: fc.oneof(notName, absentName, fc.constant(SRC)),
        anchorSet: fc.oneof(notName, absentName),
        method: fc.oneof(fc.string({ maxLength: 10 }).filter(s => !['procrustes', 'linear', 'affine', 'ridge', 'inverse-relative', 'auto'].includes(s)), fc.constant<unknown>(null)),
        scaling: fc.oneof(fc.string({ maxLength: 10 }).filter(s => !['standard', 'center', 'l2', 'none'].includes(s)), fc.constant<unknown>(1)),
        holdout: fc.oneof(fc.double({ min: 0.5000001, max: 1e6, noNaN: true }), fc.double({ max: -0.0001, noNaN: true, noDefaultInfinity: true }), fc.constantFrom<unknown>('0.1', null, new Raw('1e999'))),
        folds: fc.oneof(fc.integer({ max: 1 }), fc.integer({ min: 21 }), fc.constant<unknown>(2.5)),
        seed: fc.oneof(fc.integer({ max: -1 }), fc.constant<unknown>(2 ** 32)),
        ridge: fc.oneof(fc.double({ max: 0, noNaN: true, noDefaultInfinity: true }), fc.constantFrom<unknown>(1e13, '1', new Raw('1e999'))),
        name: fc.oneof(fc.constant(''), fc.integer({ min: 201, max: 400 }).map(n => 'n'.repeat(n)), fc.constant<unknown>(5)),
        activate: notBool,
        refine: fc.constantFrom<unknown>('yes', { iterations: 0 }, { k: 101 }, { iterations: 1.5 }, [])
      }
    },
    'POST /v1/translate': {
      method: 'POST',
      url: '/v1/translate',
      write: false,
      template: { source: SRC, target: TGT, vectors: rowsOf(2, SRC_DIM, 51) },
      matrixFields: ['vectors'],
      required: ['source', 'target', 'vectors'],
      invalid: {
        vectors: matrixSrc,
        source: fc.oneof(notName, absentName, fc.constant(TGT)),
        target: fc.oneof(notName, absentName),
        translator: fc.oneof(notAnId.filter(s => s.length > 0 && s.length <= 200), fc.constantFrom<unknown>('', 1, null)),
        encodingFormat: fc.string({ maxLength: 8 }).filter(s => s !== 'float' && s !== 'base64'),
        withConfidence: notBool
      },
      binary: { query: `?source=${SRC}&target=${TGT}`, cols: SRC_DIM },
      extra: fc.constantFrom(`?source=${SRC}`, `?target=${TGT}`, '', `?source=${SRC}&target=${TGT}&translator=${'t'.repeat(201)}`, `?source=${TGT}&target=${SRC}`, `?source=bad%20name&target=${TGT}`, `?source=${SRC}&target=${TGT}&translator=hx-absent`, `?source=${SRC}&target=${TGT}&withConfidence=yes`)
        .map(q => ({ method: 'POST' as const, url: `/v1/translate${q}`, headers: { ...auth(), 'content-type': 'application/octet-stream' }, payload: f32Bytes(values(SRC_DIM, 3)), what: `binary with query ${JSON.stringify(q)}` }))
    },
    'POST /v1/translators/{id}/evaluate': {
      method: 'POST',
      url: `/v1/translators/${T}/evaluate`,
      write: false,
      template: { vectors: rowsOf(4, SRC_DIM, 61), targetVectors: rowsOf(4, TGT_DIM, 62), k: 2 },
      matrixFields: ['vectors', 'targetVectors'],
      required: ['vectors', 'targetVectors'],
      invalid: {
        vectors: fc.oneof(matrixSrc, fc.constant({ value: rowsOf(3, SRC_DIM), what: '3 rows against 4' }), fc.constant({ value: [], what: 'no rows' })),
        targetVectors: fc.oneof(matrixTgt, fc.constant({ value: rowsOf(5, TGT_DIM), what: '5 rows against 4' })),
        k: fc.oneof(fc.integer({ max: 0 }), fc.integer({ min: 5, max: 1000 }), fc.integer({ min: 1001 }), fc.constantFrom<unknown>(1.5, '2')),
        retrieval: fc.oneof(fc.string({ maxLength: 8 }).filter(s => s !== 'cosine' && s !== 'csls'), fc.constantFrom<unknown>(1, null, ['csls'])),
        cslsK: fc.oneof(fc.integer({ max: 0 }), fc.integer({ min: 1, max: 100 }), fc.integer({ min: 101 }), fc.constantFrom<unknown>(1.5, '2'))
      },
      extra: idVariants('POST', '/evaluate', false).map(b => ({ ...b, headers: { ...b.headers, 'content-type': 'application/json' }, payload: jsonText({ vectors: rowsOf(4, SRC_DIM, 61), targetVectors: rowsOf(4, TGT_DIM, 62), k: 2 }) }))
    },
    'POST /v1/translators/{id}/report': {
      method: 'POST',
      url: `/v1/translators/${T}/report`,
      write: false,
      template: { vectors: rowsOf(10, SRC_DIM, 63), targetVectors: rowsOf(10, TGT_DIM, 64) },
      matrixFields: ['vectors', 'targetVectors'],
      required: ['vectors', 'targetVectors'],
      invalid: {
        vectors: fc.oneof(matrixSrc, fc.constant({ value: rowsOf(9, SRC_DIM), what: '9 rows against 10' }), fc.constant({ value: [], what: 'no rows' })),
        targetVectors: fc.oneof(matrixTgt, fc.constant({ value: rowsOf(11, TGT_DIM), what: '11 rows against 10' })),
        reverse: fc.constantFrom<unknown>('true', 1, null, true)
      },
      extra: idVariants('POST', '/report', false).map(b => ({ ...b, headers: { ...b.headers, 'content-type': 'application/json' }, payload: jsonText({ vectors: rowsOf(10, SRC_DIM, 63), targetVectors: rowsOf(10, TGT_DIM, 64) }) }))
    }
  }

  const bodyless: Record<string, BodylessRoute> = {
    'GET /v1/spaces': { method: 'GET', url: '/v1/spaces', write: false, broken: badPage('/v1/spaces') },
    'GET /v1/info': { method: 'GET', url: '/v1/info', write: false },
    'GET /v1/spaces/{space}': { method: 'GET', url: `/v1/spaces/${SRC}`, write: false, broken: pathVariants('GET', s => `/v1/spaces/${s}`, false) },
    'DELETE /v1/spaces/{space}': {
      method: 'DELETE',
      url: `/v1/spaces/${SRC}?cascade=true`,
      write: true,
      broken: fc.oneof(
        pathVariants('DELETE', s => `/v1/spaces/${s}?cascade=true`, true),
        badCascade.map(c => del(`/v1/spaces/${SRC}?cascade=${enc(c)}`, `cascade=${c}`)),
        fc.constant(del(`/v1/spaces/${SRC}`, 'in use, no cascade (409)')),
        fc.constant(del(`/v1/spaces/${SRC}?cascade=true`, 'read key', READ))
      )
    },
    'GET /v1/anchor-sets': { method: 'GET', url: '/v1/anchor-sets', write: false, broken: badPage('/v1/anchor-sets') },
    'GET /v1/anchor-sets/{set}': {
      method: 'GET',
      url: `/v1/anchor-sets/${SET}`,
      write: false,
      broken: fc.oneof(pathVariants('GET', s => `/v1/anchor-sets/${s}`, false), badCascade.map(v => get(`/v1/anchor-sets/${SET}?includeIds=${enc(v)}`, `includeIds=${v}`)))
    },
    'DELETE /v1/anchor-sets/{set}': {
      method: 'DELETE',
      url: `/v1/anchor-sets/${SET}?cascade=true`,
      write: true,
      broken: fc.oneof(
        pathVariants('DELETE', s => `/v1/anchor-sets/${s}?cascade=true`, true),
        badCascade.map(c => del(`/v1/anchor-sets/${SET}?cascade=${enc(c)}`, `cascade=${c}`)),
        fc.constant(del(`/v1/anchor-sets/${SET}`, 'in use, no cascade (409)')),
        fc.constant(del(`/v1/anchor-sets/${SET}?cascade=true`, 'read key', READ))
      )
    },
    'GET /v1/anchor-sets/{set}/embeddings/{space}': {
      method: 'GET',
      url: `/v1/anchor-sets/${SET}/embeddings/${SRC}`,
      write: false,
      broken: fc.oneof(
        pathVariants('GET', s => `/v1/anchor-sets/${s}/embeddings/${SRC}`, false),
        pathVariants('GET', s => `/v1/anchor-sets/${SET}/embeddings/${s}`, false),
        fc.string({ maxLength: 10 }).filter(s => s !== 'float' && s !== 'base64').map(f => get(`/v1/anchor-sets/${SET}/embeddings/${SRC}?encodingFormat=${enc(f)}`, `encodingFormat=${f}`))
      )
    },
    'DELETE /v1/anchor-sets/{set}/embeddings/{space}': {
      method: 'DELETE',
      url: `/v1/anchor-sets/${SET}/embeddings/${SRC}?cascade=true`,
      write: true,
      broken: fc.oneof(
        pathVariants('DELETE', s => `/v1/anchor-sets/${s}/embeddings/${SRC}?cascade=true`, true),
        pathVariants('DELETE', s => `/v1/anchor-sets/${SET}/embeddings/${s}?cascade=true`, true),
        badCascade.map(c => del(`/v1/anchor-sets/${SET}/embeddings/${SRC}?cascade=${enc(c)}`, `cascade=${c}`)),
        fc.constant(del(`/v1/anchor-sets/${SET}/embeddings/${SRC}`, 'in use, no cascade (409)')),
        fc.constant(del(`/v1/anchor-sets/${SET}/embeddings/${SRC}?cascade=true`, 'read key', READ))
      )
    },
    'GET /v1/operations': {
      method: 'GET',
      url: '/v1/operations',
      write: false,
      broken: fc.oneof(
        fc.string({ maxLength: 10 }).filter(st => !['queued', 'running', 'succeeded', 'failed', 'cancelled'].includes(st)).map(st => get(`/v1/operations?status=${enc(st)}`, `status=${JSON.stringify(st)}`)),
        fc.integer({ min: 65, max: 300 }).map(n => get(`/v1/operations?kind=${'k'.repeat(n)}`, `kind of ${n} chars`)),
        badPage('/v1/operations')
      )
    },
    'GET /v1/operations/{id}': {
      method: 'GET',
      url: `/v1/operations/${OP}`,
      write: false,
      broken: fc.oneof(
        notAnId.map(id => get(`/v1/operations/${enc(id)}`, `id ${JSON.stringify(id.slice(0, 30))} (${id.length} chars)`)),
        fc.constantFrom('-1', '61', '1.5', 'x', '1e999').map(w => get(`/v1/operations/${OP}?wait=${w}`, `wait=${w}`)),
        badAuth('GET', `/v1/operations/${OP}`, false)
      )
    },
    'POST /v1/operations/{id}/cancel': {
      method: 'POST',
      url: `/v1/operations/${OP}/cancel`,
      write: true,
      broken: fc.oneof(
        notAnId.map(id => ({ method: 'POST' as const, url: `/v1/operations/${enc(id)}/cancel`, headers: auth(), what: `id ${JSON.stringify(id.slice(0, 30))} (${id.length} chars)` })),
        badAuth('POST', `/v1/operations/${OP}/cancel`, true)
      )
    },
    'GET /v1/translators': {
      method: 'GET',
      url: '/v1/translators',
      write: false,
      broken: fc.oneof(
        fc.record({ key: fc.constantFrom('source', 'target'), name: badName }).map(({ key, name }) => get(`/v1/translators?${key}=${enc(name)}`, `${key}=${JSON.stringify(name.slice(0, 20))}`)),
        badPage(`/v1/translators?source=${SRC}`)
      )
    },
    'GET /v1/translators/{id}': { method: 'GET', url: `/v1/translators/${T}`, write: false, broken: idVariants('GET', '', false) },
    'DELETE /v1/translators/{id}': {
      method: 'DELETE',
      url: `/v1/translators/${T}`,
      write: true,
      broken: fc.oneof(
        idVariants('DELETE', '', true),
        fc.constant(del(`/v1/translators/${T}`, 'read key', READ)),
        fc.constantFrom('text/plain', 'application/xml').map(type => ({ method: 'DELETE' as const, url: `/v1/translators/${T}`, headers: { ...auth(), 'content-type': type }, payload: 'x', what: `body of ${type}` })),
        fc.constant<Bad>({ method: 'DELETE', url: `/v1/translators/${T}`, headers: jsonHeaders(), payload: '{"a":', what: 'malformed JSON body' })
      )
    },
    'POST /v1/translators/{id}/activate': {
      method: 'POST',
      url: `/v1/translators/${T}/activate`,
      write: true,
      broken: fc.oneof(
        idVariants('POST', '/activate', true),
        fc.constantFrom('text/plain', 'application/octet-stream', 'image/png').map(type => ({ method: 'POST' as const, url: `/v1/translators/${T}/activate`, headers: { ...auth(), 'content-type': type }, payload: 'x', what: `body of ${type}` })),
        fc.constant<Bad>({ method: 'POST', url: `/v1/translators/${T}/activate`, headers: jsonHeaders(), payload: '{"__proto__":{"a":1}}', what: '__proto__ body' })
      )
    },
    'GET /v1/translators/{id}/onnx': { method: 'GET', url: `/v1/translators/${T}/onnx`, write: false, broken: idVariants('GET', '/onnx', false) }
  }

  // The routes under test are exactly those the OpenAPI document lists under /v1.
  const doc = json(await app.inject({ method: 'GET', url: '/openapi.json' }))
  const documented: string[] = []
  for (const [path, item] of Object.entries<Record<string, unknown>>(doc.paths)) {
    if (!path.startsWith('/v1/')) continue
    for (const method of Object.keys(item)) documented.push(`${method.toUpperCase()} ${path}`)
  }
  t.same([...Object.keys(bodyRoutes), ...Object.keys(bodyless)].sort(), documented.sort(), 'one property per documented /v1 route')

  let statuses = new Map<number, number>()
  const send = async (req: Bad): Promise<void> => {
    const res = await app.inject({ method: req.method, url: req.url, headers: req.headers, payload: req.payload })
    statuses.set(res.statusCode, (statuses.get(res.statusCode) ?? 0) + 1)
    const where = `${req.method} ${req.url.slice(0, 100)} [${req.what}] → ${res.statusCode} ${res.body.slice(0, 300)}`
    if (res.statusCode < 400 || res.statusCode >= 500) throw new Error(`expected a 4xx: ${where}`)
    if (!/^application\/problem\+json/.test(String(res.headers['content-type']))) throw new Error(`not problem+json (${String(res.headers['content-type'])}): ${where}`)
    const problem = JSON.parse(res.body)
    if (problem.status !== res.statusCode || typeof problem.title !== 'string' || typeof problem.detail !== 'string' || problem.detail === '') {
      throw new Error(`malformed problem: ${where}`)
    }
    // Clients branch on the type: it must be a catalogued kind, of the status it came with.
    const kind = String(problem.type).slice(PROBLEM_TYPE_BASE.length) as ProblemKind
    if (!String(problem.type).startsWith(PROBLEM_TYPE_BASE) || PROBLEM_KINDS[kind]?.status !== res.statusCode) throw new Error(`type ${String(problem.type)} is not a catalogued kind of status ${res.statusCode}: ${where}`)
    if (/\n\s+at |node_modules|\.ts:\d+/.test(res.body)) throw new Error(`stack trace or source path in the answer: ${where}`)
  }

  const before = await appSnapshot(app)
  const routes: Array<[string, fc.Arbitrary<Bad>]> = [
    ...Object.entries(bodyRoutes).map(([key, route]) => [key, bodyRequests(route)] as [string, fc.Arbitrary<Bad>]),
    ...Object.entries(bodyless).map(([key, route]) => [key, route.broken === undefined
      ? badAuth(route.method, route.url, route.write)
      : fc.oneof(route.broken, badAuth(route.method, route.url, route.write))] as [string, fc.Arbitrary<Bad>])
  ]
  for (const [key, requests] of routes) {
    await t.test(key, async t => {
      statuses = new Map()
      let sent = 0
      await fc.assert(fc.asyncProperty(fc.array(requests, { minLength: 1, maxLength: 4 }), async batch => {
        const snapshot = await appSnapshot(app)
        // A batch goes out concurrently: bad requests must not interfere with each other either.
        await Promise.all(batch.map(send))
        sent += batch.length
        const after = await appSnapshot(app)
        if (after !== snapshot) throw new Error(`the store changed after ${batch.map(b => `${b.method} ${b.url.slice(0, 80)} [${b.what}]`).join('; ')}`)
      }), { numRuns: RUNS })
      const seen = [...statuses].sort((a, b) => a[0] - b[0]).map(([status, n]) => `${status}×${n}`).join(' ')
      t.pass(`${sent} bad requests, all 4xx problem+json (${seen}), store unchanged`)
    })
  }
  t.equal(await appSnapshot(app), before, 'the store holds exactly what it held before')
  // The app still works after all that.
  const ok = await app.inject({ method: 'POST', url: '/v1/relative', headers: auth(READ), payload: { space: SRC, anchorSet: SET, vectors: rowsOf(1, SRC_DIM) } })
  t.equal(ok.statusCode, 200, 'a good request still succeeds')
  await releaseTranslators(app, [T])
})
