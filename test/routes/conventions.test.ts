import t, { type Test } from 'tap'
import type { FastifyInstance } from 'fastify'
import { isProblem, json } from '../helpers/app.js'
import { redisSkipReason } from '../helpers/redis-server.js'
import { memoryApp, redisApp, type AppFactory } from '../helpers/stores.js'

const SRC = [[1, 0, 0], [0, 1, 0], [0, 0, 1], [1, 1, 0], [0, 1, 1], [1, 0, 1]]
const TGT = [[0, 1, 0, 0], [1, 0, 0, 0], [0, 0, 0, 1], [1, 1, 0, 0], [0, 1, 0, 1], [1, 0, 0, 1]]
const IDS = ['a', 'b', 'c', 'd', 'e', 'f']

async function put (app: FastifyInstance, url: string, payload: unknown, headers: Record<string, string> = {}): Promise<Awaited<ReturnType<FastifyInstance['inject']>>> {
  return await app.inject({ method: 'PUT', url, payload: payload as any, headers })
}

/** A 201 carries a Location that resolves: GET it → 200. */
async function resolves (t: Test, app: FastifyInstance, res: { statusCode: number, headers: Record<string, unknown> }, label: string): Promise<string> {
  t.equal(res.statusCode, 201, `${label}: 201`)
  const location = res.headers.location
  t.type(location, 'string', `${label}: Location`)
  t.equal((await app.inject({ method: 'GET', url: String(location) })).statusCode, 200, `${label}: GET ${String(location)} → 200`)
  return String(location)
}

function suite (name: string, makeApp: AppFactory, skip: string | false): void {
  t.test(`${name}: Location on every 201, 200 on a replacing PUT`, { skip }, async t => {
    const app = await makeApp(t)
    t.equal(await resolves(t, app, await put(app, '/v1/spaces/org%2Fsrc', { dim: 3 }), 'space'), '/v1/spaces/org%2Fsrc')
    await resolves(t, app, await put(app, '/v1/spaces/tgt', { dim: 4 }), 'space')
    const again = await put(app, '/v1/spaces/org%2Fsrc', { dim: 3, description: 'now described' })
    t.equal(again.statusCode, 200, 'replacing a space: 200')
    t.equal(again.headers.location, undefined, 'no Location on 200')
    await resolves(t, app, await put(app, '/v1/anchor-sets/s', { ids: IDS }), 'anchor set')
    t.equal((await put(app, '/v1/anchor-sets/s', { ids: IDS, description: 'd' })).statusCode, 200, 'replacing an anchor set: 200')
    t.equal(await resolves(t, app, await put(app, '/v1/anchor-sets/s/embeddings/org%2Fsrc', { vectors: SRC }), 'embeddings'), '/v1/anchor-sets/s/embeddings/org%2Fsrc')
    await resolves(t, app, await put(app, '/v1/anchor-sets/s/embeddings/tgt', { vectors: TGT }), 'embeddings')
    const replaced = await put(app, '/v1/anchor-sets/s/embeddings/tgt', { vectors: TGT })
    t.equal(replaced.statusCode, 200, 'replacing embeddings: 200')
    t.match(json(replaced), { replaced: true })
    t.equal(replaced.headers.location, undefined, 'no Location on 200')
    const fitted = await app.inject({ method: 'POST', url: '/v1/translators', payload: { source: 'org/src', target: 'tgt', anchorSet: 's', method: 'linear' } })
    const location = await resolves(t, app, fitted, 'translator')
    t.equal(location, `/v1/translators/${encodeURIComponent(json(fitted).id)}`)
  })
}

async function seeded (app: FastifyInstance): Promise<{ etag: string, translator: any, translatorEtag: string }> {
  await put(app, '/v1/spaces/src', { dim: 3 })
  await put(app, '/v1/spaces/tgt', { dim: 4 })
  await put(app, '/v1/anchor-sets/s', { ids: IDS })
  await put(app, '/v1/anchor-sets/s/embeddings/src', { vectors: SRC })
  const up = await put(app, '/v1/anchor-sets/s/embeddings/tgt', { vectors: TGT })
  const fitted = await app.inject({ method: 'POST', url: '/v1/translators', payload: { source: 'src', target: 'tgt', anchorSet: 's', method: 'linear' } })
  return { etag: String(up.headers.etag), translator: json(fitted), translatorEtag: String(fitted.headers.etag) }
}

function conditionalSuite (name: string, makeApp: AppFactory, skip: string | false): void {
  t.test(`${name}: ETag round trip and 304 on If-None-Match`, { skip }, async t => {
    const app = await makeApp(t)
    const { etag, translator, translatorEtag } = await seeded(app)
    t.match(etag, /^"[^"]+"$/, 'a strong, quoted ETag on the upload')
    const emb = await app.inject({ method: 'GET', url: '/v1/anchor-sets/s/embeddings/tgt' })
    t.equal(emb.headers.etag, etag, 'GET embeddings: the upload\'s ETag')
    const same = await app.inject({ method: 'GET', url: '/v1/anchor-sets/s/embeddings/tgt', headers: { 'if-none-match': etag } })
    t.equal(same.statusCode, 304)
    t.equal(same.body, '', '304 has no body')
    t.equal(same.headers.etag, etag)
    t.equal((await app.inject({ method: 'GET', url: '/v1/anchor-sets/s/embeddings/tgt', headers: { 'if-none-match': `W/${etag}` } })).statusCode, 304, 'weak comparison for If-None-Match')
    t.equal((await app.inject({ method: 'GET', url: '/v1/anchor-sets/s/embeddings/tgt', headers: { 'if-none-match': '"other"' } })).statusCode, 200)

    const set = await app.inject({ method: 'GET', url: '/v1/anchor-sets/s' })
    const setEtag = String(set.headers.etag)
    t.match(setEtag, /^"[^"]+"$/)
    t.equal((await app.inject({ method: 'GET', url: '/v1/anchor-sets/s', headers: { 'if-none-match': setEtag } })).statusCode, 304)
    t.not((await app.inject({ method: 'GET', url: '/v1/anchor-sets/s?includeIds=true' })).headers.etag, setEtag, 'another representation, another ETag')
    const reup = await put(app, '/v1/anchor-sets/s/embeddings/tgt', { vectors: TGT })
    t.not(reup.headers.etag, etag, 'a new upload, a new ETag')
    t.equal((await app.inject({ method: 'GET', url: '/v1/anchor-sets/s/embeddings/tgt', headers: { 'if-none-match': etag } })).statusCode, 200, 'the old ETag is stale')
    const setAfter = await app.inject({ method: 'GET', url: '/v1/anchor-sets/s', headers: { 'if-none-match': setEtag } })
    t.equal(setAfter.statusCode, 200, 'the set changed with its embeddings')

    const tr = await app.inject({ method: 'GET', url: `/v1/translators/${translator.id}` })
    t.equal(tr.headers.etag, translatorEtag)
    t.equal((await app.inject({ method: 'GET', url: `/v1/translators/${translator.id}`, headers: { 'if-none-match': translatorEtag } })).statusCode, 304)
  })

  t.test(`${name}: a stale If-Match answers 412 and changes nothing`, { skip }, async t => {
    const app = await makeApp(t)
    const { etag, translator, translatorEtag } = await seeded(app)
    const before = await app.inject({ method: 'GET', url: '/v1/anchor-sets/s/embeddings/tgt' })
    const stale = '"not-the-revision"'
    isProblem(t, await put(app, '/v1/anchor-sets/s/embeddings/tgt', { vectors: TGT.map(r => r.map(v => v * 2)) }, { 'if-match': stale }), 'precondition-failed', 'upload')
    isProblem(t, await put(app, '/v1/anchor-sets/s/embeddings/tgt', { vectors: TGT }, { 'if-match': `W/${etag}` }), 'precondition-failed', 'a weak tag never matches')
    isProblem(t, await put(app, '/v1/anchor-sets/s/embeddings/none', { vectors: TGT }, { 'if-match': '*' }), 'not-found', 'no such space')
    await put(app, '/v1/spaces/other', { dim: 4 })
    isProblem(t, await put(app, '/v1/anchor-sets/s/embeddings/other', { vectors: TGT }, { 'if-match': '*' }), 'precondition-failed', 'If-Match: * and nothing stored')
    t.equal((await app.inject({ method: 'GET', url: '/v1/anchor-sets/s/embeddings/other' })).statusCode, 404, 'nothing stored by the refused upload')
    isProblem(t, await app.inject({ method: 'DELETE', url: '/v1/anchor-sets/s/embeddings/tgt?cascade=true', headers: { 'if-match': stale } }), 'precondition-failed', 'delete embeddings')
    const after = await app.inject({ method: 'GET', url: '/v1/anchor-sets/s/embeddings/tgt' })
    t.equal(after.headers.etag, etag, 'same revision')
    t.same(json(after), json(before), 'same embeddings')

    isProblem(t, await app.inject({ method: 'POST', url: `/v1/translators/${translator.id}/activate`, headers: { 'if-match': '"x.v9"' } }), 'precondition-failed', 'activate')
    isProblem(t, await app.inject({ method: 'DELETE', url: `/v1/translators/${translator.id}`, headers: { 'if-match': '"x.v9"' } }), 'precondition-failed', 'delete translator')
    t.equal((await app.inject({ method: 'GET', url: `/v1/translators/${translator.id}` })).statusCode, 200, 'the translator is still there')

    // The current tags (and *) do match.
    const ok = await put(app, '/v1/anchor-sets/s/embeddings/tgt', { vectors: TGT }, { 'if-match': `"nope", ${etag}` })
    t.equal(ok.statusCode, 200, 'a list holding the current ETag')
    t.equal((await put(app, '/v1/anchor-sets/s/embeddings/tgt', { vectors: TGT }, { 'if-match': '*' })).statusCode, 200, 'If-Match: * when stored')
    t.equal((await app.inject({ method: 'POST', url: `/v1/translators/${translator.id}/activate`, headers: { 'if-match': translatorEtag } })).statusCode, 200)
    t.equal((await app.inject({ method: 'DELETE', url: `/v1/translators/${translator.id}`, headers: { 'if-match': translatorEtag } })).statusCode, 204)
    isProblem(t, await app.inject({ method: 'DELETE', url: `/v1/translators/${translator.id}`, headers: { 'if-match': '*' } }), 'precondition-failed', 'If-Match: * on a deleted translator')
    isProblem(t, await app.inject({ method: 'PUT', url: '/v1/anchor-sets/s/embeddings/tgt', payload: { vectors: TGT }, headers: { 'if-match': 'unquoted' } }), 'invalid-request', 'a malformed If-Match')
    const current = String((await app.inject({ method: 'GET', url: '/v1/anchor-sets/s/embeddings/tgt' })).headers.etag)
    t.equal((await app.inject({ method: 'DELETE', url: '/v1/anchor-sets/s/embeddings/tgt', headers: { 'if-match': current } })).statusCode, 204, 'delete with the current ETag')
  })

  t.test(`${name}: two concurrent uploads with the same If-Match: exactly one succeeds`, { skip }, async t => {
    const app = await makeApp(t)
    const { etag } = await seeded(app)
    const results = await Promise.all([1, 2, 3].map(async k =>
      await put(app, '/v1/anchor-sets/s/embeddings/tgt', { vectors: TGT.map(r => r.map(v => v * k)) }, { 'if-match': etag })))
    const codes = results.map(r => r.statusCode).sort()
    t.same(codes, [200, 412, 412], 'one stored, the others refused')
    const winner = results.find(r => r.statusCode === 200)!
    t.equal((await app.inject({ method: 'GET', url: '/v1/anchor-sets/s/embeddings/tgt' })).headers.etag, winner.headers.etag, 'the stored revision is the winner\'s')
  })
}

suite('memory store', memoryApp, false)
suite('redis store', redisApp, redisSkipReason())
conditionalSuite('memory store', memoryApp, false)
conditionalSuite('redis store', redisApp, redisSkipReason())
