import t from 'tap'
import { isProblem, json } from '../helpers/app.js'
import { redisSkipReason } from '../helpers/redis-server.js'
import { memoryApp, redisApp, type AppFactory } from '../helpers/stores.js'
import { rowsOf, values } from '../helpers/data.js'

const IDS = Array.from({ length: 10 }, (_, i) => `item-${i}`)
const DIM = 3

/** The float32 rows of a binary answer (raw or .npy), and its X-Shape. */
function binaryRows (res: { rawPayload: Buffer, headers: Record<string, unknown> }): { rows: number[][], shape: string } {
  let bytes = res.rawPayload
  if (String(res.headers['content-type']).startsWith('application/x-npy')) bytes = bytes.subarray(10 + bytes.readUInt16LE(8))
  const data = new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength))
  return { rows: rowsOf(data, DIM), shape: String(res.headers['x-shape']) }
}

function suite (name: string, makeApp: AppFactory, skip: string | false): void {
  t.test(name, { skip }, async t => {
    t.test('row ranges of a set\'s ids and of an embeddings download equal the slices of the whole', async t => {
      const app = await makeApp(t)
      t.equal((await app.inject({ method: 'PUT', url: '/v1/spaces/sp', payload: { dim: DIM } })).statusCode, 201)
      t.equal((await app.inject({ method: 'PUT', url: '/v1/anchor-sets/set', payload: { ids: IDS } })).statusCode, 201)
      // Seven of the ten ids hold rows: the embeddings' row count is not the set's size.
      const held = [0, 2, 3, 5, 6, 8, 9].map(i => IDS[i])
      const vectors = rowsOf(values(held.length * DIM, 7), DIM)
      t.equal((await app.inject({ method: 'PUT', url: '/v1/anchor-sets/set/embeddings/sp', payload: { ids: held, vectors } })).statusCode, 201)

      const setWhole = json(await app.inject({ method: 'GET', url: '/v1/anchor-sets/set?includeIds=true' }))
      t.same(setWhole.ids, IDS)
      const whole = json(await app.inject({ method: 'GET', url: '/v1/anchor-sets/set/embeddings/sp' }))
      t.same(whole.ids, held)
      t.same(whole.vectors, vectors)
      t.equal(whole.rows, 7)
      t.equal(whole.offset, 0)

      const ranges: Array<[number | undefined, number | undefined]> = [[0, 1], [2, 3], [6, 1], [4, undefined], [undefined, 5], [5, 100], [0, 7]]
      for (const [offset, limit] of ranges) {
        const q = [offset !== undefined ? `offset=${offset}` : '', limit !== undefined ? `limit=${limit}` : ''].filter(s => s !== '').join('&')
        const start = offset ?? 0
        const end = limit === undefined ? undefined : start + limit

        const set = json(await app.inject({ method: 'GET', url: `/v1/anchor-sets/set?includeIds=true&${q}` }))
        t.same(set.ids, IDS.slice(start, end), `set ids ${q}`)
        t.equal(set.size, 10, 'size is the total')

        const part = json(await app.inject({ method: 'GET', url: `/v1/anchor-sets/set/embeddings/sp?${q}` }))
        t.same(part.ids, held.slice(start, end), `JSON ids ${q}`)
        t.same(part.vectors, vectors.slice(start, end), `JSON vectors ${q}`)
        t.equal(part.rows, 7, 'rows is the total')
        t.equal(part.offset, start)

        const b64 = json(await app.inject({ method: 'GET', url: `/v1/anchor-sets/set/embeddings/sp?encodingFormat=base64&${q}` }))
        const fromB64 = rowsOf(new Float32Array(new Uint8Array(Buffer.from(b64.vectors.data, 'base64')).buffer), DIM)
        t.same(fromB64, vectors.slice(start, end), `base64 vectors ${q}`)
        t.same(b64.vectors.shape, [vectors.slice(start, end).length, DIM])

        for (const accept of ['application/octet-stream', 'application/x-npy']) {
          const res = await app.inject({ method: 'GET', url: `/v1/anchor-sets/set/embeddings/sp?${q}`, headers: { accept } })
          t.equal(res.statusCode, 200)
          const { rows, shape } = binaryRows(res)
          t.same(rows, vectors.slice(start, end), `${accept} rows ${q}`)
          t.equal(shape, `${rows.length},${DIM}`, `${accept}: X-Shape is the slice's`)
          t.equal(res.headers['x-total-rows'], '7', `${accept}: X-Total-Rows`)
          t.equal(res.headers['x-offset'], String(start))
        }
      }

      // A whole download in pages of 3 rows puts the whole back together.
      const paged: number[][] = []
      for (let offset = 0; offset < 7; offset += 3) {
        paged.push(...binaryRows(await app.inject({ method: 'GET', url: `/v1/anchor-sets/set/embeddings/sp?offset=${offset}&limit=3`, headers: { accept: 'application/octet-stream' } })).rows)
      }
      t.same(paged, vectors)

      // Out of range: 422 naming the row count; malformed: 400.
      const past = isProblem(t, await app.inject({ method: 'GET', url: '/v1/anchor-sets/set/embeddings/sp?offset=7' }), 'unprocessable', 'offset at the row count')
      t.match(past.detail, /7 rows/)
      isProblem(t, await app.inject({ method: 'GET', url: '/v1/anchor-sets/set/embeddings/sp?offset=100&limit=1', headers: { accept: 'application/octet-stream' } }), 'unprocessable', 'binary, offset past')
      isProblem(t, await app.inject({ method: 'GET', url: '/v1/anchor-sets/set?includeIds=true&offset=10' }), 'unprocessable', 'set ids offset at the size')
      t.equal((await app.inject({ method: 'GET', url: '/v1/anchor-sets/set?includeIds=true&offset=9' })).statusCode, 200, 'the last id')
      for (const q of ['offset=-1', 'limit=0', 'limit=-3', 'offset=1.5', 'limit=x']) {
        isProblem(t, await app.inject({ method: 'GET', url: `/v1/anchor-sets/set/embeddings/sp?${q}` }), 'invalid-request', `embeddings ${q}`)
        isProblem(t, await app.inject({ method: 'GET', url: `/v1/anchor-sets/set?includeIds=true&${q}` }), 'invalid-request', `set ${q}`)
      }
      isProblem(t, await app.inject({ method: 'GET', url: '/v1/anchor-sets/set?offset=2' }), 'invalid-request', 'a range without includeIds')
    })

    t.test('a range of a set has its own ETag; a range of embeddings revalidates with the revision', async t => {
      const app = await makeApp(t)
      await app.inject({ method: 'PUT', url: '/v1/spaces/sp', payload: { dim: DIM } })
      await app.inject({ method: 'PUT', url: '/v1/anchor-sets/set', payload: { ids: IDS } })
      await app.inject({ method: 'PUT', url: '/v1/anchor-sets/set/embeddings/sp', payload: { vectors: rowsOf(values(IDS.length * DIM, 3), DIM) } })
      const a = await app.inject({ method: 'GET', url: '/v1/anchor-sets/set?includeIds=true&offset=0&limit=2' })
      const b = await app.inject({ method: 'GET', url: '/v1/anchor-sets/set?includeIds=true&offset=2&limit=2' })
      t.not(a.headers.etag, b.headers.etag, 'different ids, different tags')
      t.equal((await app.inject({ method: 'GET', url: '/v1/anchor-sets/set?includeIds=true&offset=0&limit=2', headers: { 'if-none-match': String(a.headers.etag) } })).statusCode, 304)
      const e = await app.inject({ method: 'GET', url: '/v1/anchor-sets/set/embeddings/sp?offset=3&limit=2' })
      t.equal((await app.inject({ method: 'GET', url: '/v1/anchor-sets/set/embeddings/sp?offset=3&limit=2', headers: { 'if-none-match': String(e.headers.etag) } })).statusCode, 304)
      isProblem(t, await app.inject({ method: 'GET', url: '/v1/anchor-sets/set/embeddings/sp?offset=10', headers: { 'if-none-match': String(e.headers.etag) } }), 'unprocessable', 'out of range even with a current ETag')
    })
  })
}

suite('memory store', memoryApp, false)
suite('redis store', redisApp, redisSkipReason())
