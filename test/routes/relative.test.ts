/**
 * POST /v1/relative through the real app (inject, real engine, memory store): every option of the
 * contract reaches the engine, the result fields are right, and every wire form gives the same
 * numbers. The engine's arithmetic is golden-tested in test/engine; here the reference is
 * engine.relative called directly with the same inputs, plus one hand-computed case.
 */
import { createHash } from 'node:crypto'
import t from 'tap'
import type { FastifyInstance } from 'fastify'
import type { Projection, RelativeOptions } from '../../src/engine/types.js'
import { takeRows, type Matrix } from '../../src/math/matrix.js'
import { isProblem, json, testApp } from '../helpers/app.js'
import { randomMatrix, rng } from '../engine/fixtures/reference.js'

const DIM = 8
const SET_SIZE = 12
const ids = Array.from({ length: SET_SIZE }, (_, i) => `w${i}`)
/** The ids space B holds, uploaded in this (shuffled) order; stored in the set's order. */
const B_IDS = ['w7', 'w0', 'w10', 'w3', 'w5', 'w11', 'w2', 'w8']
const B_IN_SET_ORDER = ids.filter(id => B_IDS.includes(id))

const anchorsA = randomMatrix(SET_SIZE, DIM, rng(11))
const anchorsB = randomMatrix(B_IDS.length, DIM, rng(12)) // row i belongs to B_IDS[i]
const inputs = randomMatrix(5, DIM, rng(13))

const digest = (list: string[]): string => createHash('sha256').update(JSON.stringify(list)).digest('hex')

function rowsOf (m: Matrix): number[][] {
  const out: number[][] = []
  for (let r = 0; r < m.rows; r++) out.push(Array.from(m.data.subarray(r * m.cols, (r + 1) * m.cols)))
  return out
}

/** number[][] from a JSON reply back to float32 (exact: the values were float32). */
function flat (rows: number[][]): Float32Array {
  return Float32Array.from(rows.flat())
}

function bytesOf (data: Float32Array): Buffer {
  return Buffer.from(data.buffer, data.byteOffset, data.byteLength)
}

/** A minimal .npy (version 1.0, C order, little-endian) of float32 or float64 values. */
function npy (values: ArrayLike<number>, rows: number, cols: number, dtype: '<f4' | '<f8'): Buffer {
  let header = `{'descr': '${dtype}', 'fortran_order': False, 'shape': (${rows}, ${cols}), }`
  header += ' '.repeat((64 - ((10 + header.length + 1) % 64)) % 64) + '\n'
  const pre = Buffer.alloc(10)
  pre[0] = 0x93
  pre.write('NUMPY', 1, 'latin1')
  pre[6] = 1
  pre[7] = 0
  pre.writeUInt16LE(header.length, 8)
  const data = dtype === '<f4' ? Float32Array.from(values) : Float64Array.from(values)
  return Buffer.concat([pre, Buffer.from(header, 'latin1'), Buffer.from(data.buffer)])
}

/** Reads a version 1 .npy reply: the shape and the float32 values. */
function readNpy (buf: Buffer): { descr: string, shape: number[], data: Float32Array } {
  if (buf[0] !== 0x93 || buf.toString('latin1', 1, 6) !== 'NUMPY') throw new Error('not an npy file')
  const headerLength = buf[6] === 1 ? buf.readUInt16LE(8) : buf.readUInt32LE(8)
  const start = buf[6] === 1 ? 10 : 12
  const header = buf.toString('latin1', start, start + headerLength)
  const descr = /'descr':\s*'([^']+)'/.exec(header)?.[1] ?? ''
  const shape = (/'shape':\s*\(([^)]*)\)/.exec(header)?.[1] ?? '').split(',').map(s => s.trim()).filter(s => s !== '').map(Number)
  const body = buf.subarray(start + headerLength)
  const data = new Float32Array(body.length / 4)
  Buffer.from(data.buffer).set(body)
  return { descr, shape, data }
}

async function put (app: FastifyInstance, url: string, payload: unknown, expected: number[] = [200, 201]): Promise<void> {
  const res = await app.inject({ method: 'PUT', url, payload: payload as Record<string, unknown> })
  if (!expected.includes(res.statusCode)) throw new Error(`PUT ${url}: ${res.statusCode} ${res.body}`)
}

/**
 * Spaces A and B (dim 8) and C (dim 5); set "wiki" of 12 ids: A holds all of them, B 8 of them
 * (sent in a shuffled order), C none. Set "other" holds nothing of A.
 */
async function setup (app: FastifyInstance): Promise<void> {
  await put(app, '/v1/spaces/A', { dim: DIM })
  await put(app, '/v1/spaces/B', { dim: DIM })
  await put(app, '/v1/spaces/C', { dim: 5 })
  await put(app, '/v1/anchor-sets/wiki', { ids })
  await put(app, '/v1/anchor-sets/other', { ids: ['x', 'y'] })
  await put(app, '/v1/anchor-sets/wiki/embeddings/A', { vectors: rowsOf(anchorsA) })
  await put(app, '/v1/anchor-sets/wiki/embeddings/B', { vectors: rowsOf(anchorsB), ids: B_IDS })
}

/** B's anchors in the set's order, as the store keeps them. */
function anchorsBInSetOrder (): Matrix {
  return takeRows(anchorsB, B_IN_SET_ORDER.map(id => B_IDS.indexOf(id)))
}

function relativeOptions (body: Record<string, any>): RelativeOptions {
  const projection = body.projection ?? 'cosine'
  return {
    projections: Array.isArray(projection) ? projection : [projection],
    center: body.center ?? false,
    topK: body.topK,
    power: body.power ?? 1,
    normalize: body.normalize ?? 'none'
  }
}

async function relative (app: FastifyInstance, body: Record<string, unknown>): Promise<any> {
  const res = await app.inject({ method: 'POST', url: '/v1/relative', payload: { space: 'A', anchorSet: 'wiki', vectors: rowsOf(inputs), ...body } })
  if (res.statusCode !== 200) throw new Error(`POST /v1/relative ${JSON.stringify(body)}: ${res.statusCode} ${res.body}`)
  return json(res)
}

t.test('a hand-computed cosine case, exactly', async t => {
  const app = await testApp(t)
  await put(app, '/v1/spaces/h', { dim: 2 })
  await put(app, '/v1/anchor-sets/hand', { ids: ['east', 'north', 'diag'] })
  await put(app, '/v1/anchor-sets/hand/embeddings/h', { vectors: [[1, 0], [0, 1], [1, 1]] })
  const res = await app.inject({ method: 'POST', url: '/v1/relative', payload: { space: 'h', anchorSet: 'hand', vectors: [[3, 4], [0, 0], [-2, 0]] } })
  t.equal(res.statusCode, 200)
  const body = json(res)
  const expected = [[0.6, 0.8, 7 / (5 * Math.SQRT2)], [0, 0, 0], [-1, 0, -Math.SQRT1_2]]
  t.equal(body.vectors.length, 3)
  for (let r = 0; r < 3; r++) {
    for (let c = 0; c < 3; c++) {
      t.ok(Math.abs(body.vectors[r][c] - expected[r][c]) <= 1e-6, `[${r}][${c}] = ${body.vectors[r][c]}, expected ${expected[r][c]}`)
    }
  }
  t.equal(body.anchors, 3)
  t.same(body.blocks, ['cosine'], 'the default projection is cosine')
  t.equal(body.anchorIds, null, 'anchor ids only on request')
  t.equal(body.zeroRows, 1, 'the zero row is counted')
  t.equal(body.anchorDigest, digest(['east', 'north', 'diag']))
  t.match(body.anchorDigest, /^[0-9a-f]{64}$/)
})

t.test('every projection, alone and as blocks, equals engine.relative on the same inputs', async t => {
  const app = await testApp(t)
  await setup(app)
  const projections: Projection[] = ['cosine', 'angular', 'euclidean', 'l1', 'linf', 'dot']
  const single = new Map<Projection, Float32Array>()
  for (const projection of projections) {
    const body = await relative(app, { projection })
    const expected = await app.engine.relative(inputs, anchorsA, relativeOptions({ projection }))
    t.same(body.blocks, [projection], `${projection}: blocks`)
    t.equal(body.vectors.length, inputs.rows, `${projection}: rows`)
    t.equal(body.vectors[0].length, SET_SIZE, `${projection}: one block of 12 anchors`)
    const got = flat(body.vectors)
    t.ok(Buffer.compare(bytesOf(got), bytesOf(expected.matrix.data)) === 0, `${projection}: bit-exact with the engine`)
    single.set(projection, got)
  }
  // The projections really differ, so a route that ignored the option would fail above.
  t.not(Buffer.compare(bytesOf(single.get('cosine')!), bytesOf(single.get('dot')!)), 0)
  t.not(Buffer.compare(bytesOf(single.get('euclidean')!), bytesOf(single.get('l1')!)), 0)

  const order: Projection[] = ['l1', 'cosine', 'euclidean']
  const body = await relative(app, { projection: order })
  t.same(body.blocks, order, 'blocks in the order asked for')
  t.equal(body.anchors, SET_SIZE, 'anchors is the width of one block')
  t.equal(body.vectors[0].length, SET_SIZE * order.length)
  const expected = await app.engine.relative(inputs, anchorsA, relativeOptions({ projection: order }))
  t.ok(Buffer.compare(bytesOf(flat(body.vectors)), bytesOf(expected.matrix.data)) === 0, 'blocks: bit-exact with the engine')
  for (let r = 0; r < inputs.rows; r++) {
    for (let b = 0; b < order.length; b++) {
      const block = body.vectors[r].slice(b * SET_SIZE, (b + 1) * SET_SIZE)
      const alone = Array.from(single.get(order[b])!.subarray(r * SET_SIZE, (r + 1) * SET_SIZE))
      t.ok(block.every((v: number, i: number) => Math.abs(v - alone[i]) <= 1e-6 * Math.max(1, Math.abs(alone[i]))), `row ${r} block ${b} is the ${order[b]} projection`)
    }
  }
})

t.test('center, topK + power and normalize reach the engine', async t => {
  const app = await testApp(t)
  await setup(app)
  const plain = flat((await relative(app, {})).vectors)
  const cases: Array<Record<string, unknown>> = [
    { center: true },
    { topK: 3 },
    { topK: 3, power: 2 },
    { normalize: 'l2' },
    { normalize: 'layernorm' },
    { projection: ['cosine', 'euclidean'], center: true, topK: 4, power: 0.5, normalize: 'layernorm' }
  ]
  for (const options of cases) {
    const label = JSON.stringify(options)
    const body = await relative(app, options)
    const got = flat(body.vectors)
    const expected = await app.engine.relative(inputs, anchorsA, relativeOptions(options))
    t.ok(Buffer.compare(bytesOf(got), bytesOf(expected.matrix.data)) === 0, `${label}: bit-exact with the engine`)
    if (got.length === plain.length) t.not(Buffer.compare(bytesOf(got), bytesOf(plain)), 0, `${label}: differs from the default`)
  }

  // What each option means, checked on the HTTP output itself.
  const top = (await relative(app, { topK: 3, power: 2 })).vectors as number[][]
  for (let r = 0; r < inputs.rows; r++) {
    const row = Array.from(plain.subarray(r * SET_SIZE, (r + 1) * SET_SIZE))
    const kept = [...row].sort((a, b) => b - a).slice(0, 3)
    t.equal(top[r].filter(v => v !== 0).length, 3, `topK: row ${r} keeps 3 values`)
    for (let c = 0; c < SET_SIZE; c++) {
      if (top[r][c] === 0) continue
      t.ok(kept.includes(row[c]), `topK: row ${r} keeps one of its 3 largest`)
      t.ok(Math.abs(top[r][c] - Math.sign(row[c]) * row[c] ** 2) <= 1e-6, `power 2: row ${r} col ${c}`)
    }
  }
  const l2 = (await relative(app, { projection: ['cosine', 'euclidean'], normalize: 'l2' })).vectors as number[][]
  const ln = (await relative(app, { projection: ['cosine', 'euclidean'], normalize: 'layernorm' })).vectors as number[][]
  for (let r = 0; r < inputs.rows; r++) {
    for (let b = 0; b < 2; b++) {
      const a = l2[r].slice(b * SET_SIZE, (b + 1) * SET_SIZE)
      t.ok(Math.abs(Math.hypot(...a) - 1) <= 1e-5, `l2: row ${r} block ${b} has unit norm`)
      const l = ln[r].slice(b * SET_SIZE, (b + 1) * SET_SIZE)
      const mean = l.reduce((s, v) => s + v, 0) / SET_SIZE
      const variance = l.reduce((s, v) => s + (v - mean) ** 2, 0) / SET_SIZE
      t.ok(Math.abs(mean) <= 1e-5 && Math.abs(variance - 1) <= 1e-3, `layernorm: row ${r} block ${b} has mean 0 and variance 1`)
    }
  }
})

t.test('commonWith uses only the ids the other spaces hold; the digest follows the ids', async t => {
  const app = await testApp(t)
  await setup(app)
  const all = await relative(app, { returnAnchorIds: true })
  t.same(all.anchorIds, ids, 'anchor ids in the set order')
  t.equal(all.anchors, SET_SIZE)
  t.equal(all.anchorDigest, digest(ids))

  const common = await relative(app, { commonWith: ['B'], returnAnchorIds: true, projection: ['cosine', 'l1'] })
  t.same(common.anchorIds, B_IN_SET_ORDER, 'only the ids B holds, in the set order')
  t.equal(common.anchors, B_IDS.length)
  t.equal(common.vectors[0].length, B_IDS.length * 2)
  t.equal(common.anchorDigest, digest(B_IN_SET_ORDER))
  t.not(common.anchorDigest, all.anchorDigest)
  const restricted = takeRows(anchorsA, B_IN_SET_ORDER.map(id => ids.indexOf(id)))
  const expected = await app.engine.relative(inputs, restricted, relativeOptions({ projection: ['cosine', 'l1'] }))
  t.ok(Buffer.compare(bytesOf(flat(common.vectors)), bytesOf(expected.matrix.data)) === 0, 'A restricted to the common rows')

  // B's own relative vectors, with and without commonWith A (which holds everything), line up.
  const inB = await relative(app, { space: 'B', returnAnchorIds: true })
  const inBCommon = await relative(app, { space: 'B', commonWith: ['A'] })
  t.same(inB.anchorIds, B_IN_SET_ORDER)
  t.equal(inB.anchorDigest, common.anchorDigest, 'equal digests for two spaces on the same ids')
  t.equal(inBCommon.anchorDigest, common.anchorDigest)
  const expectedB = await app.engine.relative(inputs, anchorsBInSetOrder(), relativeOptions({}))
  t.ok(Buffer.compare(bytesOf(flat(inB.vectors)), bytesOf(expectedB.matrix.data)) === 0, 'B rows are used in the set order, not the upload order')
  t.same(inBCommon.vectors, inB.vectors)
  t.same((await relative(app, { commonWith: ['A'] })).vectors, all.vectors, 'commonWith the space itself changes nothing')

  const none = await app.inject({ method: 'POST', url: '/v1/relative', payload: { space: 'A', anchorSet: 'wiki', commonWith: ['C'], vectors: rowsOf(inputs) } })
  t.match(isProblem(t, none, 'not-found', 'commonWith a space that holds nothing').detail, /"C"/)
  const unknown = await app.inject({ method: 'POST', url: '/v1/relative', payload: { space: 'A', anchorSet: 'wiki', commonWith: ['nope'], vectors: rowsOf(inputs) } })
  isProblem(t, unknown, 'not-found', 'commonWith an unknown space')

  // Disjoint ids: D holds only what B does not.
  await put(app, '/v1/spaces/D', { dim: DIM })
  const dIds = ids.filter(id => !B_IDS.includes(id))
  await put(app, '/v1/anchor-sets/wiki/embeddings/D', { vectors: rowsOf(randomMatrix(dIds.length, DIM, rng(14))), ids: dIds })
  const disjoint = await app.inject({ method: 'POST', url: '/v1/relative', payload: { space: 'B', anchorSet: 'wiki', commonWith: ['D'], vectors: rowsOf(inputs) } })
  isProblem(t, disjoint, 'unprocessable', 'no id in common')

  const tooMany = await app.inject({ method: 'POST', url: '/v1/relative', payload: { space: 'A', anchorSet: 'wiki', commonWith: ['B'], topK: B_IDS.length + 1, vectors: rowsOf(inputs) } })
  t.match(isProblem(t, tooMany, 'unprocessable', 'topK above the common anchors').detail, /topK 9 .* 8 anchors/)
  t.equal((await app.inject({ method: 'POST', url: '/v1/relative', payload: { space: 'A', anchorSet: 'wiki', commonWith: ['B'], topK: B_IDS.length, vectors: rowsOf(inputs) } })).statusCode, 200, 'topK equal to the anchors is fine')
})

t.test('encodingFormat base64 and returnAnchorIds', async t => {
  const app = await testApp(t)
  await setup(app)
  const options = { projection: ['cosine', 'angular'], center: true }
  const asFloat = await relative(app, options)
  const asBase64 = await relative(app, { ...options, encodingFormat: 'base64', returnAnchorIds: true })
  t.match(asBase64.vectors, { dtype: 'float32', shape: [inputs.rows, SET_SIZE * 2], data: String })
  const raw = Buffer.from(asBase64.vectors.data, 'base64')
  t.ok(Buffer.compare(raw, bytesOf(flat(asFloat.vectors))) === 0, 'base64 carries the same float32 values')
  t.same(asBase64.anchorIds, ids)
  t.equal(asFloat.anchorIds, null)
  t.equal(asBase64.anchorDigest, asFloat.anchorDigest)
  t.same(asBase64.blocks, ['cosine', 'angular'])
})

t.test('binary requests and responses carry the same numbers as JSON', async t => {
  const app = await testApp(t)
  await setup(app)
  const options = { projection: ['cosine', 'euclidean'], center: true, topK: 5, power: 2, normalize: 'l2', commonWith: ['B'], returnAnchorIds: true }
  const reference = await relative(app, options)
  const referenceBytes = bytesOf(flat(reference.vectors))
  const query = 'space=A&anchorSet=wiki&projection=cosine,euclidean&center=true&topK=5&power=2&normalize=l2&commonWith=B&returnAnchorIds=true'
  const bodies: Array<[string, string, Buffer]> = [
    ['octet-stream', 'application/octet-stream', bytesOf(inputs.data)],
    ['npy float32', 'application/x-npy', npy(inputs.data, inputs.rows, DIM, '<f4')],
    ['npy float64', 'application/x-npy', npy(Float64Array.from(inputs.data), inputs.rows, DIM, '<f8')]
  ]
  for (const [name, type, payload] of bodies) {
    const asJson = await app.inject({ method: 'POST', url: `/v1/relative?${query}`, headers: { 'content-type': type }, payload })
    t.equal(asJson.statusCode, 200, `${name} in, JSON out`)
    const body = json(asJson)
    t.ok(Buffer.compare(bytesOf(flat(body.vectors)), referenceBytes) === 0, `${name} in, JSON out: same values`)
    t.same({ ...body, vectors: undefined }, { ...reference, vectors: undefined }, `${name} in, JSON out: same fields`)

    const raw = await app.inject({ method: 'POST', url: `/v1/relative?${query}`, headers: { 'content-type': type, accept: 'application/octet-stream' }, payload })
    t.equal(raw.statusCode, 200)
    t.match(raw.headers['content-type'], /^application\/octet-stream/)
    t.ok(Buffer.compare(raw.rawPayload, referenceBytes) === 0, `${name} in, octet-stream out: bit-exact`)
    t.equal(raw.headers['x-shape'], `${inputs.rows},${B_IDS.length * 2}`)
    t.equal(raw.headers['x-anchors'], String(B_IDS.length))
    t.equal(raw.headers['x-anchor-digest'], digest(B_IN_SET_ORDER))
    t.equal(raw.headers['x-zero-rows'], '0')
    t.equal(raw.headers['x-blocks'], 'cosine,euclidean')

    const asNpy = await app.inject({ method: 'POST', url: `/v1/relative?${query}`, headers: { 'content-type': type, accept: 'application/x-npy' }, payload })
    t.equal(asNpy.statusCode, 200)
    t.match(asNpy.headers['content-type'], /^application\/x-npy/)
    const parsed = readNpy(asNpy.rawPayload)
    t.equal(parsed.descr, '<f4')
    t.same(parsed.shape, [inputs.rows, B_IDS.length * 2])
    t.ok(Buffer.compare(bytesOf(parsed.data), referenceBytes) === 0, `${name} in, npy out: bit-exact`)
    t.equal(asNpy.headers['x-anchor-digest'], digest(B_IN_SET_ORDER))
  }

  // A JSON request may ask for a binary reply too.
  const jsonIn = await app.inject({ method: 'POST', url: '/v1/relative', headers: { accept: 'application/octet-stream' }, payload: { space: 'A', anchorSet: 'wiki', vectors: rowsOf(inputs), ...options } })
  t.ok(Buffer.compare(jsonIn.rawPayload, referenceBytes) === 0, 'JSON in, octet-stream out: bit-exact')
  // Defaults apply to the binary form as to JSON.
  const bare = await app.inject({ method: 'POST', url: '/v1/relative?space=A&anchorSet=wiki', headers: { 'content-type': 'application/octet-stream', accept: 'application/octet-stream' }, payload: bytesOf(inputs.data) })
  t.equal(bare.headers['x-blocks'], 'cosine')
  t.equal(bare.headers['x-anchors'], String(SET_SIZE))
  t.ok(Buffer.compare(bare.rawPayload, bytesOf(flat((await relative(app, {})).vectors))) === 0, 'binary defaults = JSON defaults')
})

t.test('zero-norm rows give zeros, never NaN, and are counted', async t => {
  const app = await testApp(t)
  await put(app, '/v1/spaces/z', { dim: 2 })
  await put(app, '/v1/anchor-sets/zs', { ids: ['p', 'q', 'r', 's'] })
  // The anchors' mean is exactly (1, 1): a row equal to it is zero once centred.
  await put(app, '/v1/anchor-sets/zs/embeddings/z', { vectors: [[2, 1], [0, 1], [1, 3], [1, -1]] })
  const vectors = [[0, 0], [3, 4], [0, 0], [1, 1]]
  const res = await app.inject({ method: 'POST', url: '/v1/relative', payload: { space: 'z', anchorSet: 'zs', vectors, projection: ['cosine', 'angular', 'euclidean'] } })
  t.equal(res.statusCode, 200)
  const body = json(res)
  t.equal(body.zeroRows, 2)
  for (const r of [0, 2]) {
    t.same(body.vectors[r].slice(0, 8), [0, 0, 0, 0, 0, 0, 0, 0], `row ${r}: cosine and angular blocks are zeros`)
    const norms = [Math.hypot(2, 1), 1, Math.hypot(1, 3), Math.hypot(1, 1)]
    t.ok(body.vectors[r].slice(8).every((v: number, i: number) => Math.abs(v - norms[i]) <= 1e-6), `row ${r}: euclidean block is the distance to each anchor`)
  }
  t.ok(body.vectors.flat().every((v: unknown) => typeof v === 'number' && Number.isFinite(v)), 'no NaN anywhere')
  t.ok(Math.abs(body.vectors[1][0] - 10 / (5 * Math.sqrt(5))) <= 1e-6, 'a normal row is unaffected')

  const centred = json(await app.inject({ method: 'POST', url: '/v1/relative', payload: { space: 'z', anchorSet: 'zs', vectors, center: true } }))
  t.equal(centred.zeroRows, 1, 'with center, only the row equal to the anchors\' mean is zero')
  t.same(centred.vectors[3], [0, 0, 0, 0])
  // Centred: (0,0) - (1,1) = (-1,-1); anchor 0 centred is (1, 0): cosine -1/sqrt(2).
  t.ok(Math.abs(centred.vectors[0][0] + Math.SQRT1_2) <= 1e-6, 'the origin is no longer a zero row when centred')

  const raw = await app.inject({ method: 'POST', url: '/v1/relative?space=z&anchorSet=zs', headers: { 'content-type': 'application/octet-stream', accept: 'application/octet-stream' }, payload: bytesOf(Float32Array.from(vectors.flat())) })
  t.equal(raw.headers['x-zero-rows'], '2', 'X-Zero-Rows in binary replies')
})

t.test('errors are problem+json with the right status', async t => {
  const app = await testApp(t)
  await setup(app)
  const post = async (payload: Record<string, unknown>): Promise<any> =>
    await app.inject({ method: 'POST', url: '/v1/relative', payload: { space: 'A', anchorSet: 'wiki', vectors: rowsOf(inputs), ...payload } })

  t.match(isProblem(t, await post({ space: 'nope' }), 'not-found', 'unknown space').detail, /space "nope"/)
  t.match(isProblem(t, await post({ anchorSet: 'none' }), 'not-found', 'unknown anchor set').detail, /anchor set "none"/)
  t.match(isProblem(t, await post({ anchorSet: 'other' }), 'not-found', 'set without the space\'s embeddings').detail, /holds no embeddings of space "A"/)
  t.match(isProblem(t, await post({ space: 'C' }), 'not-found', 'C holds nothing in wiki').detail, /"C"/)

  const wrongDim = isProblem(t, await post({ vectors: [[1, 2, 3]] }), 'unprocessable', 'wrong dim')
  t.match(wrongDim.detail, /3 columns/)
  t.match(wrongDim.detail, /dim 8/)
  t.match(wrongDim.detail, /space "A"/)

  const bad = Float32Array.from(inputs.data)
  bad[2 * DIM + 3] = NaN
  const nanBase64 = isProblem(t, await post({ vectors: { dtype: 'float32', shape: [inputs.rows, DIM], data: bytesOf(bad).toString('base64') } }), 'unprocessable', 'NaN in base64')
  t.match(nanBase64.detail, /row 2, column 3/)
  t.match(nanBase64.errors, [{ path: 'vectors[2][3]' }])
  const nanBinary = isProblem(t, await app.inject({ method: 'POST', url: '/v1/relative?space=A&anchorSet=wiki', headers: { 'content-type': 'application/octet-stream' }, payload: bytesOf(bad) }), 'unprocessable', 'NaN in octet-stream')
  t.match(nanBinary.detail, /row 2, column 3/)
  const infJson = await app.inject({ method: 'POST', url: '/v1/relative', headers: { 'content-type': 'application/json' }, payload: `{"space":"A","anchorSet":"wiki","vectors":[[1,2,3,4,5,6,7,8],[1,2,3,4,5,6,1e999,8]]}` })
  t.match(isProblem(t, infJson, 'unprocessable', 'Infinity in JSON').detail, /row 1, column 6/)
  const ragged = isProblem(t, await app.inject({ method: 'POST', url: '/v1/relative?space=A&anchorSet=wiki', headers: { 'content-type': 'application/octet-stream' }, payload: Buffer.alloc(DIM * 4 + 4) }), 'unprocessable', 'octet-stream not a whole number of rows')
  t.match(ragged.detail, /not a whole number of rows/)

  t.match(isProblem(t, await post({ topK: SET_SIZE + 1 }), 'unprocessable', 'topK above the anchors').detail, /topK 13/)
  t.match(isProblem(t, await post({ projection: ['cosine', 'l1', 'cosine'] }), 'unprocessable', 'duplicate projection').detail, /twice/)
  isProblem(t, await app.inject({ method: 'POST', url: '/v1/relative?space=A&anchorSet=wiki&projection=cosine,cosine', headers: { 'content-type': 'application/octet-stream' }, payload: bytesOf(inputs.data) }), 'unprocessable', 'duplicate projection in the query string')

  const missing = isProblem(t, await app.inject({ method: 'POST', url: '/v1/relative', payload: { space: 'A', anchorSet: 'wiki' } }), 'invalid-request', 'missing vectors')
  t.match(missing.errors, [{ path: /vectors/ }])
  isProblem(t, await post({ projection: 'cosinus' }), 'invalid-request', 'unknown projection')
  isProblem(t, await post({ projection: [] }), 'invalid-request', 'empty projection list')
  isProblem(t, await post({ topK: 0 }), 'invalid-request', 'topK 0')
  isProblem(t, await post({ normalize: 'l1' }), 'invalid-request', 'unknown normalize')
  isProblem(t, await post({ extra: true }), 'invalid-request', 'unknown field')

  const binary = async (query: string): Promise<any> =>
    await app.inject({ method: 'POST', url: `/v1/relative?${query}`, headers: { 'content-type': 'application/octet-stream' }, payload: bytesOf(inputs.data) })
  const queries: Array<[string, RegExp]> = [
    ['space=A&anchorSet=wiki&topK=abc', /topK/],
    ['space=A&anchorSet=wiki&topK=2.5', /topK/],
    ['space=A&anchorSet=wiki&projection=cosinus', /projection/],
    ['space=A&anchorSet=wiki&normalize=max', /normalize/],
    ['space=A&anchorSet=wiki&power=0', /power/],
    ['space=A&anchorSet=wiki&center=yes', /center/],
    ['anchorSet=wiki', /space/],
    ['space=A', /anchorSet/],
    ['space=A&anchorSet=wiki&commonWith=bad%20name', /commonWith/]
  ]
  for (const [query, names] of queries) {
    const problem = isProblem(t, await binary(query), 'invalid-request', `query ${query}`)
    t.match(problem.detail, names, `query ${query}: the detail names the option`)
  }
  t.equal((await binary('space=A&anchorSet=wiki&topK=2&power=3')).statusCode, 200, 'a good query string is accepted')
  isProblem(t, await app.inject({ method: 'POST', url: '/v1/relative', headers: { 'content-type': 'text/csv' }, payload: '1,2' }), 'unsupported-media-type', 'unsupported content type')
})
