/**
 * Raw float32 bodies carry no shape of their own: X-Shape declares it, and a body whose declared
 * shape disagrees with the space or with its byte length is refused instead of being read as some
 * other number of rows. Errors that used to mislead now say what is wrong.
 */
import t from 'tap'
import { encodeNpy, looksLikeJsonText } from '../../src/codecs/vectors.js'
import { isProblem, json, testApp } from '../helpers/app.js'
import { seedTranslator } from '../helpers/fixtures.js'

const DIM = 100

const floats = (n: number, seed: number): Buffer => Buffer.from(Float32Array.from({ length: n }, (_, i) => Math.cos(seed + i)).buffer)

async function setup (t: { teardown: (fn: () => unknown) => void }): Promise<Awaited<ReturnType<typeof testApp>>> {
  const app = await testApp(t)
  for (const [url, payload] of [['/v1/spaces/a', { dim: DIM }], ['/v1/spaces/b', { dim: 3 }], ['/v1/spaces/four', { dim: 4 }], ['/v1/anchor-sets/s', { ids: ['x', 'y'] }]] as const) {
    const res = await app.inject({ method: 'PUT', url, payload })
    if (res.statusCode !== 201) throw new Error(`setup ${url}: ${res.statusCode} ${res.body}`)
  }
  await seedTranslator(app.store, { source: 'a', target: 'b', anchorSet: 's', sourceDim: DIM, targetDim: 3 })
  await seedTranslator(app.store, { source: 'four', target: 'b', anchorSet: 's', sourceDim: 4, targetDim: 3 })
  return app
}

t.test('X-Shape on octet-stream: a mismatch with the space or the bytes is a 422 naming both shapes', async t => {
  const app = await setup(t)
  const translate = async (headers: Record<string, string>, payload: Buffer) => await app.inject({
    method: 'POST', url: '/v1/translate?source=a&target=b', headers: { 'content-type': 'application/octet-stream', accept: 'application/octet-stream', ...headers }, payload
  })
  // 2 rows of 300-d vectors sent to a 100-d space: 2,400 bytes, which is also 6 rows of 100.
  const wrongDim = floats(2 * 300, 1)
  const refused = await translate({ 'x-shape': '2,300' }, wrongDim)
  isProblem(t, refused, 'unprocessable')
  t.match(json(refused).detail, /X-Shape 2,300/)
  t.match(json(refused).detail, /shape 6,100/, 'the shape the bytes would have is named too')

  const lying = await translate({ 'x-shape': '5,100' }, floats(6 * DIM, 2))
  isProblem(t, lying, 'unprocessable', 'rows that disagree with the byte length')
  t.match(json(lying).detail, /X-Shape 5,100 needs .* = 2000 bytes.*2400 bytes \(shape 6,100\)/)

  const ok = await translate({ 'x-shape': ` 6 , ${DIM} ` }, floats(6 * DIM, 3))
  t.equal(ok.statusCode, 200, 'a matching X-Shape (spaces allowed)')
  t.equal(ok.headers['x-shape'], '6,3')
  const empty = await translate({ 'x-shape': `0,${DIM}` }, Buffer.alloc(0))
  t.equal(empty.statusCode, 200, 'zero rows')

  // Without X-Shape the body is still read by the space's dim (compatibility).
  const legacy = await translate({}, wrongDim)
  t.equal(legacy.statusCode, 200)
  t.equal(legacy.headers['x-shape'], '6,3')

  for (const bad of ['2x300', '2,', '-1,100', '2,100,1', 'rows,cols', '99999999999,1']) {
    const res = await translate({ 'x-shape': bad }, floats(2 * DIM, 4))
    isProblem(t, res, 'invalid-request', `X-Shape ${bad}`)
  }
})

t.test('X-Shape with npy must agree with the header', async t => {
  const app = await setup(t)
  const data = new Float32Array(floats(2 * DIM, 5).buffer)
  const npy = encodeNpy({ rows: 2, cols: DIM, data })
  const translate = async (shape: string | undefined) => await app.inject({
    method: 'POST', url: '/v1/translate?source=a&target=b', headers: { 'content-type': 'application/x-npy', ...(shape !== undefined ? { 'x-shape': shape } : {}) }, payload: npy
  })
  t.equal((await translate(undefined)).statusCode, 200)
  t.equal((await translate(`2,${DIM}`)).statusCode, 200)
  const disagree = await translate('1,200')
  isProblem(t, disagree, 'unprocessable')
  t.match(json(disagree).detail, /X-Shape 1,200 does not agree with the \.npy header's shape \(2, 100\)/)
})

t.test('uploads check X-Shape too, and store nothing on a mismatch', async t => {
  const app = await setup(t)
  const res = await app.inject({ method: 'PUT', url: '/v1/anchor-sets/s/embeddings/four', headers: { 'content-type': 'application/octet-stream', 'x-shape': '1,8' }, payload: floats(8, 6) })
  isProblem(t, res, 'unprocessable')
  t.equal(json(await app.inject({ method: 'GET', url: '/v1/anchor-sets/s' })).spaces.four, undefined)
  const ok = await app.inject({ method: 'PUT', url: '/v1/anchor-sets/s/embeddings/four', headers: { 'content-type': 'application/octet-stream', 'x-shape': '2,4' }, payload: floats(8, 6) })
  t.equal(ok.statusCode, 201)
})

t.test('a value that is an array is named as such, not as a column count', async t => {
  const app = await setup(t)
  const res = await app.inject({ method: 'POST', url: '/v1/translate', payload: { source: 'four', target: 'b', vectors: [[[1, 2, 3, 4]]] } })
  isProblem(t, res, 'invalid-request')
  t.match(json(res).detail, /row 0, column 0 is an array; values must be numbers/)
  t.notMatch(json(res).detail, /columns/)
  const later = await app.inject({ method: 'POST', url: '/v1/translate', payload: { source: 'four', target: 'b', vectors: [[1, 2, 3, 4], [1, [2], 3, 4]] } })
  isProblem(t, later, 'invalid-request')
  t.match(json(later).detail, /row 1, column 1 is an array/)
  const short = await app.inject({ method: 'POST', url: '/v1/translate', payload: { source: 'four', target: 'b', vectors: [[1, 2, 3]] } })
  t.match(json(short).detail, /3 columns but space "four" has dim 4/, 'a real column mismatch is still named as one')
})

t.test('JSON sent as octet-stream gets a hint; float bytes do not', async t => {
  const app = await setup(t)
  const send = async (payload: Buffer) => await app.inject({ method: 'POST', url: '/v1/translate?source=four&target=b', headers: { 'content-type': 'application/octet-stream' }, payload })
  const text = Buffer.from('  {"source":"four","target":"b","vectors":[[1,2,3,4]]}')
  t.equal(text.length % 16 === 0, false, 'the text is not a whole number of rows')
  const res = await send(text)
  isProblem(t, res, 'unprocessable')
  t.match(json(res).detail, /not a whole number of rows/)
  t.match(json(res).detail, /looks like JSON text: send it with Content-Type: application\/json/)
  const floatsRes = await send(floats(5, 7))
  isProblem(t, floatsRes, 'unprocessable')
  t.notMatch(json(floatsRes).detail, /JSON/)

  t.ok(looksLikeJsonText(Buffer.from('\n[1,2]')))
  t.ok(looksLikeJsonText(Buffer.from('{"é": 1}')), 'UTF-8 text')
  t.notOk(looksLikeJsonText(Buffer.from('{\u0000\u0001}')), 'control characters are not text')
  t.notOk(looksLikeJsonText(Buffer.from([0x7b, 0xff, 0xfe, 0x20])), 'invalid UTF-8 is not text')
  t.notOk(looksLikeJsonText(Buffer.from('x{}')))
  t.notOk(looksLikeJsonText(Buffer.alloc(0)))
})
