/**
 * Access control and safe defaults (issue 6): keys from API_KEYS_FILE, keys never logged, helmet on
 * /docs only (with a CSP that Swagger UI runs under), CORS off unless configured, and no stack
 * traces or internal messages in any answer.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Writable } from 'node:stream'
import Fastify from 'fastify'
import t from 'tap'
import app, { serverOptions } from '../src/app.js'
import { loadConfig } from '../src/config.js'
import { MemoryStore } from '../src/store/memory.js'
import type { Store } from '../src/store/types.js'
import { isProblem, json, testApp, testEngine } from './helpers/app.js'
import { configError } from './helpers/config.js'

const dir = mkdtempSync(join(tmpdir(), 'latentbridge-keys-'))
t.teardown(() => rmSync(dir, { recursive: true, force: true }))
const file = (name: string, text: string): string => {
  const path = join(dir, name)
  writeFileSync(path, text)
  return path
}


t.test('API_KEYS_FILE: one entry per line or comma-separated, comments skipped, joined to API_KEYS', async t => {
  const path = file('keys.txt', '# service keys\nfile-read-key-01:read\n\n  file-bare-key-02 , file-write-key-03:write\r\n# end\n')
  const c = loadConfig({ API_KEYS_FILE: path, API_KEYS: 'env-read-key-00:read' })
  t.same(c.API_KEYS, [
    { key: 'env-read-key-00', scope: 'read' },
    { key: 'file-read-key-01', scope: 'read' },
    { key: 'file-bare-key-02', scope: 'write' },
    { key: 'file-write-key-03', scope: 'write' }
  ])
  t.same(loadConfig({ API_KEYS_FILE: path }).API_KEYS.map(k => k.key), ['file-read-key-01', 'file-bare-key-02', 'file-write-key-03'])
})

t.test('API_KEYS_FILE: an unreadable or bad file stops start-up with a message naming the variable, never a key', async t => {
  const missing = join(dir, 'no-such-file')
  const message = configError({ API_KEYS_FILE: missing })
  t.match(message, `API_KEYS_FILE=${JSON.stringify(missing)}`)
  t.match(message, /cannot be read \(ENOENT\)/)
  t.match(configError({ API_KEYS_FILE: dir }), /API_KEYS_FILE=.*cannot be read \(EISDIR\)/)

  const badScope = configError({ API_KEYS_FILE: file('bad-scope', 'very-secret-key-1:admin\n') })
  t.match(badScope, /API_KEYS_FILE=.*scope "admin"/)
  t.notMatch(badScope, /very-secret-key-1/, 'the key itself is not echoed')
  t.match(configError({ API_KEYS_FILE: file('short', 'short:read\n') }), /API_KEYS_FILE=.*shorter than 8 characters/)
  t.notMatch(configError({ API_KEYS_FILE: file('short', 'short:read\n') }), /short:read/)
  t.match(configError({ API_KEYS_FILE: file('empty', '# nothing here\n\n') }), /API_KEYS_FILE=.*holds no key/)
})

t.test('keys from API_KEYS_FILE guard the API: 401, 403, and 200 with the right scope', async t => {
  const path = file('app-keys', 'app-read-key-123:read\napp-write-key-123:write\n')
  const server = await testApp(t, { env: { API_KEYS_FILE: path } })
  isProblem(t, await server.inject({ method: 'GET', url: '/v1/spaces' }), 'unauthenticated')
  t.equal((await server.inject({ method: 'GET', url: '/v1/spaces', headers: { authorization: 'Bearer app-read-key-123' } })).statusCode, 200)
  isProblem(t, await server.inject({ method: 'PUT', url: '/v1/spaces/s', headers: { authorization: 'Bearer app-read-key-123' }, payload: { dim: 2 } }), 'forbidden')
  t.equal((await server.inject({ method: 'PUT', url: '/v1/spaces/s', headers: { authorization: 'Bearer app-write-key-123' }, payload: { dim: 2 } })).statusCode, 201)
})

/** An app that logs JSON lines into `lines`, on a store of the test's choice. */
async function loggedApp (t: { teardown: (fn: () => unknown) => void }, env: Record<string, string>, store: Store = new MemoryStore()): Promise<{ server: ReturnType<typeof Fastify>, lines: any[], text: () => string }> {
  const lines: any[] = []
  const stream = new Writable({ write (chunk, _enc, done) { for (const l of String(chunk).split('\n')) if (l !== '') lines.push(JSON.parse(l)); done() } })
  const config = loadConfig(env)
  const server = Fastify(serverOptions(config, true, stream))
  await server.register(app, { config, store, engine: await testEngine(t), ownsStore: false, ownsEngine: false })
  // A route that logs the raw request headers, as careless code might: redaction must still hide the key.
  server.get('/debug/headers', { config: { scope: 'none' } }, async (request) => {
    request.log.info({ headers: request.headers }, 'headers seen')
    request.log.info({ req: { headers: request.headers } }, 'request seen')
    return { ok: true }
  })
  await server.ready()
  t.teardown(async () => { await server.close() })
  return { server, lines, text: () => JSON.stringify(lines) }
}
t.test('keys never reach the logs, whatever is logged', async t => {
  const key = 'log-write-key-98765'
  const { server, lines, text } = await loggedApp(t, { API_KEYS: `${key}:write` })
  const auth = { authorization: `Bearer ${key}` }
  t.equal((await server.inject({ method: 'GET', url: '/v1/spaces', headers: auth })).statusCode, 200)
  isProblem(t, await server.inject({ method: 'GET', url: '/v1/spaces', headers: { authorization: `Bearer ${key}-wrong` } }), 'unauthenticated')
  t.equal((await server.inject({ method: 'GET', url: '/debug/headers', headers: auth })).statusCode, 200)
  t.ok(lines.some(l => l.msg === 'headers seen' && l.headers.authorization === '[redacted]'), 'logged headers show [redacted]')
  const seen = lines.find(l => l.msg === 'request seen')
  t.ok(seen !== undefined && [undefined, '[redacted]'].includes(seen.req?.headers?.authorization), 'logged request headers: redacted or left out by the serializer')
  t.notMatch(text(), key, 'the key appears nowhere in the log')
})

t.test('a 500 answers with the request id only; the log has the error under that id', async t => {
  const store = new MemoryStore()
  const secret = 'ECONNREFUSED 10.20.30.40:6379 (internal-detail-xyz)'
  const broken: Store = Object.assign(Object.create(Object.getPrototypeOf(store)), store, {
    listSpaces: async () => { throw new Error(secret) }
  })
  const { server, lines } = await loggedApp(t, {}, broken)
  const res = await server.inject({ method: 'GET', url: '/v1/spaces', headers: { 'x-request-id': 'req-500-test' } })
  isProblem(t, res, 'internal')
  const body = json(res)
  t.same(Object.keys(body).sort(), ['detail', 'instance', 'requestId', 'status', 'title', 'type'])
  t.equal(body.requestId, 'req-500-test')
  t.match(body.detail, /request id req-500-test/)
  t.notMatch(res.body, /internal-detail-xyz|ECONNREFUSED|10\.20\.30\.40/, 'no internal message')
  t.notMatch(res.body, /\n\s+at |\.ts:\d+|node_modules/, 'no stack trace')
  const logged = lines.find(l => l.level >= 50 && l.requestId === 'req-500-test')
  t.ok(logged, 'the error is logged with the request id')
  t.match(logged.err.message, /internal-detail-xyz/)
  t.match(logged.err.stack, /listSpaces|Error/)
})

t.test('malformed URLs and overlong path segments are problems too (no stack, no internal message)', async t => {
  const server = await testApp(t)
  const bad = await server.inject({ method: 'GET', url: '/v1/spaces/%E0%A4%A' })
  t.match(isProblem(t, bad, 'invalid-request').detail, /percent-encoding/)
  const long = await server.inject({ method: 'GET', url: `/v1/spaces/${'a'.repeat(600)}` })
  isProblem(t, long, 'uri-too-long')
})

t.test('helmet guards /docs with a CSP that lets Swagger UI load and start', async t => {
  const server = await testApp(t)
  const page = await server.inject({ method: 'GET', url: '/docs/' })
  t.equal(page.statusCode, 200)
  const csp = String(page.headers['content-security-policy'])
  const directives = new Map(csp.split(';').map(d => d.trim()).filter(d => d !== '').map(d => {
    const [name, ...values] = d.split(/\s+/)
    return [name, values] as [string, string[]]
  }))
  t.same(directives.get('script-src'), ["'self'"], 'scripts only from this origin: no inline script, no eval')
  t.same(directives.get('default-src'), ["'self'"])
  t.ok(directives.get('img-src')?.includes('data:'), 'the logo is a data: URL')
  t.ok(directives.get('style-src')?.includes("'self'"))
  t.notOk(directives.has('upgrade-insecure-requests'), 'plain HTTP inside a cluster keeps working')
  t.equal(page.headers['x-content-type-options'], 'nosniff')
  t.equal(page.headers['x-frame-options'], 'SAMEORIGIN')

  // Every script on the page is a file from /docs/static (so script-src 'self' allows it), and
  // none is inline: the initializer that starts Swagger UI is one of those files.
  const scripts = [...page.body.matchAll(/<script([^>]*)>([\s\S]*?)<\/script>/g)]
  t.ok(scripts.length >= 3, `${scripts.length} scripts`)
  for (const [, attrs, inline] of scripts) {
    const src = /src="([^"]+)"/.exec(attrs)?.[1]
    t.ok(src, 'script has a src')
    t.equal(inline.trim(), '', 'no inline code')
    t.notMatch(String(src), /^(https?:)?\/\//, 'same origin')
  }
  t.notMatch(page.body, /\son[a-z]+=/i, 'no inline event handlers (script-src-attr none)')
  const assets = [...page.body.matchAll(/(?:src|href)="([^"]+)"/g)].map(m => m[1])
  t.ok(assets.some(a => a.endsWith('swagger-initializer.js')), 'the initializer is a file')
  for (const asset of assets) {
    const url = new URL(asset, 'http://localhost/docs/').pathname
    const res = await server.inject({ method: 'GET', url })
    t.equal(res.statusCode, 200, `${url} loads`)
    t.match(String(res.headers['content-type']), /javascript|css|png|svg/, `${url} has its type`)
  }
  const init = await server.inject({ method: 'GET', url: '/docs/static/swagger-initializer.js' })
  t.notMatch(init.body, /\beval\(|new Function/, 'the initializer needs no eval')
  t.match(init.body, /data:image\/svg\+xml;base64/, 'its logo is a data: image, allowed by img-src')
  t.match(init.body, /"validatorUrl":null|validatorUrl: ?null/, 'no outside validator badge image')
  // The spec Swagger UI fetches is same-origin (connect-src 'self').
  t.equal((await server.inject({ method: 'GET', url: '/docs/json' })).statusCode, 200)

  const api = await server.inject({ method: 'GET', url: '/v1/spaces' })
  t.equal(api.headers['content-security-policy'], undefined, 'the JSON API carries no helmet headers')
  t.equal((await server.inject({ method: 'GET', url: '/healthz' })).headers['content-security-policy'], undefined)
})

t.test('CORS is off unless CORS_ORIGINS is set', async t => {
  const server = await testApp(t)
  const preflight = await server.inject({ method: 'OPTIONS', url: '/v1/spaces', headers: { origin: 'https://evil.example', 'access-control-request-method': 'GET' } })
  t.not(preflight.statusCode, 204)
  t.equal(preflight.headers['access-control-allow-origin'], undefined)
  const simple = await server.inject({ method: 'GET', url: '/v1/spaces', headers: { origin: 'https://evil.example' } })
  t.equal(simple.statusCode, 200)
  t.equal(simple.headers['access-control-allow-origin'], undefined, 'no CORS headers: browsers refuse the answer')
})

t.test('CORS_ORIGINS allows exactly those origins, preflights pass before authentication', async t => {
  const server = await testApp(t, { env: { CORS_ORIGINS: 'https://app.example.com, http://localhost:3000', API_KEYS: 'cors-read-key-123:read' } })
  const preflight = await server.inject({
    method: 'OPTIONS',
    url: '/v1/relative',
    headers: { origin: 'https://app.example.com', 'access-control-request-method': 'POST', 'access-control-request-headers': 'authorization, content-type' }
  })
  t.equal(preflight.statusCode, 204, 'preflight answered without a key')
  t.equal(preflight.headers['access-control-allow-origin'], 'https://app.example.com')
  t.match(String(preflight.headers['access-control-allow-headers']), /authorization/)
  t.match(String(preflight.headers['access-control-allow-methods']), /POST/)
  t.equal(preflight.headers['access-control-allow-credentials'], undefined, 'no credentials')

  const allowed = await server.inject({ method: 'GET', url: '/v1/spaces', headers: { origin: 'http://localhost:3000', authorization: 'Bearer cors-read-key-123' } })
  t.equal(allowed.statusCode, 200)
  t.equal(allowed.headers['access-control-allow-origin'], 'http://localhost:3000')
  t.match(String(allowed.headers['access-control-expose-headers']), /x-shape/)
  const other = await server.inject({ method: 'GET', url: '/v1/spaces', headers: { origin: 'https://evil.example', authorization: 'Bearer cors-read-key-123' } })
  t.equal(other.headers['access-control-allow-origin'], undefined, 'another origin gets no CORS headers')
  isProblem(t, await server.inject({ method: 'GET', url: '/v1/spaces', headers: { origin: 'https://app.example.com' } }), 'unauthenticated', 'the API still needs its key')

  const any = await testApp(t, { env: { CORS_ORIGINS: '*' } })
  t.equal((await any.inject({ method: 'GET', url: '/v1/spaces', headers: { origin: 'https://x.example' } })).headers['access-control-allow-origin'], '*')
  t.match(configError({ CORS_ORIGINS: 'https://ok.example,ftp://x/y' }), /CORS_ORIGINS="https:\/\/ok.example,ftp:\/\/x\/y": "ftp:\/\/x\/y" is not an origin/)
})
