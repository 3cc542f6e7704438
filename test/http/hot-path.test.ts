/**
 * The binary hot path (issue 5): an octet-stream or float32 npy body is read in place when its
 * values are 4-byte aligned (copied only when not), large bodies land in reused memory, and a
 * large npy answer is written as the header followed by the result's own bytes, byte for byte
 * what numpy.save writes.
 */
import { PassThrough } from 'node:stream'
import type { FastifyRequest } from 'fastify'
import t from 'tap'
import { readBody, releaseBody } from '../../src/http/body.js'
import { decodeFloat32Body, decodeNpy, encodeNpy } from '../../src/codecs/vectors.js'
import { json, testApp } from '../helpers/app.js'

const target = { field: 'vectors', cols: 4 }

t.test('aligned bodies are viewed, unaligned ones copied, and both decode the same values', async t => {
  const values = Float32Array.from({ length: 8 }, (_, i) => i / 3)
  const aligned = Buffer.from(values.buffer)
  const viewed = decodeFloat32Body(aligned, target)
  t.equal(viewed.data.buffer, aligned.buffer, 'an aligned body is read in place')
  t.same(Array.from(viewed.data), Array.from(values))

  const shifted = Buffer.alloc(values.byteLength + 1).subarray(1)
  aligned.copy(shifted)
  const copied = decodeFloat32Body(shifted, target)
  t.not(copied.data.buffer, shifted.buffer, 'an unaligned body is copied')
  t.same(Array.from(copied.data), Array.from(values))

  const npy = encodeNpy({ rows: 2, cols: 4, data: values })
  const fromNpy = decodeNpy(npy, target)
  t.equal(fromNpy.data.buffer, npy.buffer, 'a float32 npy file (data 64-byte aligned, as numpy writes it) is read in place')
  t.same(Array.from(fromNpy.data), Array.from(values))
})

t.test('a large npy answer is the exact .npy of the result; octet-stream is its raw bytes', async t => {
  const app = await testApp(t)
  const dim = 64
  const ids = Array.from({ length: 300 }, (_, i) => `i${i}`)
  const anchors = Array.from({ length: ids.length }, (_, i) => Array.from({ length: dim }, (_, j) => Math.sin(i * 7 + j)))
  t.equal((await app.inject({ method: 'PUT', url: '/v1/spaces/s', payload: { dim } })).statusCode, 201)
  t.equal((await app.inject({ method: 'PUT', url: '/v1/anchor-sets/a', payload: { ids } })).statusCode, 201)
  t.equal((await app.inject({ method: 'PUT', url: '/v1/anchor-sets/a/embeddings/s', payload: { vectors: anchors } })).statusCode, 201)
  const rows = 100
  const x = Float32Array.from({ length: rows * dim }, (_, i) => Math.cos(i))
  const url = '/v1/relative?space=s&anchorSet=a'
  const raw = await app.inject({ method: 'POST', url, headers: { 'content-type': 'application/octet-stream', accept: 'application/octet-stream' }, payload: Buffer.from(x.buffer) })
  const npy = await app.inject({ method: 'POST', url, headers: { 'content-type': 'application/octet-stream', accept: 'application/x-npy' }, payload: Buffer.from(x.buffer) })
  t.equal(raw.statusCode, 200)
  t.equal(npy.statusCode, 200)
  t.ok(raw.rawPayload.length >= 64 * 1024, `the answer (${raw.rawPayload.length} bytes) is over the streaming threshold`)
  const expected = encodeNpy({ rows, cols: ids.length, data: new Float32Array(new Uint8Array(raw.rawPayload).buffer) })
  t.ok(npy.rawPayload.equals(expected), 'npy answer = header + the raw result bytes, as numpy.save writes them')
  t.equal(npy.headers['content-length'], String(expected.length))
  t.equal(npy.headers['x-shape'], `${rows},${ids.length}`)
  const back = json(await app.inject({ method: 'POST', url: '/v1/relative', payload: { space: 's', anchorSet: 'a', vectors: { dtype: 'float32', shape: [rows, dim], data: Buffer.from(x.buffer).toString('base64') }, encodingFormat: 'base64' } }))
  t.ok(Buffer.from(back.vectors.data, 'base64').equals(raw.rawPayload), 'the JSON base64 answer has the same bytes')
})

t.test('large binary bodies are read into pooled memory, reused after the response, and never mixed up', async t => {
  const fake = (length: number): FastifyRequest => ({ headers: { 'content-length': String(length) } }) as unknown as FastifyRequest
  const read = async (request: FastifyRequest, chunks: Buffer[]): Promise<Buffer> => await new Promise((resolve, reject) => {
    const payload = new PassThrough()
    readBody(request, payload, 1 << 24, (err, body) => { err !== null ? reject(err) : resolve(body as Buffer) })
    for (const c of chunks) payload.write(c)
    payload.end()
  })
  const data = Buffer.alloc(100_000, 7)
  const first = fake(data.length)
  const a = await read(first, [data.subarray(0, 30_000), data.subarray(30_000)])
  t.ok(a.equals(data), 'the body is the bytes sent, across chunks')
  t.equal(a.buffer.byteLength, 131_072, 'in a pooled power-of-two buffer')
  releaseBody(first)
  const b = await read(fake(data.length), [data])
  t.equal(b.buffer, a.buffer, 'the next body of that size reuses it once the first response is out')
  await t.rejects(read(fake(10), [Buffer.alloc(12)]), { code: 'FST_ERR_CTP_INVALID_CONTENT_LENGTH' })
  await t.rejects(read(fake(1 << 25), []), { code: 'FST_ERR_CTP_BODY_TOO_LARGE' })

  // Through the app: concurrent large requests, each answered from its own bytes.
  const app = await testApp(t)
  const dim = 64
  const ids = Array.from({ length: 50 }, (_, i) => `i${i}`)
  await app.inject({ method: 'PUT', url: '/v1/spaces/s', payload: { dim } })
  await app.inject({ method: 'PUT', url: '/v1/anchor-sets/a', payload: { ids } })
  await app.inject({ method: 'PUT', url: '/v1/anchor-sets/a/embeddings/s', payload: { vectors: ids.map((_, i) => Array.from({ length: dim }, (_, j) => Math.cos(i + 3 * j))) } })
  const bodies = Array.from({ length: 10 }, (_, k) => Buffer.from(Float32Array.from({ length: 300 * dim }, (_, i) => Math.sin(k * 1000 + i)).buffer))
  const call = async (body: Buffer): Promise<Buffer> => (await app.inject({ method: 'POST', url: '/v1/relative?space=s&anchorSet=a', headers: { 'content-type': 'application/octet-stream', accept: 'application/octet-stream' }, payload: body })).rawPayload
  const alone: Buffer[] = []
  for (const body of bodies) alone.push(await call(body))
  for (let round = 0; round < 3; round++) {
    const together = await Promise.all(bodies.map(call))
    t.ok(together.every((r, i) => r.equals(alone[i])), `round ${round}: every concurrent answer equals its sequential one`)
  }
})
