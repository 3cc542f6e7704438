/**
 * The anchors cache on the memory store: rows are read from the store only when an upload's
 * revision changed, a re-upload or a delete is seen by the next load, and the byte bound holds.
 */
import t from 'tap'
import { AnchorsCache } from '../../src/compute/anchors.js'
import { anchorDigest } from '../../src/anchors/digest.js'
import { ProblemError, problemType } from '../../src/errors.js'
import { MemoryStore } from '../../src/store/memory.js'
import { anchorSet, embeddings, space } from '../store/contract.js'

/** The problem a load fails with (type and status). */
async function problemOf (load: Promise<unknown>): Promise<{ type: string, status: number } | undefined> {
  try {
    await load
  } catch (err) {
    if (err instanceof ProblemError) return { type: err.type, status: err.status }
    throw err
  }
  return undefined
}

async function seeded (): Promise<MemoryStore> {
  const store = new MemoryStore()
  await store.putSpace(space('A', 2))
  await store.putSpace(space('B', 2))
  await store.putAnchorSet(anchorSet('wiki', ['a', 'b', 'c']))
  await store.putEmbeddings({ ...embeddings('wiki', 'A', ['a', 'b', 'c'], 2), revision: 'A1' })
  await store.putEmbeddings({ ...embeddings('wiki', 'B', ['b', 'c'], 2, Float32Array.from([5, 6, 7, 8])), revision: 'B1' })
  return store
}

t.test('a second load of unchanged uploads reads no rows and answers the same anchors', async t => {
  const store = await seeded()
  const cache = new AnchorsCache()
  const first = await cache.load(store, 'wiki', 'A', [])
  t.same(first.ids, ['a', 'b', 'c'])
  t.same(Array.from(first.matrix.data), [-3, -2, -1, 0, 1, 2])
  t.equal(first.digest, anchorDigest(['a', 'b', 'c']))
  let reads = 0
  const counting = new Proxy(store, {
    get (target, prop) {
      const value = Reflect.get(target, prop)
      if (prop === 'getEmbeddings') return async (...args: [string, string]) => { reads++; return await target.getEmbeddings(...args) }
      return typeof value === 'function' ? value.bind(target) : value
    }
  })
  const second = await cache.load(counting, 'wiki', 'A', [])
  t.equal(second, first, 'the kept anchors')
  t.equal(reads, 0, 'no rows read')
  t.same([cache.hits, cache.misses], [1, 1])
})

t.test('a re-upload is seen by the next load; commonWith restricts to shared ids under its own stamp', async t => {
  const store = await seeded()
  const cache = new AnchorsCache()
  const before = await cache.load(store, 'wiki', 'A', [])
  const common = await cache.load(store, 'wiki', 'A', ['B'])
  t.same(common.ids, ['b', 'c'])
  t.same(Array.from(common.matrix.data), [-1, 0, 1, 2], 'A\'s rows of b and c')
  t.not(common.stamp, before.stamp)
  await store.putEmbeddings({ ...embeddings('wiki', 'A', ['a', 'b', 'c'], 2, Float32Array.from([9, 9, 8, 8, 7, 7])), revision: 'A2' })
  const after = await cache.load(store, 'wiki', 'A', [])
  t.same(Array.from(after.matrix.data), [9, 9, 8, 8, 7, 7], 'the new upload\'s rows')
  t.not(after.stamp, before.stamp)
  const commonAfter = await cache.load(store, 'wiki', 'A', ['B'])
  t.same(Array.from(commonAfter.matrix.data), [8, 8, 7, 7])
  // B's projection on the same ids has the same stamp, but B's rows.
  const ofB = await cache.load(store, 'wiki', 'B', ['A'])
  t.equal(ofB.stamp, commonAfter.stamp)
  t.same(Array.from(ofB.matrix.data), [5, 6, 7, 8], 'B\'s rows, not A\'s kept under the same stamp')
})

t.test('a deleted upload or set is a 404 at the next load, whatever was kept', async t => {
  const store = await seeded()
  const cache = new AnchorsCache()
  await cache.load(store, 'wiki', 'B', [])
  t.equal((await store.deleteEmbeddings('wiki', 'B', { cascade: true })).status, 'deleted')
  t.same(await problemOf(cache.load(store, 'wiki', 'B', [])), { type: problemType('not-found'), status: 404 })
  t.same(await problemOf(cache.load(store, 'gone', 'A', [])), { type: problemType('not-found'), status: 404 })
})

t.test('no shared id is a 422; the byte bound keeps the newest anchors that fit', async t => {
  const store = await seeded()
  await store.putAnchorSet(anchorSet('apart', ['x', 'y', 'z']))
  await store.putEmbeddings({ ...embeddings('apart', 'A', ['x'], 2), revision: 'A3' })
  await store.putEmbeddings({ ...embeddings('apart', 'B', ['y'], 2), revision: 'B3' })
  t.same(await problemOf(new AnchorsCache().load(store, 'apart', 'A', ['B'])), { type: problemType('unprocessable'), status: 422 })

  // 3 x 2 float32 = 24 bytes for wiki/A, 16 for wiki/B: a 30-byte bound holds one of them.
  const small = new AnchorsCache(30)
  await small.load(store, 'wiki', 'A', [])
  await small.load(store, 'wiki', 'B', [])
  t.equal(small.size, 1, 'the older one made room')
  await small.load(store, 'wiki', 'B', [])
  t.same([small.hits, small.misses], [1, 2])
  const none = new AnchorsCache(8)
  await none.load(store, 'wiki', 'A', [])
  t.equal(none.size, 0, 'anchors larger than the bound are not kept')
})
