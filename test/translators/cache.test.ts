import t from 'tap'
import type { Engine } from '../../src/engine/types.js'
import type { LinearMap } from '../../src/translators/map.js'
import { MemoryStore } from '../../src/store/memory.js'
import type { StoreChange } from '../../src/store/types.js'
import { mapToStored } from '../../src/translators/record.js'
import { TranslatorCache } from '../../src/translators/cache.js'
import { anchorSet, space, translator } from '../store/contract.js'

/*
 * The decoded-translator cache and the change feed's `resync`: pub/sub loses what is published
 * while it is disconnected, so on a resync every entry goes (and its engine session with it), and a
 * load that overlapped an eviction or a resync is used but not kept.
 */

function map (): LinearMap {
  return {
    sourceDim: 2,
    targetDim: 2,
    sourceMean: new Float32Array(2),
    sourceScale: Float32Array.from([1, 1]),
    normalizeInput: false,
    weight: { rows: 2, cols: 2, data: Float32Array.from([1, 0, 0, 1]) },
    bias: new Float32Array(2),
    normalizeOutput: false,
    outputNorm: 1,
    targetScale: Float32Array.from([1, 1]),
    targetMean: new Float32Array(2)
  }
}

/** A memory store whose change feed the test drives, and whose getTranslator it can hold back. */
class TestStore extends MemoryStore {
  private readonly feed = new Set<(change: StoreChange) => void>()
  hold: Promise<void> | null = null

  override onChange (listener: (change: StoreChange) => void): () => void {
    this.feed.add(listener)
    return () => { this.feed.delete(listener) }
  }

  send (change: StoreChange): void {
    for (const listener of this.feed) listener(change)
  }

  override async getTranslator (id: string): ReturnType<MemoryStore['getTranslator']> {
    const record = await super.getTranslator(id)
    if (this.hold !== null) await this.hold
    return record
  }
}

async function setUp (): Promise<{ store: TestStore, forgotten: string[], cache: TranslatorCache }> {
  const store = new TestStore()
  await store.putSpace(space('A', 2))
  await store.putSpace(space('B', 2))
  await store.putAnchorSet(anchorSet('wiki', ['a']))
  const { params, settings } = mapToStored(map())
  for (const id of ['t1', 't2']) {
    const rec = translator(id, 'A', 'B', 'wiki', params)
    rec.meta.settings = { ...settings }
    await store.createTranslator(rec, { activate: false })
  }
  const forgotten: string[] = []
  const engine = { forget: async (key: string) => { forgotten.push(key) } } as unknown as Engine
  return { store, forgotten, cache: new TranslatorCache(store, engine, 8) }
}

t.test('a resync drops every entry and releases its engine session', async t => {
  const { store, forgotten, cache } = await setUp()
  await cache.get('t1')
  await cache.get('t2')
  t.equal(cache.size, 2)
  store.send({ kind: 'resync', key: '' })
  t.equal(cache.size, 0, 'nothing cached')
  t.same(forgotten.sort(), ['t1', 't2'], 'sessions released')
  t.equal(cache.resyncs, 1)
  t.equal((await cache.get('t1'))?.meta.id, 't1', 'the next call reloads from the store')
  t.equal(cache.size, 1)
  t.equal(cache.misses, 3)
})

t.test('a load that overlaps a resync or an eviction is used, not kept', async t => {
  for (const change of [{ kind: 'resync', key: '' }, { kind: 'translator', key: 't1' }] as StoreChange[]) {
    const { store, cache } = await setUp()
    let release = (): void => {}
    store.hold = new Promise(resolve => { release = resolve })
    const loading = cache.get('t1')
    await new Promise(resolve => setImmediate(resolve))
    store.send(change)
    release()
    store.hold = null
    t.equal((await loading)?.meta.id, 't1', `${change.kind}: the caller gets the translator it asked for`)
    t.equal(cache.size, 0, `${change.kind}: but it is not cached (it may be stale)`)
    await cache.get('t1')
    t.equal(cache.size, 1, `${change.kind}: the next load is cached`)
  }
})
