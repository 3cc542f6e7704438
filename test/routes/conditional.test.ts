/*
 * Revisions and conditional requests on spaces and anchor sets (ETag, 304, If-Match and
 * If-None-Match on PUT and DELETE), and the per-encoding ETags and Vary of negotiated answers,
 * through the real app on both stores.
 */
import t from 'tap'
import type { FastifyInstance, LightMyRequestResponse } from 'fastify'
import { isProblem, json } from '../helpers/app.js'
import { redisSkipReason } from '../helpers/redis-server.js'
import { memoryApp, redisApp, type AppFactory } from '../helpers/stores.js'

const IDS = ['a', 'b', 'c', 'd']
const VECTORS = [[1, 0, 0], [0, 1, 0], [0, 0, 1], [1, 1, 0]]
const NPY = 'application/x-npy'
const RAW = 'application/octet-stream'

type Res = LightMyRequestResponse

async function call (app: FastifyInstance, method: 'GET' | 'PUT' | 'DELETE' | 'POST', url: string, opts: { payload?: unknown, headers?: Record<string, string> } = {}): Promise<Res> {
  return await app.inject({ method, url, payload: opts.payload as any, headers: opts.headers })
}

const etagOf = (res: Res): string => String(res.headers.etag)

/** Which of the two resource kinds, with a body that changes it (n) and one that conflicts. */
interface Kind {
  label: string
  url: string
  body: (n: number) => Record<string, unknown>
  /** A body that conflicts with what the bodies above create (409 without preconditions). */
  conflicting: Record<string, unknown>
}

const KINDS: Kind[] = [
  { label: 'space', url: '/v1/spaces/org%2Fsrc', body: n => ({ dim: 3, description: `revision ${n}` }), conflicting: { dim: 7 } },
  { label: 'anchor set', url: '/v1/anchor-sets/s', body: n => ({ ids: IDS, description: `revision ${n}` }), conflicting: { ids: ['z'] } }
]

function suite (name: string, makeApp: AppFactory, skip: string | false): void {
  for (const kind of KINDS) {
    t.test(`${name}, ${kind.label}: ETag on PUT and GET, 304, a new ETag for every change`, { skip }, async t => {
      const app = await makeApp(t)
      const created = await call(app, 'PUT', kind.url, { payload: kind.body(1) })
      t.equal(created.statusCode, 201)
      const etag = etagOf(created)
      t.match(etag, /^"[^";]+"$/, 'a strong, quoted ETag on the 201')
      const got = await call(app, 'GET', kind.url)
      t.equal(got.headers.etag, etag, 'GET: the same ETag')
      const same = await call(app, 'GET', kind.url, { headers: { 'if-none-match': etag } })
      t.equal(same.statusCode, 304)
      t.equal(same.body, '', 'no body')
      t.equal(same.headers.etag, etag)
      t.equal((await call(app, 'GET', kind.url, { headers: { 'if-none-match': `"other", W/${etag}` } })).statusCode, 304, 'weak comparison, in a list')
      t.equal((await call(app, 'GET', kind.url, { headers: { 'if-none-match': '"other"' } })).statusCode, 200)

      const unchanged = await call(app, 'PUT', kind.url, { payload: kind.body(1) })
      t.equal(unchanged.statusCode, 200)
      t.equal(unchanged.headers.etag, etag, 'an identical PUT changes nothing, not even the ETag')
      const changed = await call(app, 'PUT', kind.url, { payload: kind.body(2) })
      t.equal(changed.statusCode, 200)
      t.not(changed.headers.etag, etag, 'a PUT that changes it: a new ETag')
      t.equal((await call(app, 'GET', kind.url, { headers: { 'if-none-match': etag } })).statusCode, 200, 'the old ETag is stale')
      t.equal((await call(app, 'GET', kind.url)).headers.etag, changed.headers.etag)
      const back = await call(app, 'PUT', kind.url, { payload: kind.body(1) })
      t.not(back.headers.etag, etag, 'back to an earlier content: still a new ETag (revisions are never reused)')
    })

    t.test(`${name}, ${kind.label}: If-Match and If-None-Match on PUT and DELETE`, { skip }, async t => {
      const app = await makeApp(t)
      isProblem(t, await call(app, 'PUT', kind.url, { payload: kind.body(1), headers: { 'if-match': '*' } }), 'precondition-failed', 'If-Match: * and nothing there')
      isProblem(t, await call(app, 'PUT', kind.url, { payload: kind.body(1), headers: { 'if-match': '"r"' } }), 'precondition-failed', 'If-Match: a tag and nothing there')
      t.equal((await call(app, 'GET', kind.url)).statusCode, 404, 'nothing created')
      const created = await call(app, 'PUT', kind.url, { payload: kind.body(1), headers: { 'if-none-match': '*' } })
      t.equal(created.statusCode, 201, 'If-None-Match: * creates')
      const etag = etagOf(created)
      isProblem(t, await call(app, 'PUT', kind.url, { payload: kind.body(2), headers: { 'if-none-match': '*' } }), 'precondition-failed', 'If-None-Match: * when it exists')
      isProblem(t, await call(app, 'PUT', kind.url, { payload: kind.body(2), headers: { 'if-none-match': etag } }), 'precondition-failed', 'If-None-Match naming the current ETag')
      isProblem(t, await call(app, 'PUT', kind.url, { payload: kind.body(2), headers: { 'if-match': '"stale"' } }), 'precondition-failed', 'a stale If-Match')
      isProblem(t, await call(app, 'PUT', kind.url, { payload: kind.body(2), headers: { 'if-match': `W/${etag}` } }), 'precondition-failed', 'a weak tag never matches')
      isProblem(t, await call(app, 'DELETE', `${kind.url}?cascade=true`, { headers: { 'if-match': '"stale"' } }), 'precondition-failed', 'a stale DELETE')
      isProblem(t, await call(app, 'PUT', kind.url, { payload: kind.conflicting, headers: { 'if-match': '"stale"' } }), 'precondition-failed', 'the precondition is answered before the conflict')
      isProblem(t, await call(app, 'PUT', kind.url, { payload: kind.conflicting }), 'conflict', 'which it is without one')
      const kept = await call(app, 'GET', kind.url)
      t.equal(kept.headers.etag, etag, 'nothing changed')
      t.match(json(kept), { description: 'revision 1' })
      isProblem(t, await call(app, 'PUT', kind.url, { payload: kind.body(1), headers: { 'if-match': 'unquoted' } }), 'invalid-request', 'a malformed If-Match')

      const updated = await call(app, 'PUT', kind.url, { payload: kind.body(2), headers: { 'if-match': `"stale", ${etag}` } })
      t.equal(updated.statusCode, 200, 'a list holding the current ETag')
      t.match(json(updated), { description: 'revision 2' })
      const star = await call(app, 'PUT', kind.url, { payload: kind.body(3), headers: { 'if-match': '*', 'if-none-match': etag } })
      t.equal(star.statusCode, 200, 'If-Match: * when it exists, and a stale If-None-Match')
      isProblem(t, await call(app, 'DELETE', kind.url, { headers: { 'if-match': etagOf(updated) } }), 'precondition-failed', 'the ETag before the last change')
      t.equal((await call(app, 'DELETE', kind.url, { headers: { 'if-match': etagOf(star) } })).statusCode, 204, 'DELETE with the current ETag')
      isProblem(t, await call(app, 'DELETE', kind.url, { headers: { 'if-match': '*' } }), 'precondition-failed', 'If-Match: * once deleted')
      isProblem(t, await call(app, 'DELETE', kind.url), 'not-found', 'without If-Match: 404')
    })

    t.test(`${name}, ${kind.label}: concurrent writers with the same If-Match, exactly one wins`, { skip }, async t => {
      const app = await makeApp(t)
      const etag = etagOf(await call(app, 'PUT', kind.url, { payload: kind.body(0) }))
      const puts = await Promise.all([1, 2, 3].map(async n => await call(app, 'PUT', kind.url, { payload: kind.body(n), headers: { 'if-match': etag } })))
      t.same(puts.map(r => r.statusCode).sort(), [200, 412, 412], 'one replaced it, the others were refused')
      const winner = puts.find(r => r.statusCode === 200)!
      const now = await call(app, 'GET', kind.url)
      t.equal(now.headers.etag, winner.headers.etag, "the stored revision is the winner's")
      t.equal(json(now).description, json(winner).description, 'and so is the content')

      const current = etagOf(now)
      const deletes = await Promise.all([1, 2].map(async () => await call(app, 'DELETE', kind.url, { headers: { 'if-match': current } })))
      t.same(deletes.map(r => r.statusCode).sort(), [204, 412], 'one delete, the other refused')
    })
  }

  t.test(`${name}: an anchor set's ETag follows the embeddings it holds; with its ids, another ETag`, { skip }, async t => {
    const app = await makeApp(t)
    await call(app, 'PUT', '/v1/spaces/src', { payload: { dim: 3 } })
    const set = await call(app, 'PUT', '/v1/anchor-sets/s', { payload: { ids: IDS } })
    const before = etagOf(set)
    const withIds = await call(app, 'GET', '/v1/anchor-sets/s?includeIds=true')
    t.not(withIds.headers.etag, before, 'with its ids: another representation, another ETag')
    t.equal((await call(app, 'GET', '/v1/anchor-sets/s?includeIds=true', { headers: { 'if-none-match': etagOf(withIds) } })).statusCode, 304)
    t.equal((await call(app, 'GET', '/v1/anchor-sets/s', { headers: { 'if-none-match': etagOf(withIds) } })).statusCode, 200, 'which is not the plain one')

    const up = await call(app, 'PUT', '/v1/anchor-sets/s/embeddings/src', { payload: { vectors: VECTORS } })
    t.equal(up.statusCode, 201)
    const after = await call(app, 'GET', '/v1/anchor-sets/s', { headers: { 'if-none-match': before } })
    t.equal(after.statusCode, 200, 'an upload changes the set')
    t.not(after.headers.etag, before)
    isProblem(t, await call(app, 'DELETE', '/v1/anchor-sets/s', { headers: { 'if-match': before } }), 'precondition-failed', 'a delete based on the set before the upload is refused')
    t.equal((await call(app, 'GET', '/v1/anchor-sets/s/embeddings/src')).statusCode, 200, 'and the embeddings are still there')

    const now = etagOf(await call(app, 'GET', '/v1/anchor-sets/s?includeIds=true'))
    t.equal((await call(app, 'PUT', '/v1/anchor-sets/s', { payload: { ids: IDS, description: 'd' }, headers: { 'if-match': now } })).statusCode, 200, 'If-Match takes the ETag of any representation')
    const described = etagOf(await call(app, 'GET', '/v1/anchor-sets/s'))
    t.equal((await call(app, 'DELETE', '/v1/anchor-sets/s/embeddings/src')).statusCode, 204)
    t.not(etagOf(await call(app, 'GET', '/v1/anchor-sets/s')), described, 'deleting embeddings changes it too')
  })

  t.test(`${name}: embeddings downloads: one ETag per encoding, Vary: Accept`, { skip }, async t => {
    const app = await makeApp(t)
    await call(app, 'PUT', '/v1/spaces/src', { payload: { dim: 3 } })
    await call(app, 'PUT', '/v1/anchor-sets/s', { payload: { ids: IDS } })
    const up = await call(app, 'PUT', '/v1/anchor-sets/s/embeddings/src', { payload: { vectors: VECTORS } })
    const url = '/v1/anchor-sets/s/embeddings/src'
    const asJson = await call(app, 'GET', url)
    const asNpy = await call(app, 'GET', url, { headers: { accept: NPY } })
    const asRaw = await call(app, 'GET', url, { headers: { accept: RAW } })
    t.equal(asNpy.headers['content-type'], NPY)
    t.equal(asRaw.headers['content-type'], RAW)
    t.equal(asJson.headers.etag, up.headers.etag, "JSON: the upload's ETag")
    const tags = [asJson, asNpy, asRaw].map(etagOf)
    t.equal(new Set(tags).size, 3, `three encodings, three ETags (${tags.join(' ')})`)
    for (const res of [asJson, asNpy, asRaw]) t.match(res.headers.vary, /\bAccept\b/, `Vary: Accept (${String(res.headers['content-type'])})`)

    const npyAgain = await call(app, 'GET', url, { headers: { accept: NPY, 'if-none-match': etagOf(asNpy) } })
    t.equal(npyAgain.statusCode, 304, 'the npy ETag, asking for npy: 304')
    t.match(npyAgain.headers.vary, /\bAccept\b/, 'a 304 varies too')
    t.equal(npyAgain.headers.etag, etagOf(asNpy))
    t.equal((await call(app, 'GET', url, { headers: { accept: NPY, 'if-none-match': etagOf(asJson) } })).statusCode, 200, 'the JSON ETag does not stand for the npy file')
    t.equal((await call(app, 'GET', url, { headers: { 'if-none-match': etagOf(asRaw) } })).statusCode, 200, 'nor the raw one for the JSON')
    t.equal((await call(app, 'GET', url, { headers: { accept: RAW, 'if-none-match': `${etagOf(asJson)}, ${etagOf(asRaw)}` } })).statusCode, 304)

    // A write's If-Match is about the revision, whichever encoding it was read in.
    const replaced = await call(app, 'PUT', url, { payload: { vectors: VECTORS }, headers: { 'if-match': etagOf(asNpy) } })
    t.equal(replaced.statusCode, 200, 'If-Match with the npy ETag')
    isProblem(t, await call(app, 'PUT', url, { payload: { vectors: VECTORS }, headers: { 'if-match': etagOf(asRaw) } }), 'precondition-failed', 'an ETag of the replaced revision, in any encoding, is stale')
    isProblem(t, await call(app, 'PUT', url, { payload: { vectors: VECTORS }, headers: { 'if-none-match': '*' } }), 'precondition-failed', 'If-None-Match: * when some are stored')
    const raw = etagOf(await call(app, 'GET', url, { headers: { accept: RAW } }))
    t.equal((await call(app, 'DELETE', url, { headers: { 'if-match': raw } })).statusCode, 204, 'DELETE with the raw ETag')
    t.equal((await call(app, 'PUT', url, { payload: { vectors: VECTORS }, headers: { 'if-none-match': '*' } })).statusCode, 201, 'If-None-Match: * when none are stored: created')
  })

  t.test(`${name}: negotiated compute answers say Vary: Accept`, { skip }, async t => {
    const app = await makeApp(t)
    await call(app, 'PUT', '/v1/spaces/src', { payload: { dim: 3 } })
    await call(app, 'PUT', '/v1/anchor-sets/s', { payload: { ids: IDS } })
    await call(app, 'PUT', '/v1/anchor-sets/s/embeddings/src', { payload: { vectors: VECTORS } })
    const body = { space: 'src', anchorSet: 's', vectors: [[1, 2, 3]] }
    for (const accept of [undefined, NPY, RAW]) {
      const res = await call(app, 'POST', '/v1/relative', { payload: body, headers: accept === undefined ? {} : { accept } })
      t.equal(res.statusCode, 200)
      t.equal(res.headers.vary, 'Accept', `relative, Accept ${accept ?? '(none)'}`)
    }
    const spaceGet = await call(app, 'GET', '/v1/spaces/src')
    t.equal(spaceGet.headers.vary, undefined, 'JSON-only answers do not vary with Accept')
  })
}

suite('memory store', memoryApp, false)
suite('redis store', redisApp, redisSkipReason())

