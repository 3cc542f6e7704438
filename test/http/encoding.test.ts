/**
 * Content-Encoding on request bodies: gzip, deflate and br are decoded before any parser reads the
 * body (JSON, octet-stream, npy), the body limit applies to the decoded bytes while inflating, and
 * anything else is refused by name instead of being read as floats.
 */
import { Readable } from 'node:stream'
import zlib from 'node:zlib'
import t from 'tap'
import { encodeNpy } from '../../src/codecs/vectors.js'
import { decodeBody } from '../../src/http/encoding.js'
import { isProblem, json, testApp } from '../helpers/app.js'
import { seedTranslator } from '../helpers/fixtures.js'

const SRC_DIM = 4
const TGT_DIM = 3
const IDS = Array.from({ length: 6 }, (_, i) => `id-${i}`)
const BODY_LIMIT = 64 * 1024

const compress = {
  gzip: (b: Buffer) => zlib.gzipSync(b),
  deflate: (b: Buffer) => zlib.deflateSync(b),
  br: (b: Buffer) => zlib.brotliCompressSync(b)
}

function matrix (rows: number, cols: number, seed: number): Float32Array {
  return Float32Array.from({ length: rows * cols }, (_, i) => Math.sin(seed + i * 0.37))
}
const bytesOf = (m: Float32Array): Buffer => Buffer.from(m.buffer, m.byteOffset, m.byteLength)
const rowsOf = (m: Float32Array, cols: number): number[][] => Array.from({ length: m.length / cols }, (_, r) => Array.from(m.subarray(r * cols, (r + 1) * cols)))

async function setup (t: { teardown: (fn: () => unknown) => void }): Promise<Awaited<ReturnType<typeof testApp>>> {
  const app = await testApp(t, { env: { BODY_LIMIT: String(BODY_LIMIT) } })
  for (const [url, payload] of [
    ['/v1/spaces/a', { dim: SRC_DIM }],
    ['/v1/spaces/b', { dim: TGT_DIM }],
    ['/v1/anchor-sets/s', { ids: IDS }]
  ] as const) {
    const res = await app.inject({ method: 'PUT', url, payload })
    if (res.statusCode !== 201) throw new Error(`setup ${url}: ${res.statusCode} ${res.body}`)
  }
  await seedTranslator(app.store, { source: 'a', target: 'b', anchorSet: 's', sourceDim: SRC_DIM, targetDim: TGT_DIM })
  return app
}

t.test('compressed bodies of every type translate exactly as the uncompressed ones', async t => {
  const app = await setup(t)
  const input = matrix(5, SRC_DIM, 1)
  const translate = async (headers: Record<string, string>, payload: Buffer) =>
    await app.inject({ method: 'POST', url: '/v1/translate?source=a&target=b', headers: { accept: 'application/octet-stream', ...headers }, payload })
  const plain = await translate({ 'content-type': 'application/octet-stream' }, bytesOf(input))
  t.equal(plain.statusCode, 200)
  t.equal(plain.headers['x-shape'], `5,${TGT_DIM}`)
  const forms: Record<string, Buffer> = {
    'application/octet-stream': bytesOf(input),
    'application/x-npy': encodeNpy({ rows: 5, cols: SRC_DIM, data: input }),
    'application/json': Buffer.from(JSON.stringify({ source: 'a', target: 'b', vectors: rowsOf(input, SRC_DIM) }))
  }
  for (const [type, body] of Object.entries(forms)) {
    for (const [coding, fn] of Object.entries(compress)) {
      const res = await translate({ 'content-type': type, 'content-encoding': coding }, fn(body))
      t.equal(res.statusCode, 200, `${type} with ${coding}: 200`)
      t.ok(res.rawPayload.equals(plain.rawPayload), `${type} with ${coding}: the same answer as uncompressed`)
    }
    const identity = await translate({ 'content-type': type, 'content-encoding': 'identity' }, body)
    t.ok(identity.rawPayload.equals(plain.rawPayload), `${type} with identity: read as is`)
  }
})

t.test('a compressed upload stores the decoded matrix', async t => {
  const app = await setup(t)
  const data = matrix(IDS.length, SRC_DIM, 2)
  const res = await app.inject({ method: 'PUT', url: '/v1/anchor-sets/s/embeddings/a', headers: { 'content-type': 'application/octet-stream', 'content-encoding': 'gzip' }, payload: zlib.gzipSync(bytesOf(data)) })
  t.equal(res.statusCode, 201)
  const back = await app.inject({ method: 'GET', url: '/v1/anchor-sets/s/embeddings/a', headers: { accept: 'application/octet-stream' } })
  t.ok(back.rawPayload.equals(bytesOf(data)), 'the stored bytes are the decoded ones')
})

t.test('unsupported, stacked and corrupt encodings are refused, and nothing is stored', async t => {
  const app = await setup(t)
  const body = bytesOf(matrix(IDS.length, SRC_DIM, 3))
  const put = async (headers: Record<string, string>, payload: Buffer) =>
    await app.inject({ method: 'PUT', url: '/v1/anchor-sets/s/embeddings/a', headers: { 'content-type': 'application/octet-stream', ...headers }, payload })
  for (const coding of ['compress', 'zstd', 'gzip, br', 'gzip, gzip']) {
    const res = await put({ 'content-encoding': coding }, zlib.gzipSync(body))
    isProblem(t, res, 'unsupported-media-type', coding)
    t.match(json(res).detail, /identity, gzip, deflate, br/, `${coding}: the accepted encodings are named`)
    t.equal(res.headers['accept-encoding'], 'identity, gzip, deflate, br')
  }
  const jsonRefused = await app.inject({ method: 'POST', url: '/v1/translate?source=a&target=b', headers: { 'content-type': 'application/json', 'content-encoding': 'zstd' }, payload: '{"vectors":[[1,2,3,4]]}' })
  isProblem(t, jsonRefused, 'unsupported-media-type', 'JSON bodies too')
  const corrupt = zlib.gzipSync(body)
  corrupt[corrupt.length - 6] ^= 0xff // the CRC no longer matches
  for (const [what, payload, coding] of [['bad CRC', corrupt, 'gzip'], ['not gzip at all', body, 'gzip'], ['not brotli', body, 'br'], ['not zlib', body, 'deflate']] as const) {
    const res = await put({ 'content-encoding': coding }, payload)
    isProblem(t, res, 'invalid-request', what)
    t.match(json(res).detail, new RegExp(`not valid ${coding} data`))
  }
  const set = json(await app.inject({ method: 'GET', url: '/v1/anchor-sets/s' }))
  t.equal(set.spaces.a, undefined, 'nothing was stored')
})

t.test('a compression bomb is a 413 found while inflating, for binary and JSON bodies', async t => {
  const app = await setup(t)
  const bomb = zlib.gzipSync(Buffer.alloc(64 * 1024 * 1024))
  t.ok(bomb.length < BODY_LIMIT, 'the compressed body is within the limit')
  for (const type of ['application/octet-stream', 'application/json']) {
    const res = await app.inject({ method: 'PUT', url: '/v1/anchor-sets/s/embeddings/a', headers: { 'content-type': type, 'content-encoding': 'gzip' }, payload: bomb })
    isProblem(t, res, 'body-too-large', type)
  }
  const brBomb = zlib.brotliCompressSync(Buffer.alloc(16 * 1024 * 1024))
  const res = await app.inject({ method: 'POST', url: '/v1/translate?source=a&target=b', headers: { 'content-type': 'application/x-npy', 'content-encoding': 'br' }, payload: brBomb })
  isProblem(t, res, 'body-too-large', 'br too')
})

t.test('the decoder stops inflating once the limit is passed', async t => {
  const limit = 256 * 1024
  const bomb = zlib.gzipSync(Buffer.alloc(256 * 1024 * 1024))
  const decoded = decodeBody(Readable.from([bomb]), 'gzip', limit)
  let read = 0
  const err = await new Promise<Error & { code?: string }>((resolve, reject) => {
    decoded.on('data', (c: Buffer) => { read += c.length })
    decoded.on('error', resolve)
    decoded.on('end', () => { reject(new Error('the bomb was read to its end')) })
  })
  t.equal(err.code, 'FST_ERR_CTP_BODY_TOO_LARGE')
  t.ok(read <= limit, `the reader got at most the limit (${read} bytes)`)
  // Inflation stops within a few zlib chunks of the limit, not at 256 MiB.
  t.ok(decoded.decodedLength <= limit + 256 * 1024, `${decoded.decodedLength} bytes were inflated for a ${limit}-byte limit`)
  t.equal(decoded.receivedEncodedLength <= bomb.length, true)
})

t.test('within the limit, the decoded length is what counts', async t => {
  const app = await setup(t)
  // 6 rows of 4 float32 = 96 bytes decoded; a small limit still takes it, compressed or not.
  const data = matrix(IDS.length, SRC_DIM, 4)
  const gz = zlib.gzipSync(bytesOf(data))
  const res = await app.inject({ method: 'PUT', url: '/v1/anchor-sets/s/embeddings/a', headers: { 'content-type': 'application/octet-stream', 'content-encoding': 'x-gzip' }, payload: gz })
  t.equal(res.statusCode, 201, 'x-gzip is gzip')
})
