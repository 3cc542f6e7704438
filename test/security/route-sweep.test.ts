/**
 * Access is decided on the route that matched, not on how its path is spelled. Every operation of
 * the OpenAPI document is sent under many spellings of its path (percent-encoded letters and
 * digits, absolute-form targets, doubled slashes, dot segments, trailing slashes) as raw HTTP/1.1
 * over a socket, so that the bytes reach the server exactly as written. Without a key every /v1
 * operation must answer 401 or 404; with a read key every write operation must answer 403 or 404;
 * and the store must be unchanged afterwards.
 */
import { connect, type AddressInfo } from 'node:net'
import Fastify from 'fastify'
import fp from 'fastify-plugin'
import t from 'tap'
import app, { serverOptions } from '../../src/app.js'
import { loadConfig } from '../../src/config.js'
import { MemoryStore } from '../../src/store/memory.js'
import { isProblem, testApp, testEngine } from '../helpers/app.js'
import { bytes, injectApi, setUpPair } from '../helpers/service.js'

const READ_KEY = 'sweep-read-key-0001'
const WRITE_KEY = 'sweep-write-key-0001'
const PROBLEM = 'urn:latentbridge:problem:'

/** The POST operations that compute without storing anything: a read key may call them. */
const READ_POSTS = new Set([
  'post /v1/relative',
  'post /v1/similarity',
  'post /v1/anchor-sets/{set}/select',
  'post /v1/translate',
  'post /v1/translators/{id}/evaluate',
  'post /v1/translators/{id}/report'
])

interface RawResponse { status: number, type: string | undefined, headers: string, text: string }

/** One request as raw bytes on a fresh connection: the request target goes out exactly as given. */
async function raw (port: number, method: string, target: string, opts: { key?: string, body?: Buffer, contentType?: string, origin?: string } = {}): Promise<RawResponse> {
  const head = [
    `${method} ${target} HTTP/1.1`,
    `Host: 127.0.0.1:${port}`,
    'Connection: close',
    ...(opts.key !== undefined ? [`Authorization: Bearer ${opts.key}`] : []),
    ...(opts.origin !== undefined ? [`Origin: ${opts.origin}`] : []),
    ...(opts.body !== undefined ? [`Content-Type: ${opts.contentType ?? 'application/json'}`, `Content-Length: ${opts.body.length}`] : [])
  ].join('\r\n') + '\r\n\r\n'
  return await new Promise((resolve, reject) => {
    const chunks: Buffer[] = []
    const socket = connect(port, '127.0.0.1', () => {
      socket.write(head)
      if (opts.body !== undefined) socket.write(opts.body)
    })
    socket.on('data', chunk => chunks.push(chunk))
    socket.on('error', reject)
    socket.on('close', () => {
      const text = Buffer.concat(chunks).toString('latin1')
      const status = /^HTTP\/1\.1 (\d{3}) /.exec(text)
      if (status === null) return reject(new Error(`no HTTP status line for ${method} ${target}: ${JSON.stringify(text.slice(0, 200))}`))
      const end = text.indexOf('\r\n\r\n')
      resolve({
        status: Number(status[1]),
        type: /"type":"(urn:latentbridge:problem:[a-z-]+)"/.exec(text)?.[1],
        headers: text.slice(0, end).toLowerCase(),
        text
      })
    })
  })
}

const encodeChar = (c: string, lower = false): string => {
  const hex = c.charCodeAt(0).toString(16).padStart(2, '0')
  return `%${lower ? hex : hex.toUpperCase()}`
}
const encodeAll = (segment: string, lower = false): string => [...segment].map(c => encodeChar(c, lower)).join('')

/**
 * Other spellings of `path` (a concrete path such as /v1/spaces/source): each names the same route
 * to a router that decodes or normalizes, or names no route at all.
 */
function spellings (path: string, port: number): string[] {
  const segments = path.split('/').slice(1)
  const join = (s: string[]): string => '/' + s.join('/')
  const withSegment = (i: number, value: string): string => join(segments.map((s, j) => j === i ? value : s))
  const out = [
    '/%761' + path.slice(3),
    '/v%31' + path.slice(3),
    '/%76%31' + path.slice(3),
    '/%56%31' + path.slice(3),
    '/V1' + path.slice(3),
    join(segments.map(s => encodeAll(s))),
    join(segments.map(s => encodeAll(s, true))),
    '/' + path,
    '/x/../' + path.slice(1),
    '/v1/./' + path.slice(4),
    '/v1/%2e/' + path.slice(4),
    '/v1/x/%2E%2E/' + path.slice(4),
    path.replace('/v1/', '/v1//'),
    path + '/',
    path + '/.',
    path + ';x=1',
    path + '%3Fx',
    `http://127.0.0.1:${port}${path}`,
    `HTTP://127.0.0.1:${port}${path}`,
    `http://127.0.0.1:${port}/%761${path.slice(3)}`,
    `http://127.0.0.1:${port}//${path.slice(1)}`,
    `http://elsewhere.example${path}`
  ]
  // An encoded letter later in the path, in each segment after /v1 (the literal ones and the names).
  for (let i = 1; i < segments.length; i++) out.push(withSegment(i, encodeChar(segments[i][0]) + segments[i].slice(1)))
  for (let i = 1; i < segments.length; i++) out.push(withSegment(i, segments[i].slice(0, -1) + encodeChar(segments[i].slice(-1), true)))
  return out
}

interface Operation { method: string, template: string, path: string, scope: 'read' | 'write', body?: Buffer, contentType?: string, query: string }

t.test('every operation, spelled every way: no key gets 401/404, a read key cannot write, nothing stored changes', async t => {
  const server = await testApp(t, { env: { API_KEYS: `${READ_KEY}:read,${WRITE_KEY}:write` } })
  await server.listen({ host: '127.0.0.1', port: 0 })
  const port = (server.server.address() as AddressInfo).port
  const store = server.store

  // Stored state for every operation to act on: two spaces, a set with both spaces' embeddings, a translator.
  const api = injectApi(server)
  const asWriter = async (method: string, url: string, payload?: object | Buffer): Promise<any> => {
    const res = await api(method, url, payload, { authorization: `Bearer ${WRITE_KEY}` })
    if (res.status >= 300) throw new Error(`${method} ${url}: ${res.status} ${res.raw.toString()}`)
    return res.body
  }
  const writer = (async (method, url, payload, headers = {}) => await api(method, url, payload, { authorization: `Bearer ${WRITE_KEY}`, ...headers })) as typeof api
  const data = await setUpPair(writer, { source: 'source', target: 'target', set: 'pairs' }, 40)
  // Fitted as an operation (an Idempotency-Key makes it one): the translator's id is the operation's, so {id} names both.
  const fitted = (await writer('POST', '/v1/translators', { source: 'source', target: 'target', anchorSet: 'pairs', method: 'procrustes' }, { 'idempotency-key': 'sweep-fit' })).body
  const sample: Record<string, string> = { space: 'source', set: 'pairs', id: fitted.id }

  // Bodies that succeed, so that a write that got through would show as a 2xx and in the store.
  const ids = Array.from({ length: 40 }, (_, i) => `item-${i}`)
  const bodies: Record<string, { body: Buffer, contentType?: string }> = {
    'put /v1/spaces/{space}': { body: Buffer.from(JSON.stringify({ dim: 8, description: 'written through a bypass' })) },
    'put /v1/anchor-sets/{set}': { body: Buffer.from(JSON.stringify({ ids, description: 'written through a bypass' })) },
    'put /v1/anchor-sets/{set}/embeddings/{space}': { body: bytes(data.x.map(v => v * 2)), contentType: 'application/octet-stream' },
    'post /v1/translators': { body: Buffer.from(JSON.stringify({ source: 'source', target: 'target', anchorSet: 'pairs', method: 'linear' })) }
  }

  const document = JSON.parse((await server.inject({ method: 'GET', url: '/openapi.json' })).body)
  const operations: Operation[] = []
  for (const [template, item] of Object.entries<Record<string, any>>(document.paths)) {
    for (const [method, op] of Object.entries<any>(item)) {
      if (Array.isArray(op.security) && op.security.length === 0) continue // operational: open by design
      t.ok(template.startsWith('/v1/'), `${method} ${template} needs a key and is under /v1`)
      const path = template.replace(/\{(\w+)\}/g, (_, name: string) => {
        if (sample[name] === undefined) throw new Error(`no sample value for {${name}} in ${template}`)
        return encodeURIComponent(sample[name])
      })
      const key = `${method} ${template}`
      const scope = method === 'get' || READ_POSTS.has(key) ? 'read' : 'write'
      const given = bodies[key]
      const body = given?.body ?? (method === 'post' || method === 'put' ? Buffer.from('{}') : undefined)
      operations.push({ method: method.toUpperCase(), template, path, scope, body, contentType: given?.contentType, query: method === 'delete' ? '?cascade=true' : '' })
      if (method === 'get') operations.push({ method: 'HEAD', template, path, scope, query: '' })
    }
  }
  t.ok(operations.length >= 25, `${operations.length} operations to sweep`)
  t.ok(operations.filter(o => o.scope === 'write').length >= 9, 'write operations among them')

  const snapshot = async (): Promise<string> => JSON.stringify({
    spaces: await store.listSpaces(),
    sets: await store.listAnchorSets(),
    translators: await store.listTranslators({}),
    embeddings: await Promise.all(['source', 'target'].map(async s => Array.from((await store.getEmbeddings('pairs', s))?.matrix.data ?? [])))
  })
  const before = await snapshot()

  let sent = 0
  const bad: string[] = []
  const check = (label: string, method: string, res: RawResponse, allowed: Record<number, string>): void => {
    sent++
    const expected = allowed[res.status]
    // HEAD answers carry no body: only their status can be checked.
    if (expected === undefined || (method !== 'HEAD' && res.type !== PROBLEM + expected)) bad.push(`${label} -> ${res.status} ${res.type ?? ''}`)
    if (res.status === 401 && !res.headers.includes('www-authenticate: bearer')) bad.push(`${label} -> 401 without WWW-Authenticate`)
  }
  for (const op of operations) {
    for (const target of [op.path, ...spellings(op.path, port)]) {
      const label = `${op.method} ${target}${op.query}`
      const send = async (key?: string): Promise<RawResponse> => await raw(port, op.method, target + op.query, { key, body: op.body, contentType: op.contentType })
      check(`${label} (no key)`, op.method, await send(), { 401: 'unauthenticated', 404: 'no-route' })
      if (op.scope === 'write') check(`${label} (read key)`, op.method, await send(READ_KEY), { 403: 'forbidden', 404: 'no-route' })
    }
  }
  t.same(bad, [], `${sent} requests: each refused (401/403) or unrouted (404 no-route)`)
  t.equal(await snapshot(), before, 'the store is unchanged')

  // The sweep can fail: the same requests, spelled plainly, reach their handlers with the keys that
  // may call them. The read key opens every read operation and no write operation.
  for (const op of operations) {
    const res = await raw(port, op.method, op.path + op.query, { key: READ_KEY, body: op.body, contentType: op.contentType })
    if (op.scope === 'read') {
      t.not(res.status, 401, `${op.method} ${op.path} with the read key is not refused`)
      t.not(res.status, 403, `${op.method} ${op.path} with the read key is not forbidden`)
      if (op.method === 'GET' || op.method === 'HEAD') t.equal(res.status, 200, `${op.method} ${op.path} with the read key: 200`)
    } else {
      t.equal(res.status, 403, `${op.method} ${op.path} with the read key: 403`)
      t.equal(res.type, `${PROBLEM}forbidden`, `${op.method} ${op.path} with the read key: forbidden`)
    }
  }
  // Writes last, deletes after the others (a translator before its embeddings, set and space).
  const writes = operations.filter(o => o.scope === 'write')
  const ordered = [...writes.filter(o => o.method !== 'DELETE'), ...writes.filter(o => o.method === 'DELETE').reverse()]
  for (const op of ordered) {
    const res = await raw(port, op.method, op.path + op.query, { key: WRITE_KEY, body: op.body, contentType: op.contentType })
    t.ok(res.status >= 200 && res.status < 300, `${op.method} ${op.path}${op.query} with the write key reaches its handler and succeeds: ${res.status} ${res.type ?? ''}`)
  }
  t.not(await snapshot(), before, 'and those writes did change the store')
})

t.test('the spelling that used to get through now asks for a key; the absolute form too', async t => {
  const server = await testApp(t, { env: { API_KEYS: `${READ_KEY}:read,${WRITE_KEY}:write` } })
  await server.listen({ host: '127.0.0.1', port: 0 })
  const port = (server.server.address() as AddressInfo).port
  const body = Buffer.from('{"dim":4}')
  for (const target of ['/%761/spaces/x', '/v%31/spaces/x', `http://127.0.0.1:${port}/v1/spaces/x`]) {
    const none = await raw(port, 'PUT', target, { body })
    t.equal(none.status, 401, `PUT ${target} without a key`)
    t.equal(none.type, `${PROBLEM}unauthenticated`)
    t.match(none.headers, /www-authenticate: bearer realm="latentbridge"/)
    const read = await raw(port, 'PUT', target, { body, key: READ_KEY })
    t.equal(read.status, 403, `PUT ${target} with a read key`)
    t.equal(read.type, `${PROBLEM}forbidden`)
  }
  t.same(await server.store.listSpaces(), [])
  // The same encoded spelling with the write key is the same route, and works.
  t.equal((await raw(port, 'PUT', '/%761/spaces/x', { body, key: WRITE_KEY })).status, 201)
  t.same((await server.store.listSpaces()).map(s => s.name), ['x'])
})

t.test('HEAD needs what GET needs; unmatched paths are 404 with or without a key; operations stay open', async t => {
  const server = await testApp(t, { env: { API_KEYS: `${READ_KEY}:read,${WRITE_KEY}:write` } })
  const read = { authorization: `Bearer ${READ_KEY}` }
  t.equal((await server.inject({ method: 'HEAD', url: '/v1/spaces' })).statusCode, 401)
  t.equal((await server.inject({ method: 'HEAD', url: '/v1/spaces', headers: read })).statusCode, 200)
  for (const headers of [{}, read, { authorization: `Bearer ${WRITE_KEY}` }, { authorization: 'Bearer not-a-key-at-all' }]) {
    for (const url of ['/v1/nothing-here', '/v1', '/v2/spaces', '/nothing']) {
      const res = await server.inject({ method: 'POST', url, headers })
      isProblem(t, res, 'no-route', `POST ${url}`)
    }
  }
  // Operational routes and the documentation need no key, and ignore a wrong one.
  for (const headers of [{}, { authorization: 'Bearer not-a-key-at-all' }]) {
    for (const url of ['/healthz', '/readyz', '/metrics', '/openapi.json', '/docs/', '/docs/json', '/docs/static/swagger-initializer.js']) {
      t.equal((await server.inject({ method: 'GET', url, headers })).statusCode, 200, `GET ${url}`)
      t.equal((await server.inject({ method: 'HEAD', url, headers })).statusCode, 200, `HEAD ${url}`)
    }
  }
})

t.test('CORS: preflights pass without a key, and a 401 still carries the CORS headers the browser needs to read it', async t => {
  const server = await testApp(t, { env: { API_KEYS: `${READ_KEY}:read`, CORS_ORIGINS: 'https://app.example.com' } })
  const origin = 'https://app.example.com'
  const preflight = await server.inject({ method: 'OPTIONS', url: '/v1/spaces/x', headers: { origin, 'access-control-request-method': 'PUT' } })
  t.equal(preflight.statusCode, 204)
  const refused = await server.inject({ method: 'PUT', url: '/v1/spaces/x', headers: { origin }, payload: { dim: 2 } })
  isProblem(t, refused, 'unauthenticated')
  t.equal(refused.headers['access-control-allow-origin'], origin)
  const forbidden = await server.inject({ method: 'PUT', url: '/v1/spaces/x', headers: { origin, authorization: `Bearer ${READ_KEY}` }, payload: { dim: 2 } })
  isProblem(t, forbidden, 'forbidden')
  t.equal(forbidden.headers['access-control-allow-origin'], origin)
})

t.test('a route that declares no scope, or an unknown one, stops start-up', async t => {
  const build = async (scope: unknown): Promise<Error | undefined> => {
    const config = loadConfig({ MAX_EVENT_LOOP_DELAY_MS: '0', MAX_HEAP_USED_BYTES: '0' })
    const fastify = Fastify(serverOptions(config, false))
    await fastify.register(fp(app), { config, store: new MemoryStore(), engine: await testEngine(t), ownsStore: false, ownsEngine: false })
    fastify.post('/v1/forgotten', scope === undefined ? {} : { config: { scope: scope as 'read' } }, async () => ({ ok: true }))
    try {
      await fastify.ready()
      return undefined
    } catch (err) {
      return err as Error
    } finally {
      await fastify.close()
    }
  }
  const missing = await build(undefined)
  t.ok(missing, 'ready() fails')
  t.match(missing?.message, /POST \/v1\/forgotten/)
  t.match(missing?.message, /config: \{ scope: 'read' \| 'write' \| 'none' \}/)
  t.match((await build('admin'))?.message, /POST \/v1\/forgotten \(scope "admin"\)/)
  t.equal(await build('write'), undefined, 'the same route with its scope starts')
})
