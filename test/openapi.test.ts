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
  // Bodies are named components: the example lives on the component the body refers to.
  const example = (path: string, method: string): unknown => {
    const schema = doc.paths[path][method].requestBody.content['application/json'].schema
    return (schema.$ref !== undefined ? doc.components.schemas[schema.$ref.split('/').pop()] : schema).example
  }
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

const committedDoc = (): any => JSON.parse(readFileSync(new URL('../openapi/openapi.json', import.meta.url), 'utf8'))
const operationsOf = (doc: any): Array<[string, string, any]> =>
  Object.entries<any>(doc.paths).flatMap(([path, item]) => Object.entries<any>(item).map(([method, op]) => [path, method, op] as [string, string, any]))

t.test('every operation has a unique camelCase operationId', async t => {
  const ids = operationsOf(committedDoc()).map(([path, method, op]) => {
    t.match(op.operationId, /^[a-z][A-Za-z]+$/, `${method} ${path}: ${String(op.operationId)}`)
    return op.operationId
  })
  t.equal(new Set(ids).size, ids.length, 'no two operations share an operationId')
  const doc = committedDoc()
  t.equal(doc.paths['/v1/translate'].post.operationId, 'translate')
  t.equal(doc.paths['/v1/translators'].post.operationId, 'fitTranslator')
  t.equal(doc.paths['/v1/spaces'].get.operationId, 'listSpaces')
})

t.test('every integer schema has a lower bound, 0 or more (−1 where it marks the null run)', async t => {
  const unbounded: string[] = []
  let integers = 0
  const walk = (node: unknown, at: string): void => {
    if (Array.isArray(node)) { node.forEach((v, i) => walk(v, `${at}/${i}`)); return }
    if (node === null || typeof node !== 'object') return
    const schema = node as Record<string, unknown>
    const types = Array.isArray(schema.type) ? schema.type : [schema.type]
    if (types.includes('integer')) {
      integers++
      if (typeof schema.minimum !== 'number' || schema.minimum < (at.endsWith('/restart') ? -1 : 0)) unbounded.push(`${at} (minimum ${String(schema.minimum)})`)
    }
    for (const [k, v] of Object.entries(schema)) walk(v, `${at}/${k}`)
  }
  walk(committedDoc(), '#')
  t.ok(integers > 20, `${integers} integer schemas checked`)
  t.same(unbounded, [], 'no integer without a minimum (Swagger UI would show -9007199254740991)')
})

t.test('request and response bodies are named components', async t => {
  const doc = committedDoc()
  const names = Object.keys(doc.components.schemas)
  for (const name of ['Space', 'SpaceList', 'SpaceRequest', 'AnchorSet', 'AnchorSetList', 'FitRequest', 'Translator', 'TranslatorList', 'TranslateRequest', 'TranslateResult', 'RelativeRequest', 'RelativeResult', 'Problem']) {
    t.ok(names.includes(name), `${name} is a component`)
  }
  t.same(names.filter(n => n.endsWith('Input')), [], 'no duplicate <id>Input components')
  t.same(doc.paths['/v1/translate'].post.requestBody.content['application/json'].schema, { $ref: '#/components/schemas/TranslateRequest' })
  t.same(doc.paths['/v1/translate'].post.responses['200'].content['application/json'].schema, { $ref: '#/components/schemas/TranslateResult' })
  const refs = [...JSON.stringify(doc).matchAll(/"#\/components\/schemas\/([^"]+)"/g)].map(m => m[1])
  t.same(refs.filter(r => !names.includes(r)), [], 'every $ref resolves')
})

t.test('every error response has examples of the problem types that operation answers with that status', async t => {
  const { PROBLEM_KINDS, problemType } = await import('../src/errors.js')
  const doc = committedDoc()
  const types = new Map(Object.entries(PROBLEM_KINDS).map(([kind, info]) => [problemType(kind as keyof typeof PROBLEM_KINDS), info.status]))
  for (const [path, method, op] of operationsOf(doc)) {
    for (const [status, response] of Object.entries<any>(op.responses)) {
      const problem = response.content?.['application/problem+json']
      if (Number(status) < 400 || problem === undefined) continue
      const examples = Object.entries<any>(problem.examples ?? {})
      t.ok(examples.length > 0, `${method} ${path} ${status} has examples`)
      for (const [kind, example] of examples) {
        t.equal(example.value.type, problemType(kind as keyof typeof PROBLEM_KINDS), `${method} ${path} ${status} ${kind}: keyed by its kind`)
        t.equal(types.get(example.value.type), Number(status), `${method} ${path} ${status} ${kind}: a catalogue type of that status`)
        t.equal(example.value.status, Number(status))
      }
    }
  }
  const kinds = (path: string, method: string, status: number): string[] => Object.keys(doc.paths[path][method].responses[status].content['application/problem+json'].examples)
  t.same(kinds('/v1/spaces/{space}', 'get', 404), ['not-found', 'no-route'], 'a path with a name can miss its route')
  t.same(kinds('/v1/relative', 'post', 404), ['not-found'], 'a fixed path cannot')
  t.same(kinds('/v1/translators', 'post', 422), ['unprocessable', 'over-budget', 'idempotency-key-reused'], 'a fit runs under the budgets and takes an Idempotency-Key')
  t.same(kinds('/v1/translate', 'post', 422), ['unprocessable'], 'a translate does not')
  t.same(kinds('/v1/translators', 'post', 503), ['overloaded', 'timeout', 'unavailable', 'busy'])
  t.same(kinds('/v1/spaces/{space}', 'put', 503), ['overloaded', 'timeout', 'unavailable'])
  t.same(kinds('/v1/translate', 'post', 429), ['queue-full'])
})

t.test('response headers are declared', async t => {
  const doc = committedDoc()
  const headers = (path: string, method: string, status: number): string[] => Object.keys(doc.paths[path][method].responses[status].headers ?? {})
  const translate = headers('/v1/translate', 'post', 200)
  for (const h of ['x-shape', 'x-translator-id', 'x-translator-version', 'x-queue-time', 'x-compute-time', 'x-total-time']) t.ok(translate.includes(h), `translate 200 declares ${h}`)
  for (const h of ['x-shape', 'x-anchors', 'x-anchor-digest', 'x-zero-rows', 'x-blocks']) t.ok(headers('/v1/relative', 'post', 200).includes(h), `relative 200 declares ${h}`)
  t.ok(headers('/v1/anchor-sets/{set}/embeddings/{space}', 'get', 200).includes('x-complete'))
  t.ok(headers('/v1/translators/{id}/onnx', 'get', 200).includes('content-disposition'))
  t.ok(headers('/v1/translate', 'post', 429).includes('retry-after'))
  for (const [path, method, op] of operationsOf(doc)) {
    if (op.responses['503'] !== undefined && path.startsWith('/v1/')) t.ok(headers(path, method, 503).includes('retry-after'), `${method} ${path} 503 declares Retry-After`)
    if (op.responses['201'] !== undefined) t.ok(headers(path, method, 201).includes('location'), `${method} ${path} 201 declares Location`)
    if (path.startsWith('/v1/')) t.ok(op.responses['503'], `${method} ${path} documents 503`)
  }
  for (const path of ['/v1/anchor-sets/{set}', '/v1/anchor-sets/{set}/embeddings/{space}', '/v1/translators/{id}']) t.ok(headers(path, 'get', 200).includes('etag'), `GET ${path} declares ETag`)
  t.notOk(headers('/v1/spaces', 'get', 200).includes('etag'), 'only resource GETs')
})

t.test('the query parameters of binary-body operations say they apply to binary bodies only', async t => {
  const doc = committedDoc()
  for (const path of ['/v1/translate', '/v1/relative']) {
    const query = doc.paths[path].post.parameters.filter((p: any) => p.in === 'query')
    t.ok(query.length > 0)
    for (const p of query) t.match(p.description, /^Binary bodies only/, `${path} ?${String(p.name)}`)
  }
})

t.test('the X-Shape, X-Translator-Id and X-Translator-Version the document declares are what a binary translate answers', async t => {
  const app = await testApp(t)
  const put = async (url: string, payload: object): Promise<void> => { t.ok((await app.inject({ method: 'PUT', url, payload })).statusCode < 300, url) }
  await put('/v1/spaces/a', { dim: 2 })
  await put('/v1/spaces/b', { dim: 2 })
  await put('/v1/anchor-sets/s', { ids: ['1', '2', '3', '4'] })
  await put('/v1/anchor-sets/s/embeddings/a', { vectors: [[1, 0], [0, 1], [1, 1], [1, -1]] })
  await put('/v1/anchor-sets/s/embeddings/b', { vectors: [[0, 1], [1, 0], [1, 1], [-1, 1]] })
  const fit = await app.inject({ method: 'POST', url: '/v1/translators', payload: { source: 'a', target: 'b', anchorSet: 's', holdout: 0 } })
  t.equal(fit.statusCode, 201)
  const res = await app.inject({ method: 'POST', url: '/v1/translate', payload: { source: 'a', target: 'b', vectors: [[1, 0]] }, headers: { accept: 'application/octet-stream' } })
  t.equal(res.statusCode, 200)
  const declared = Object.keys(committedDoc().paths['/v1/translate'].post.responses['200'].headers)
  for (const h of ['x-shape', 'x-translator-id', 'x-translator-version']) {
    t.ok(declared.includes(h))
    t.ok(res.headers[h], `${h} is sent`)
  }
  t.equal(res.headers['x-translator-id'], json(fit).id)
})
