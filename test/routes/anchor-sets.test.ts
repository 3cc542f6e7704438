import t from 'tap'
import { isProblem, json, testApp } from '../helpers/app.js'

/** A deterministic rows x cols matrix of float32-exact values. */
function matrix (rows: number, cols: number, seed = 1): Float32Array {
  const out = new Float32Array(rows * cols)
  let s = seed >>> 0
  for (let i = 0; i < out.length; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0
    out[i] = (s / 2 ** 32 - 0.5) * 4
  }
  return out
}

function toRows (data: Float32Array, cols: number): number[][] {
  const rows: number[][] = []
  for (let i = 0; i < data.length; i += cols) rows.push(Array.from(data.subarray(i, i + cols)))
  return rows
}

function npy (data: Float32Array, rows: number, cols: number): Buffer {
  let header = `{'descr': '<f4', 'fortran_order': False, 'shape': (${rows}, ${cols}), }`
  const total = 10 + header.length + 1
  header += ' '.repeat((64 - (total % 64)) % 64) + '\n'
  const pre = Buffer.alloc(10)
  Buffer.from([0x93]).copy(pre, 0)
  pre.write('NUMPY', 1, 'latin1')
  pre[6] = 1; pre[7] = 0
  pre.writeUInt16LE(header.length, 8)
  return Buffer.concat([pre, Buffer.from(header, 'latin1'), Buffer.from(data.buffer, data.byteOffset, data.byteLength)])
}

const ids = (n: number): string[] => Array.from({ length: n }, (_, i) => `item-${i}`)

t.test('anchor sets: create, identical, conflict, get, list, delete', async t => {
  const app = await testApp(t)
  const created = await app.inject({ method: 'PUT', url: '/v1/anchor-sets/wiki', payload: { ids: ['a', 'b', 'c'], description: 'three' } })
  t.equal(created.statusCode, 201)
  t.match(json(created), { name: 'wiki', size: 3, description: 'three', spaces: {} })
  t.equal((await app.inject({ method: 'PUT', url: '/v1/anchor-sets/wiki', payload: { ids: ['a', 'b', 'c'] } })).statusCode, 200)
  const other = await app.inject({ method: 'PUT', url: '/v1/anchor-sets/wiki', payload: { ids: ['a', 'c', 'b'] } })
  isProblem(t, other, 'conflict', 'other order is other ids')
  const dup = await app.inject({ method: 'PUT', url: '/v1/anchor-sets/dup', payload: { ids: ['a', 'b', 'a'] } })
  isProblem(t, dup, 'unprocessable')
  t.match(json(dup).detail, /ids\[2\] repeats ids\[0\]/)
  const empty = await app.inject({ method: 'PUT', url: '/v1/anchor-sets/empty', payload: { ids: [] } })
  isProblem(t, empty, 'invalid-request')
  const longId = await app.inject({ method: 'PUT', url: '/v1/anchor-sets/long', payload: { ids: ['é'.repeat(257)] } })
  isProblem(t, longId, 'invalid-request', 'ids over 512 bytes of UTF-8 are rejected')
  const withIds = json(await app.inject({ method: 'GET', url: '/v1/anchor-sets/wiki?includeIds=true' }))
  t.same(withIds.ids, ['a', 'b', 'c'])
  t.same(json(await app.inject({ method: 'GET', url: '/v1/anchor-sets' })).anchorSets.map((s: any) => s.name), ['wiki'])
  t.equal((await app.inject({ method: 'DELETE', url: '/v1/anchor-sets/wiki' })).statusCode, 204)
  isProblem(t, await app.inject({ method: 'GET', url: '/v1/anchor-sets/wiki' }), 'not-found')
})

t.test('a 2,000 x 768 upload round-trips bit-exactly in every encoding', async t => {
  const app = await testApp(t)
  const rows = 2000
  const cols = 768
  await app.inject({ method: 'PUT', url: '/v1/spaces/m', payload: { dim: cols } })
  await app.inject({ method: 'PUT', url: '/v1/anchor-sets/big', payload: { ids: ids(rows) } })
  const data = matrix(rows, cols)
  const raw = Buffer.from(data.buffer, data.byteOffset, data.byteLength)
  const forms: Array<[string, () => Promise<any>]> = [
    ['json number[][]', async () => await app.inject({ method: 'PUT', url: '/v1/anchor-sets/big/embeddings/m', payload: { vectors: toRows(data, cols) } })],
    ['base64 float32', async () => await app.inject({ method: 'PUT', url: '/v1/anchor-sets/big/embeddings/m', payload: { vectors: { dtype: 'float32', shape: [rows, cols], data: raw.toString('base64') } } })],
    ['octet-stream', async () => await app.inject({ method: 'PUT', url: '/v1/anchor-sets/big/embeddings/m', headers: { 'content-type': 'application/octet-stream' }, payload: raw })],
    ['npy', async () => await app.inject({ method: 'PUT', url: '/v1/anchor-sets/big/embeddings/m', headers: { 'content-type': 'application/x-npy' }, payload: npy(data, rows, cols) })]
  ]
  for (const [i, [name, send]] of forms.entries()) {
    const res = await send()
    // The first upload creates the space's embeddings in the set; each later one replaces them.
    t.equal(res.statusCode, i === 0 ? 201 : 200, `${name}: ${i === 0 ? 201 : 200}`)
    t.match(json(res), { set: 'big', space: 'm', rows, dim: cols, zeroRows: 0 }, name)
    const back = await app.inject({ method: 'GET', url: '/v1/anchor-sets/big/embeddings/m', headers: { accept: 'application/octet-stream' } })
    t.equal(back.headers['x-shape'], `${rows},${cols}`)
    t.ok(Buffer.compare(back.rawPayload, raw) === 0, `${name}: bytes come back identical`)
  }
  const asJson = json(await app.inject({ method: 'GET', url: '/v1/anchor-sets/big/embeddings/m?encodingFormat=base64' }))
  t.equal(asJson.ids.length, rows)
  t.ok(Buffer.from(asJson.vectors.data, 'base64').equals(raw), 'base64 download is bit-exact')
})

t.test('upload errors name what is wrong', async t => {
  const app = await testApp(t)
  await app.inject({ method: 'PUT', url: '/v1/spaces/m', payload: { dim: 4 } })
  await app.inject({ method: 'PUT', url: '/v1/anchor-sets/s', payload: { ids: ids(20) } })
  const rows = toRows(matrix(20, 4), 4)
  const withNaN = Buffer.from(matrix(20, 4).buffer)
  withNaN.writeFloatLE(Number.NaN, (17 * 4 + 2) * 4)
  const nan = await app.inject({ method: 'PUT', url: '/v1/anchor-sets/s/embeddings/m', headers: { 'content-type': 'application/octet-stream' }, payload: withNaN })
  isProblem(t, nan, 'unprocessable')
  t.match(json(nan).detail, /row 17/)
  const inf = await app.inject({ method: 'PUT', url: '/v1/anchor-sets/s/embeddings/m', headers: { 'content-type': 'application/json' }, payload: `{"vectors":[${rows.map((r, i) => i === 17 ? `[1e999,${r.slice(1).join(',')}]` : JSON.stringify(r)).join(',')}]}` })
  isProblem(t, inf, 'unprocessable')
  t.match(json(inf).detail, /row 17/)
  const wrongDim = await app.inject({ method: 'PUT', url: '/v1/anchor-sets/s/embeddings/m', payload: { vectors: toRows(matrix(20, 3), 3) } })
  isProblem(t, wrongDim, 'unprocessable')
  t.match(json(wrongDim).detail, /dim 4/)
  const wrongRows = await app.inject({ method: 'PUT', url: '/v1/anchor-sets/s/embeddings/m', payload: { vectors: rows.slice(0, 5) } })
  isProblem(t, wrongRows, 'unprocessable')
  t.match(json(wrongRows).detail, /5 rows but anchor set "s" has 20 ids/)
  const unknownId = await app.inject({ method: 'PUT', url: '/v1/anchor-sets/s/embeddings/m', payload: { vectors: rows.slice(0, 2), ids: ['item-1', 'zzz'] } })
  isProblem(t, unknownId, 'unprocessable')
  t.match(json(unknownId).detail, /ids\[1\] = "zzz" is not in anchor set/)
  const noSpace = await app.inject({ method: 'PUT', url: '/v1/anchor-sets/s/embeddings/nope', payload: { vectors: rows } })
  isProblem(t, noSpace, 'not-found')
  const noSet = await app.inject({ method: 'PUT', url: '/v1/anchor-sets/nope/embeddings/m', payload: { vectors: rows } })
  isProblem(t, noSet, 'not-found')
  t.equal(json(await app.inject({ method: 'GET', url: '/v1/anchor-sets/s' })).spaces.m, undefined, 'nothing was stored by the failed uploads')
})

t.test('subset uploads are stored in the set order', async t => {
  const app = await testApp(t)
  await app.inject({ method: 'PUT', url: '/v1/spaces/m', payload: { dim: 2 } })
  await app.inject({ method: 'PUT', url: '/v1/anchor-sets/s', payload: { ids: ['a', 'b', 'c', 'd'] } })
  const res = await app.inject({ method: 'PUT', url: '/v1/anchor-sets/s/embeddings/m', payload: { vectors: [[4, 4], [0, 0], [1, 1]], ids: ['d', 'b', 'a'] } })
  t.equal(res.statusCode, 201)
  t.match(json(res), { rows: 3, zeroRows: 1, replaced: false })
  t.ok(Math.abs(json(res).meanNorm - (Math.SQRT2 * 4 + Math.SQRT2) / 3) < 1e-12)
  const back = json(await app.inject({ method: 'GET', url: '/v1/anchor-sets/s/embeddings/m' }))
  t.same(back.ids, ['a', 'b', 'd'])
  t.same(back.vectors, [[1, 1], [0, 0], [4, 4]])
  const replaced = await app.inject({ method: 'PUT', url: '/v1/anchor-sets/s/embeddings/m', payload: { vectors: [[1, 0]], ids: ['c'] } })
  t.equal(json(replaced).replaced, true)
  const summary = json(await app.inject({ method: 'GET', url: '/v1/anchor-sets/s' }))
  t.equal(summary.spaces.m.rows, 1)
  // Every upload gets a new revision, also when it lands in the same millisecond as the last one.
  t.equal(summary.spaces.m.revision, json(replaced).revision)
  t.not(json(replaced).revision, json(res).revision, 'a replacement has a new revision')
  const again = await Promise.all([0, 1].map(async () => await app.inject({ method: 'PUT', url: '/v1/anchor-sets/s/embeddings/m', payload: { vectors: [[1, 0]], ids: ['c'] } })))
  t.not(json(again[0]).revision, json(again[1]).revision, 'two identical uploads at once still get two revisions')
  t.equal((await app.inject({ method: 'DELETE', url: '/v1/anchor-sets/s/embeddings/m' })).statusCode, 204)
  isProblem(t, await app.inject({ method: 'GET', url: '/v1/anchor-sets/s/embeddings/m' }), 'not-found')
})

t.test('a body over the limit gets a 413 saying how to send it instead', async t => {
  const app = await testApp(t, { env: { BODY_LIMIT: String(64 * 1024) } })
  await app.inject({ method: 'PUT', url: '/v1/spaces/m', payload: { dim: 768 } })
  await app.inject({ method: 'PUT', url: '/v1/anchor-sets/s', payload: { ids: ids(100) } })
  const res = await app.inject({ method: 'PUT', url: '/v1/anchor-sets/s/embeddings/m', payload: { vectors: toRows(matrix(100, 768), 768) } })
  isProblem(t, res, 'body-too-large')
  t.equal(res.headers['content-type'], 'application/problem+json; charset=utf-8')
  t.match(json(res).detail, /65536 bytes/)
  t.match(json(res).detail, /octet-stream/)
  t.match(json(res).detail, /batches/)
})
