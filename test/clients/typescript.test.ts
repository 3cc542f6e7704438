import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import t from 'tap'
import {
  LatentbridgeClient, LimitError, ProblemError, matrix, parseRetryAfter, sliceRows, type Matrix, type Operation, type Translator
} from '../../client/index.js'
import { testApp } from '../helpers/app.js'
import { values } from '../helpers/data.js'

/*
 * The TypeScript client against the real app over a real socket (memory store), with 64 rows per
 * request so that large calls are split.
 */

const MAX_ROWS = 64

async function liveClient (t: Tap): Promise<LatentbridgeClient> {
  const app = await testApp(t, { env: { MAX_ROWS_PER_REQUEST: String(MAX_ROWS) } })
  const url = await app.listen({ host: '127.0.0.1', port: 0 })
  return new LatentbridgeClient({ baseUrl: url })
}

type Tap = Parameters<typeof testApp>[0]

let counter = 0
const unique = (prefix: string): string => `${prefix}-${process.pid}-${counter++}`

/** Source rows X (dim 8) and targets Y = X·W (dim 6), both uploaded; the names. */
async function pair (client: LatentbridgeClient, rows = 60): Promise<{ source: string, target: string, set: string, x: Matrix, y: Matrix }> {
  const names = { source: unique('src'), target: unique('tgt'), set: unique('set') }
  const x = matrix(values(rows * 8, 3), 8)
  const w = values(8 * 6, 4)
  const y = new Float32Array(rows * 6)
  for (let i = 0; i < rows; i++) {
    for (let j = 0; j < 6; j++) {
      let v = 0
      for (let k = 0; k < 8; k++) v += x.data[i * 8 + k] * w[k * 6 + j]
      y[i * 6 + j] = v
    }
  }
  await client.createSpace(names.source, 8)
  await client.createSpace(names.target, 6, { description: 'target' })
  await client.createAnchorSet(names.set, Array.from({ length: rows }, (_, i) => `item-${i}`))
  await client.uploadEmbeddings(names.set, names.source, x)
  await client.uploadEmbeddings(names.set, names.target, matrix(y, 6))
  return { ...names, x, y: matrix(y, 6) }
}

async function json (url: string, body: unknown): Promise<any> {
  const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) })
  return { status: res.status, body: await res.json() }
}

const rowsOf = (m: Matrix): number[][] => Array.from({ length: m.rows }, (_, i) => Array.from(m.data.subarray(i * m.cols, (i + 1) * m.cols)))

t.test('spaces, anchor sets and embeddings through the typed calls', async t => {
  const client = await liveClient(t)
  const p = await pair(client, 10)
  const space = await client.request('get', '/v1/spaces/{space}', { params: { space: p.target } })
  t.match(space, { name: p.target, dim: 6, description: 'target' })
  t.ok((await client.listSpaces()).some(s => s.name === p.source))
  t.ok((await client.listAnchorSets()).some(s => s.name === p.set))
  const set = await client.request('get', '/v1/anchor-sets/{set}', { params: { set: p.set } })
  t.equal(set.spaces[p.source]?.rows, 10)
  const stored = await client.uploadEmbeddings(p.set, p.source, sliceRows(p.x, 0, 3), { ids: ['item-2', 'item-0', 'item-1'] })
  t.match(stored, { rows: 3, dim: 8, replaced: true })
  await t.rejects(client.uploadEmbeddings(p.set, p.source, matrix(values(65 * 8, 1), 8)), LimitError, 'an upload over MAX_ROWS_PER_REQUEST cannot be split')
})

t.test('translate and relative give what the JSON API gives, in chunks under the limits', async t => {
  const client = await liveClient(t)
  const p = await pair(client)
  const fitted = await client.fit({ source: p.source, target: p.target, anchorSet: p.set, method: 'linear', holdout: 0 })
  t.match(fitted, { method: 'linear', version: 1, active: true })
  const queries = matrix(values((3 * MAX_ROWS + 5) * 8, 9), 8)
  const tooMany = await fetch(`${client.baseUrl}/v1/translate?source=${p.source}&target=${p.target}`, {
    method: 'POST', headers: { 'content-type': 'application/octet-stream', 'x-shape': `${queries.rows},8` }, body: new Uint8Array(queries.data.buffer)
  })
  t.equal(tooMany.status, 422, 'the rows in one request are over the limit')
  const out = await client.translate(p.source, p.target, queries)
  t.match(out, { rows: queries.rows, cols: 6, translator: fitted.id })
  for (const start of [0, MAX_ROWS, 3 * MAX_ROWS]) {
    const part = sliceRows(queries, start, start + MAX_ROWS)
    const viaJson = await json(`${client.baseUrl}/v1/translate`, { source: p.source, target: p.target, vectors: rowsOf(part) })
    t.equal(viaJson.status, 200)
    t.same(rowsOf(sliceRows(out, start, start + MAX_ROWS)), rowsOf(matrix(viaJson.body.vectors as number[][], 6)), `rows from ${start} as the JSON API gives them`)
  }
  const rel = await client.relative(p.source, p.set, queries, { projection: ['cosine', 'euclidean'], center: true })
  t.match(rel, { rows: queries.rows, cols: 120 })
  const part = sliceRows(queries, 2 * MAX_ROWS, 2 * MAX_ROWS + 3)
  const viaJson = await json(`${client.baseUrl}/v1/relative`, { space: p.source, anchorSet: p.set, vectors: rowsOf(part), projection: ['cosine', 'euclidean'], center: true })
  t.same(rowsOf(sliceRows(rel, 2 * MAX_ROWS, 2 * MAX_ROWS + 3)), viaJson.body.vectors)
})

t.test('fit waits for an operation when there is one; versions, activate, export, evaluate, delete', async t => {
  const client = await liveClient(t)
  const p = await pair(client)
  const seen: Array<Operation<Translator>> = []
  const first = await client.fit({ source: p.source, target: p.target, anchorSet: p.set, holdout: 0 }, { onProgress: op => { seen.push(op) } })
  t.equal(seen.at(-1)?.status, 'succeeded', 'the progress callback saw the end')
  t.equal(seen.at(-1)?.result?.id, first.id)
  const operation = await client.fit({ source: p.source, target: p.target, anchorSet: p.set, method: 'linear', holdout: 0 }, { wait: false })
  t.ok(['queued', 'running', 'succeeded'].includes(operation.status))
  const second = await client.waitOperation(operation)
  t.match(second, { version: 2, active: false })
  if (operation.id !== null) {
    // The service made an operation (Prefer: respond-async): it is kept, with the result.
    t.match(await client.getOperation(operation.id), { id: operation.id, kind: String, status: 'succeeded', result: { id: second.id } })
  } else {
    t.comment('the service answered the fit at once (no /v1/operations yet)')
  }
  t.same((await client.listTranslators({ source: p.source })).map(tr => tr.version).sort(), [1, 2])
  t.match(await client.activate(second.id), { id: second.id, active: true })
  t.equal((await client.getTranslator(first.id)).active, false)
  const onnx = await client.exportOnnx(first.id)
  t.ok(onnx.byteLength > 100)
  const scores = await client.evaluate(first.id, sliceRows(p.x, 0, 20), sliceRows(p.y, 0, 20), { k: 2 })
  t.match(scores, { count: 20, top1: Number, retrieval: 'cosine' })
  await client.deleteTranslator(second.id)
  const gone = await client.getTranslator(second.id).catch((err: unknown) => err)
  t.ok(gone instanceof ProblemError)
  t.match(gone, { status: 404, type: 'urn:latentbridge:problem:not-found', title: 'Not found', kind: 'not-found' })
})

t.test('problems are thrown with status, type, title and detail', async t => {
  const client = await liveClient(t)
  const p = await pair(client, 10)
  const wrong = await client.uploadEmbeddings(p.set, p.source, matrix(values(10 * 7, 2), 7)).catch((err: unknown) => err)
  t.ok(wrong instanceof ProblemError)
  t.match(wrong, { status: 422, kind: 'unprocessable', title: 'Unprocessable content', detail: /7/ })
  const busy = await client.deleteSpace(p.source).catch((err: unknown) => err)
  t.match(busy, { status: 409, kind: 'conflict' })
  await client.deleteSpace(p.source, { cascade: true })
  t.match(await client.request('get', '/v1/spaces/{space}', { params: { space: p.source } }).catch((err: unknown) => err), { status: 404 })
})

t.test('429 and 503 are retried after Retry-After; a longer wait than allowed is thrown at once', async t => {
  // A local server that answers with problems before it answers: the service cannot be made to
  // answer 429 on cue.
  const answers: Array<[number, string | undefined]> = [[503, '0'], [429, '0'], [200, undefined]]
  let hits = 0
  const server = createServer((req, res) => {
    const [status, retryAfter] = answers[Math.min(hits++, answers.length - 1)]
    if (status === 200) {
      res.writeHead(200, { 'content-type': 'application/json' }).end('{"spaces":[],"next":null}')
      return
    }
    res.writeHead(status, { 'content-type': 'application/problem+json', ...(retryAfter !== undefined ? { 'retry-after': retryAfter } : {}) })
      .end(JSON.stringify({ type: 'urn:latentbridge:problem:overloaded', title: 'Overloaded', status, detail: 'later' }))
  })
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
  t.teardown(() => { server.close() })
  const baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  t.same(await new LatentbridgeClient({ baseUrl }).listSpaces(), [])
  t.equal(hits, 3)
  answers.splice(0, answers.length, [503, '120'])
  hits = 0
  const err = await new LatentbridgeClient({ baseUrl, maxRetryWaitMs: 5000 }).listSpaces().catch((e: unknown) => e)
  t.match(err, { status: 503, retryAfter: 120 })
  t.equal(hits, 1)
  t.equal(parseRetryAfter(new Date(Date.now() + 60_000).toUTCString()) !== undefined, true)
  t.equal(parseRetryAfter('soon'), undefined)
})

t.test('the migration report, once the service has the route', async t => {
  const client = await liveClient(t)
  const p = await pair(client)
  const fitted = await client.fit({ source: p.source, target: p.target, anchorSet: p.set, holdout: 0 })
  const probe = await fetch(`${client.baseUrl}/v1/translators/${fitted.id}/report`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' })
  const body = await probe.json() as { type?: string }
  if (body.type === 'urn:latentbridge:problem:no-route') {
    t.comment('skipped: the service has no POST /v1/translators/{id}/report yet')
    return
  }
  const report = await client.report(fitted.id, sliceRows(p.x, 0, 30), sliceRows(p.y, 0, 30))
  t.type(report, 'object')
  t.ok(Object.keys(report).length > 0)
})
