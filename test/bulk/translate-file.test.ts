/**
 * Bulk translation (issue 5): the CLI in bin/ against the real app listening on a loopback port,
 * on a small .npy file sent in many chunks at once; the output file must be byte for byte the .npy
 * of one translate call on the whole input. Then the library entry with other input dtypes, and
 * the errors it reports.
 */
import { spawn } from 'node:child_process'
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import t, { type Test } from 'tap'
import type { FastifyInstance } from 'fastify'
import { encodeNpy, npyHeader } from '../../src/codecs/vectors.js'
import { BulkError, translateFile } from '../../bin/lib/translate-file.js'
import { buildApp } from '../../src/app.js'
import { loadConfig } from '../../src/config.js'
import { MemoryStore } from '../../src/store/memory.js'
import { testApp, testEngine } from '../helpers/app.js'
import { rowsOf, values } from '../helpers/data.js'

const SRC = 12
const TGT = 10
const ROWS = 1000
const root = fileURLToPath(new URL('../../', import.meta.url))



async function serve (t: Test, env?: Record<string, string>): Promise<{ app: FastifyInstance, url: string }> {
  const store = new MemoryStore()
  const app = await testApp(t, { store })
  const ok = async (method: 'PUT' | 'POST', url: string, payload: object): Promise<void> => {
    const res = await app.inject({ method, url, payload })
    if (res.statusCode >= 300) throw new Error(`${method} ${url}: ${res.statusCode} ${res.body}`)
  }
  const ids = Array.from({ length: 50 }, (_, i) => `a${i}`)
  await ok('PUT', '/v1/spaces/src', { dim: SRC })
  await ok('PUT', '/v1/spaces/tgt', { dim: TGT })
  await ok('PUT', '/v1/anchor-sets/set', { ids })
  await ok('PUT', '/v1/anchor-sets/set/embeddings/src', { vectors: rowsOf(values(50 * SRC, 1), SRC) })
  await ok('PUT', '/v1/anchor-sets/set/embeddings/tgt', { vectors: rowsOf(values(50 * TGT, 2), TGT) })
  await ok('POST', '/v1/translators', { source: 'src', target: 'tgt', anchorSet: 'set', method: 'affine' })
  if (env === undefined) return { app, url: await app.listen({ host: '127.0.0.1', port: 0 }) }
  // Limits below the 50 anchors uploaded above: a second app on the same store.
  const limited = await buildApp(loadConfig({ MAX_EVENT_LOOP_DELAY_MS: '0', MAX_HEAP_USED_BYTES: '0', ...env }), { store, engine: await testEngine(t), logger: false })
  t.teardown(async () => { await limited.close() })
  return { app: limited, url: await limited.listen({ host: '127.0.0.1', port: 0 }) }
}

/** One translate call on the whole input, answered as .npy: what the bulk output must equal. */
async function oneCall (app: FastifyInstance, body: Buffer, type: string): Promise<Buffer> {
  const res = await app.inject({ method: 'POST', url: '/v1/translate?source=src&target=tgt', headers: { 'content-type': type, accept: 'application/x-npy' }, payload: body })
  if (res.statusCode !== 200) throw new Error(res.body)
  return res.rawPayload
}

t.test('the CLI translates a .npy in chunks, concurrently, into exactly the one-call result', async t => {
  const { app, url } = await serve(t)
  const dir = mkdtempSync(join(tmpdir(), 'bulk-'))
  t.teardown(() => { rmSync(dir, { recursive: true, force: true }) })
  const x = values(ROWS * SRC, 3)
  const input = join(dir, 'in.npy')
  const output = join(dir, 'out.npy')
  writeFileSync(input, encodeNpy({ rows: ROWS, cols: SRC, data: x }))

  const child = spawn(process.execPath, ['--import', 'tsx', 'bin/translate-npy.ts', '--url', url, '--source', 'src', '--target', 'tgt', '--chunk-rows', '64', '--concurrency', '3', input, output], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] })
  let stdout = ''
  let stderr = ''
  child.stdout.on('data', (d: Buffer) => { stdout += d.toString() })
  child.stderr.on('data', (d: Buffer) => { stderr += d.toString() })
  const code = await new Promise<number | null>(resolve => child.on('close', resolve))
  t.equal(code, 0, `exit 0 (stderr: ${stderr.slice(-500)})`)
  const summary = JSON.parse(stdout.trim().split('\n').pop() ?? '{}')
  t.match(summary, { rows: ROWS, cols: TGT, chunks: 16, retries: 0 })
  t.type(summary.rowsPerSecond, 'number')
  t.match(stderr, /1,000\/1,000 rows +[\d,]+ rows\/s/, 'a progress line with rows/s')

  const expected = await oneCall(app, Buffer.from(x.buffer), 'application/octet-stream')
  t.ok(readFileSync(output).equals(expected), 'output = the .npy of one translate call, byte for byte')
  t.notOk(existsSync(`${output}.partial`), 'no partial file left')
})

t.test('other dtypes go as .npy chunks; odd chunk sizes and an empty file work', async t => {
  const { app, url } = await serve(t)
  const dir = mkdtempSync(join(tmpdir(), 'bulk-'))
  t.teardown(() => { rmSync(dir, { recursive: true, force: true }) })
  const rows = 157
  const x64 = Float64Array.from(values(rows * SRC, 4), v => v * 1.000000123)
  const header = Buffer.from(npyHeader(rows, SRC).toString('latin1').replace("'<f4'", "'<f8'"), 'latin1')
  const file = Buffer.concat([header, Buffer.from(x64.buffer)])
  const input = join(dir, 'in64.npy')
  writeFileSync(input, file)
  const output = join(dir, 'out.npy')
  const seen: number[] = []
  const result = await translateFile({ url, input, output, source: 'src', target: 'tgt', chunkRows: 10, concurrency: 4, onProgress: done => seen.push(done) })
  t.match(result, { rows, cols: TGT, chunks: 16 })
  t.equal(seen[seen.length - 1], rows, 'progress reaches every row')
  t.ok(readFileSync(output).equals(await oneCall(app, file, 'application/x-npy')), 'float64 input: same bytes as one call')

  const empty = join(dir, 'empty.npy')
  writeFileSync(empty, encodeNpy({ rows: 0, cols: SRC, data: new Float32Array(0) }))
  const none = await translateFile({ url, input: empty, output: join(dir, 'none.npy'), source: 'src', target: 'tgt', chunkRows: 10, concurrency: 2 })
  t.match(none, { rows: 0, cols: TGT, chunks: 0 })
  t.ok(readFileSync(join(dir, 'none.npy')).equals(encodeNpy({ rows: 0, cols: TGT, data: new Float32Array(0) })))
})

t.test('chunks answered 429 (compute queue full) are retried after Retry-After; the output is still exact', async t => {
  // Room for one 40-row chunk at a time: with 3 in flight, the others are refused and retried.
  const { app, url } = await serve(t, { QUEUE_MAX_ROWS: '40', MAX_ROWS_PER_REQUEST: '40', QUEUE_RETRY_AFTER_S: '1', BATCH_WINDOW_MS: '20' })
  const dir = mkdtempSync(join(tmpdir(), 'bulk-'))
  t.teardown(() => { rmSync(dir, { recursive: true, force: true }) })
  const rows = 200
  const x = values(rows * SRC, 8)
  const input = join(dir, 'in.npy')
  writeFileSync(input, encodeNpy({ rows, cols: SRC, data: x }))
  const output = join(dir, 'out.npy')
  const result = await translateFile({ url, input, output, source: 'src', target: 'tgt', chunkRows: 40, concurrency: 3 })
  t.ok(result.retries > 0, `${result.retries} chunks were refused with 429 and sent again`)
  const text = (await app.inject({ method: 'GET', url: '/metrics' })).body
  t.match(text, /latentbridge_queue_rejections_total [1-9]/, 'the service counted the 429s')
  // One call per 40 rows (the limit) joined: the same bytes as the bulk output's data section.
  const parts: Buffer[] = []
  for (let start = 0; start < rows; start += 40) {
    const res = await app.inject({ method: 'POST', url: '/v1/translate?source=src&target=tgt', headers: { 'content-type': 'application/octet-stream', accept: 'application/octet-stream' }, payload: Buffer.from(x.buffer, start * SRC * 4, 40 * SRC * 4) })
    parts.push(res.rawPayload)
  }
  const data = Buffer.concat(parts)
  t.ok(readFileSync(output).equals(Buffer.concat([npyHeader(rows, TGT), data])), 'output = the translated rows, byte for byte')
})

t.test('errors name what is wrong; no partial output is left', async t => {
  const { url } = await serve(t)
  const dir = mkdtempSync(join(tmpdir(), 'bulk-'))
  t.teardown(() => { rmSync(dir, { recursive: true, force: true }) })
  const wrongDim = join(dir, 'wrong.npy')
  writeFileSync(wrongDim, encodeNpy({ rows: 5, cols: 7, data: values(35, 5) }))
  const output = join(dir, 'out.npy')
  await t.rejects(translateFile({ url, input: wrongDim, output, source: 'src', target: 'tgt', chunkRows: 2, concurrency: 2 }),
    { name: 'BulkError', message: /wrong\.npy has rows of 7 values, but space "src" has dim 12/ })
  t.notOk(existsSync(output) || existsSync(`${output}.partial`), 'nothing written')

  const truncated = join(dir, 'truncated.npy')
  writeFileSync(truncated, encodeNpy({ rows: 5, cols: SRC, data: values(5 * SRC, 6) }).subarray(0, 200))
  await t.rejects(translateFile({ url, input: truncated, output, source: 'src', target: 'tgt', chunkRows: 2, concurrency: 2 }), /truncated or has extra bytes/)
  const notNpy = join(dir, 'text.npy')
  writeFileSync(notNpy, 'hello, world')
  await t.rejects(translateFile({ url, input: notNpy, output, source: 'src', target: 'tgt', chunkRows: 2, concurrency: 2 }), BulkError)
  await t.rejects(translateFile({ url, input: join(dir, 'in.npy'), output, source: 'src', target: 'nope', chunkRows: 2, concurrency: 2 }), { code: 'ENOENT' })
  const good = join(dir, 'good.npy')
  writeFileSync(good, encodeNpy({ rows: 3, cols: SRC, data: values(3 * SRC, 7) }))
  await t.rejects(translateFile({ url, input: good, output, source: 'src', target: 'nope', chunkRows: 2, concurrency: 2 }), { message: /answered 404: no space named "nope"/ })
  await t.rejects(translateFile({ url, input: good, output, source: 'gone', target: 'tgt', chunkRows: 2, concurrency: 2 }), { message: /GET \/v1\/spaces\/gone answered 404: space "gone" does not exist/ })
  await t.rejects(translateFile({ url, input: good, output, source: 'src', target: 'tgt', chunkRows: 0, concurrency: 2 }), /chunk rows must be an integer/)
})

t.test('every chunk declares its shape in X-Shape, raw float32 and npy alike', async t => {
  const { app, url } = await serve(t)
  const shapes: Array<{ type: string, shape: string | undefined }> = []
  app.server.on('request', (req: { url?: string, headers: Record<string, string | string[] | undefined> }) => {
    if (req.url?.startsWith('/v1/translate') === true) shapes.push({ type: String(req.headers['content-type']), shape: req.headers['x-shape'] as string | undefined })
  })
  const dir = mkdtempSync(join(tmpdir(), 'bulk-'))
  t.teardown(() => { rmSync(dir, { recursive: true, force: true }) })
  const rows = 45
  const raw = join(dir, 'raw.npy')
  writeFileSync(raw, encodeNpy({ rows, cols: SRC, data: values(rows * SRC, 5) }))
  await translateFile({ url, input: raw, output: join(dir, 'raw-out.npy'), source: 'src', target: 'tgt', chunkRows: 20, concurrency: 2 })
  t.same(shapes.map(s => s.type), ['application/octet-stream', 'application/octet-stream', 'application/octet-stream'])
  t.same(shapes.map(s => s.shape).sort(), [`20,${SRC}`, `20,${SRC}`, `5,${SRC}`], 'chunks of 20, 20 and 5 rows')

  shapes.length = 0
  const x64 = Float64Array.from(values(rows * SRC, 6))
  const header = Buffer.from(npyHeader(rows, SRC).toString('latin1').replace("'<f4'", "'<f8'"), 'latin1')
  const f64 = join(dir, 'f64.npy')
  writeFileSync(f64, Buffer.concat([header, Buffer.from(x64.buffer)]))
  await translateFile({ url, input: f64, output: join(dir, 'f64-out.npy'), source: 'src', target: 'tgt', chunkRows: 40, concurrency: 2 })
  t.same(shapes.map(s => s.type), ['application/x-npy', 'application/x-npy'])
  t.same(shapes.map(s => s.shape).sort(), [`40,${SRC}`, `5,${SRC}`])
})
