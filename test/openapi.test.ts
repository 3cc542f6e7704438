import { readFileSync } from 'node:fs'
import t from 'tap'
import { Validator } from '@seriousme/openapi-schema-validator'
import { isProblem, json, testApp } from './helpers/app.js'

t.test('the committed openapi/openapi.json is what the server serves', async t => {
  const app = await testApp(t)
  const served = json(await app.inject({ method: 'GET', url: '/openapi.json' }))
  const committed = JSON.parse(readFileSync(new URL('../openapi/openapi.json', import.meta.url), 'utf8'))
  t.same(served, committed, 'openapi/openapi.json is stale: run npm run openapi and commit the result')
  t.equal(served.openapi, '3.1.0')
})

t.test('the committed document validates against the OpenAPI 3.1 schema', async t => {
  const doc = JSON.parse(readFileSync(new URL('../openapi/openapi.json', import.meta.url), 'utf8'))
  const validator = new Validator()
  const result = await validator.validate(doc)
  t.equal(validator.version, '3.1')
  t.same(result.errors ?? [], [], 'no schema errors')
  t.equal(result.valid, true)
  // The validator does reject a broken document (so the check above can fail).
  const broken = structuredClone(doc)
  delete broken.info
  broken.paths['/healthz'].get.responses = { 200: { content: {} } }
  t.equal((await new Validator().validate(broken)).valid, false, 'a document without info and with a response lacking its description is invalid')
})

t.test('every operation documents its responses, errors as problem+json', async t => {
  const app = await testApp(t)
  const doc = json(await app.inject({ method: 'GET', url: '/openapi.json' }))
  let operations = 0
  for (const [path, item] of Object.entries<any>(doc.paths)) {
    for (const [method, op] of Object.entries<any>(item)) {
      operations++
      t.ok(op.summary, `${method} ${path} has a summary`)
      t.ok(Object.keys(op.responses ?? {}).length > 0, `${method} ${path} has responses`)
      for (const [status, response] of Object.entries<any>(op.responses)) {
        if (Number(status) >= 400 && response.content !== undefined && path !== '/readyz') {
          t.same(Object.keys(response.content), ['application/problem+json'], `${method} ${path} ${status} is problem+json`)
        }
      }
    }
  }
  t.ok(operations >= 12, `documents ${operations} operations`)
  const upload = doc.paths['/v1/anchor-sets/{set}/embeddings/{space}'].put
  t.ok(upload.requestBody.content['application/octet-stream'], 'binary upload documented')
  t.ok(upload.requestBody.content['application/x-npy'], 'npy upload documented')
})

t.test('/docs serves Swagger UI, and can be switched off', async t => {
  const app = await testApp(t)
  const res = await app.inject({ method: 'GET', url: '/docs/' })
  t.equal(res.statusCode, 200)
  t.match(res.body, /swagger/i)
  const off = await testApp(t, { env: { DOCS_ENABLED: 'false' } })
  isProblem(t, await off.inject({ method: 'GET', url: '/docs/' }), 'no-route')
})

t.test("the document's examples work as Swagger UI's Try it out sends them", async t => {
  const app = await testApp(t)
  const doc = json(await app.inject({ method: 'GET', url: '/openapi.json' }))
  const example = (path: string, method: string): unknown => doc.paths[path][method].requestBody.content['application/json'].schema.example
  const param = (path: string, method: string, name: string): string => doc.paths[path][method].parameters.find((p: any) => p.name === name).schema.example
  const send = async (method: string, url: string, payload: unknown): Promise<number> => {
    const res = await app.inject({ method: method as 'PUT', url, payload: payload as object })
    t.ok(res.statusCode < 300, `${method} ${url} → ${res.statusCode} ${res.statusCode >= 300 ? res.body : ''}`)
    return res.statusCode
  }
  const space = param('/v1/spaces/{space}', 'put', 'space')
  const set = param('/v1/anchor-sets/{set}', 'put', 'set')
  await send('PUT', `/v1/spaces/${space}`, example('/v1/spaces/{space}', 'put'))
  await send('PUT', '/v1/spaces/demo-b', example('/v1/spaces/{space}', 'put'))
  await send('PUT', `/v1/anchor-sets/${set}`, example('/v1/anchor-sets/{set}', 'put'))
  for (const s of [space, 'demo-b']) {
    await send('PUT', `/v1/anchor-sets/${set}/embeddings/${s}`, example('/v1/anchor-sets/{set}/embeddings/{space}', 'put'))
  }
  await send('POST', '/v1/relative', example('/v1/relative', 'post'))
  await send('POST', '/v1/similarity', example('/v1/similarity', 'post'))
  await send('POST', `/v1/anchor-sets/${set}/select`, example('/v1/anchor-sets/{set}/select', 'post'))
})

t.test('the Problem schema lists every problem type with its status, meaning and fix', async t => {
  const { PROBLEM_KINDS, problemType } = await import('../src/errors.js')
  const doc = JSON.parse(readFileSync(new URL('../openapi/openapi.json', import.meta.url), 'utf8'))
  const type = doc.components.schemas.Problem.properties.type
  const kinds = Object.keys(PROBLEM_KINDS) as Array<keyof typeof PROBLEM_KINDS>
  t.same(type.enum, kinds.map(problemType))
  for (const kind of kinds) t.match(type.description, `| \`${problemType(kind)}\` | ${PROBLEM_KINDS[kind].status} |`, `${kind} is described`)
})
