import t from 'tap'
import { isProblem, json, testApp } from '../helpers/app.js'

t.test('spaces: create, identical, update, conflict, list, get, delete', async t => {
  const app = await testApp(t)
  const put = (name: string, body: unknown) => app.inject({ method: 'PUT', url: `/v1/spaces/${encodeURIComponent(name)}`, payload: body as object })

  const created = await put('sentence-transformers/all-MiniLM-L6-v2', { dim: 384, description: 'MiniLM' })
  t.equal(created.statusCode, 201)
  const space = json(created)
  t.equal(space.name, 'sentence-transformers/all-MiniLM-L6-v2', 'a %2F in the path is a / in the name')
  t.equal(space.dim, 384)
  t.same(space.metadata, {})
  t.match(space.createdAt, /^\d{4}-\d\d-\d\dT/)

  const again = await put('sentence-transformers/all-MiniLM-L6-v2', { dim: 384, description: 'MiniLM' })
  t.equal(again.statusCode, 200, 'identical → 200')
  t.equal(json(again).createdAt, space.createdAt)

  const updated = await put('sentence-transformers/all-MiniLM-L6-v2', { dim: 384, description: 'new words', metadata: { v: 2 } })
  t.equal(updated.statusCode, 200)
  t.equal(json(updated).description, 'new words')
  t.same(json(updated).metadata, { v: 2 })

  const clash = await put('sentence-transformers/all-MiniLM-L6-v2', { dim: 768 })
  isProblem(t, clash, 'conflict')
  t.equal(clash.headers['content-type'], 'application/problem+json; charset=utf-8')
  t.match(json(clash).detail, /dim 384/)

  await put('glove', { dim: 100 })
  const list = json(await app.inject({ method: 'GET', url: '/v1/spaces' }))
  t.same(list.spaces.map((s: any) => s.name).sort(), ['glove', 'sentence-transformers/all-MiniLM-L6-v2'])

  const got = await app.inject({ method: 'GET', url: '/v1/spaces/glove' })
  t.equal(got.statusCode, 200)
  t.equal(json(got).dim, 100)

  const missing = await app.inject({ method: 'GET', url: '/v1/spaces/nope' })
  isProblem(t, missing, 'not-found')
  t.equal(json(missing).title, 'Not found')
  t.match(json(missing).detail, /"nope" does not exist/)

  t.equal((await app.inject({ method: 'DELETE', url: '/v1/spaces/glove' })).statusCode, 204)
  isProblem(t, await app.inject({ method: 'DELETE', url: '/v1/spaces/glove' }), 'not-found')
})

t.test('spaces: invalid input is a 400 naming the field', async t => {
  const app = await testApp(t)
  const bad = await app.inject({ method: 'PUT', url: '/v1/spaces/x', payload: { dim: -3 } })
  isProblem(t, bad, 'invalid-request')
  t.match(json(bad).errors[0].path, /dim/)
  const badName = await app.inject({ method: 'PUT', url: '/v1/spaces/-x', payload: { dim: 3 } })
  isProblem(t, badName, 'invalid-request')
  t.match(json(badName).detail, /params/)
  const extra = await app.inject({ method: 'PUT', url: '/v1/spaces/x', payload: { dim: 3, dimm: 4 } })
  isProblem(t, extra, 'invalid-request', 'unknown fields are rejected, not ignored')
  const notJson = await app.inject({ method: 'PUT', url: '/v1/spaces/x', headers: { 'content-type': 'application/json' }, payload: '{"dim": 3' })
  isProblem(t, notJson, 'invalid-request')
  t.match(json(notJson).detail, /not valid JSON/)
  const wrongType = await app.inject({ method: 'PUT', url: '/v1/spaces/x', headers: { 'content-type': 'text/plain' }, payload: 'dim=3' })
  isProblem(t, wrongType, 'unsupported-media-type')
  const binary = await app.inject({ method: 'PUT', url: '/v1/spaces/x', headers: { 'content-type': 'application/octet-stream' }, payload: Buffer.alloc(8) })
  isProblem(t, binary, 'unsupported-media-type', 'binary bodies only where a route takes them')
  t.match(json(binary).detail, /takes application\/json/)
  const tooBig = await app.inject({ method: 'PUT', url: '/v1/spaces/x', payload: { dim: 10_000_000 } })
  isProblem(t, tooBig, 'unprocessable')
  t.match(json(tooBig).detail, /MAX_DIM/)
})

t.test('delete cascade rules', async t => {
  const app = await testApp(t)
  await app.inject({ method: 'PUT', url: '/v1/spaces/a', payload: { dim: 2 } })
  await app.inject({ method: 'PUT', url: '/v1/anchor-sets/s', payload: { ids: ['x', 'y'] } })
  const up = await app.inject({ method: 'PUT', url: '/v1/anchor-sets/s/embeddings/a', payload: { vectors: [[1, 2], [3, 4]] } })
  t.equal(up.statusCode, 201)
  const blocked = await app.inject({ method: 'DELETE', url: '/v1/spaces/a' })
  isProblem(t, blocked, 'conflict')
  t.match(json(blocked).detail, /set "s" \/ space "a"/)
  t.match(json(blocked).detail, /cascade=true/)
  t.equal((await app.inject({ method: 'DELETE', url: '/v1/spaces/a?cascade=true' })).statusCode, 204)
  const set = json(await app.inject({ method: 'GET', url: '/v1/anchor-sets/s' }))
  t.same(set.spaces, {}, 'cascade removed the embeddings')
})
