import type { Test } from 'tap'
import type {
  AnchorSetRecord,
  Dependents,
  EmbeddingsRecord,
  SpaceRecord,
  Store,
  StoreChange,
  TranslatorRecord
} from '../../src/store/types.js'

/**
 * The store contract: every Store implementation must pass these tests. Each subtest gets a fresh,
 * empty store from `makeStore` and calls `cleanup` when it ends.
 */
export interface StoreHarness {
  store: Store
  /**
   * Another store instance over the same backing data, as a second replica would have (for Redis:
   * a second connection with the same key prefix). Absent when the backend cannot share data.
   * Stores it returns are closed by `cleanup`.
   */
  another?: () => Promise<Store>
  /** Closes the store (and any `another`) and deletes what the subtest stored. */
  cleanup: () => Promise<void>
}

export type MakeStore = () => Promise<StoreHarness>

const createdAt = '2024-01-02T03:04:05.678Z'
const later = '2025-06-07T08:09:10.111Z'

/** The revision records get unless a test names one: the store keeps whatever the caller gives. */
export const REVISION = 'r0'

export function space (name: string, dim: number, extra: Partial<SpaceRecord> = {}): SpaceRecord {
  return { name, dim, description: null, metadata: {}, createdAt, revision: REVISION, ...extra }
}

export function anchorSet (name: string, ids: string[], description: string | null = null, revision = REVISION): AnchorSetRecord {
  return { name, ids, description, createdAt, revision }
}

/** Embeddings whose summary fields are computed the way the service computes them. */
export function embeddings (set: string, spaceName: string, ids: string[], dim: number, data?: Float32Array): EmbeddingsRecord {
  const values = data ?? Float32Array.from({ length: ids.length * dim }, (_, i) => (i % 7) - 3)
  let zeroRows = 0
  let normSum = 0
  for (let r = 0; r < ids.length; r++) {
    let sq = 0
    for (let c = 0; c < dim; c++) sq += values[r * dim + c] ** 2
    if (sq === 0) zeroRows++
    normSum += Math.sqrt(sq)
  }
  return {
    set,
    space: spaceName,
    ids,
    rows: ids.length,
    dim,
    zeroRows,
    meanNorm: ids.length === 0 ? 0 : normSum / ids.length,
    updatedAt: later,
    revision: `${set}/${spaceName}/${ids.length}x${dim}`,
    matrix: { rows: ids.length, cols: dim, data: values }
  }
}

/** A translator record; `dims` must match its spaces' dims (the store checks them). */
export function translator (id: string, source: string, target: string, set: string,
  params: Record<string, Float32Array> = { W: Float32Array.from([1, 0, 0, 1]), b: Float32Array.from([0.5, -0.5]) },
  dims: [number, number] = [2, 2]): TranslatorRecord {
  return {
    meta: {
      id,
      name: `${source}-to-${target}`,
      source,
      target,
      anchorSet: set,
      method: 'procrustes',
      scaling: 'standard',
      version: 0,
      createdAt,
      anchorsUsed: 3,
      sourceDim: dims[0],
      targetDim: dims[1],
      diagnostics: { rank: 2, fitResidual: 0.125, heldOut: { count: 1, meanCosine: 0.5 } },
      settings: { ridge: 0, empty: {}, list: [] }
    },
    params
  }
}

/** Deterministic finite float32 values covering every bit pattern class: -0, subnormals, extremes. */
export function awkwardFloats (n: number, seed = 1): Float32Array {
  const out = new Float32Array(n)
  const bits = new Uint32Array(out.buffer)
  const special = [
    0x00000000, 0x80000000, // +0, -0
    0x00000001, 0x80000001, 0x007fffff, // subnormals: smallest, negative, largest
    0x00800000, 0x7f7fffff, 0xff7fffff, // smallest normal, ±largest finite
    0x3f800000, 0x3eaaaaab // 1, 1/3
  ]
  let x = seed >>> 0 || 1
  for (let i = 0; i < n; i++) {
    if (i < special.length) {
      bits[i] = special[i]
      continue
    }
    // xorshift32: random bit patterns reach every exponent; NaN and Inf are turned finite.
    x ^= x << 13; x >>>= 0
    x ^= x >>> 17
    x ^= x << 5; x >>>= 0
    bits[i] = (x & 0x7f800000) === 0x7f800000 ? x & 0xbfffffff : x
  }
  return out
}

/** The index of the first value whose bits differ, or -1 when both arrays are bit-identical. */
export function firstBitDifference (a: Float32Array, b: Float32Array): number {
  if (a.length !== b.length) return Math.min(a.length, b.length)
  const ab = new Uint32Array(a.slice().buffer)
  const bb = new Uint32Array(b.slice().buffer)
  for (let i = 0; i < ab.length; i++) if (ab[i] !== bb[i]) return i
  return -1
}

function sortedDependents (d: Dependents): Dependents {
  return {
    embeddings: [...d.embeddings].sort((a, b) => `${a.set}|${a.space}`.localeCompare(`${b.set}|${b.space}`)),
    translators: [...d.translators].sort()
  }
}

/** Records a store's changes and waits for expected ones. */
function recordChanges (store: Store): {
  changes: StoreChange[]
  waitFor: (expected: StoreChange[], ms: number) => Promise<boolean>
  unsubscribe: () => void
} {
  const changes: StoreChange[] = []
  const unsubscribe = store.onChange(change => changes.push(change))
  const has = (e: StoreChange): boolean => changes.some(c => c.kind === e.kind && c.key === e.key)
  const waitFor = async (expected: StoreChange[], ms: number): Promise<boolean> => {
    const deadline = Date.now() + ms
    while (!expected.every(has)) {
      if (Date.now() > deadline) return false
      await sleep(10)
    }
    return true
  }
  return { changes, waitFor, unsubscribe }
}

async function sleep (ms: number): Promise<void> {
  await new Promise(resolve => setTimeout(resolve, ms))
}

/**
 * Waits until `listening`'s change feed carries `writer`'s changes, by writing a probe space until
 * one is heard. Pub/sub subscriptions start asynchronously, and what is published before then is lost.
 */
async function untilListening (writer: Store, recorder: ReturnType<typeof recordChanges>): Promise<void> {
  for (let i = 0; i < 50; i++) {
    await writer.putSpace(space('probe', 1, { description: `probe ${i}` }))
    if (await recorder.waitFor([{ kind: 'space', key: 'probe' }], 100)) {
      recorder.changes.length = 0
      return
    }
  }
  throw new Error('change feed never delivered a probe change')
}

/**
 * Spaces A (dim 2), B (dim 2), C (dim 2), D (dim 2, unused); sets wiki [a b c] and other [x y];
 * embeddings wiki/A, wiki/B, other/A, other/C; translators
 * t1 A→B on wiki, t2 B→C on wiki, t3 A→B on other, t4 C→A on other.
 */
async function seedGraph (store: Store): Promise<void> {
  for (const name of ['A', 'B', 'C', 'D']) await store.putSpace(space(name, 2))
  await store.putAnchorSet(anchorSet('wiki', ['a', 'b', 'c']))
  await store.putAnchorSet(anchorSet('other', ['x', 'y']))
  await store.putEmbeddings(embeddings('wiki', 'A', ['a', 'b', 'c'], 2))
  await store.putEmbeddings(embeddings('wiki', 'B', ['a', 'b', 'c'], 2))
  await store.putEmbeddings(embeddings('other', 'A', ['x', 'y'], 2))
  await store.putEmbeddings(embeddings('other', 'C', ['x', 'y'], 2))
  await store.createTranslator(translator('t1', 'A', 'B', 'wiki'), { activate: false })
  await store.createTranslator(translator('t2', 'B', 'C', 'wiki'), { activate: false })
  await store.createTranslator(translator('t3', 'A', 'B', 'other'), { activate: false })
  await store.createTranslator(translator('t4', 'C', 'A', 'other'), { activate: false })
}

export function storeContract (t: Test, makeStore: MakeStore): void {
  const withStore = (name: string, fn: (t: Test, h: StoreHarness) => Promise<void>): void => {
    t.test(name, async t => {
      const harness = await makeStore()
      t.teardown(harness.cleanup)
      await fn(t, harness)
    })
  }

  withStore('spaces: create, unchanged, updated, conflict', async (t, { store }) => {
    const created = await store.putSpace(space('A', 4, { description: 'first', metadata: { a: 1, b: { c: [1, 2] } } }))
    t.same(created, { status: 'created', value: space('A', 4, { description: 'first', metadata: { a: 1, b: { c: [1, 2] } } }) })

    // Key order of metadata does not matter; a later createdAt does not make it different.
    const same = await store.putSpace(space('A', 4, { description: 'first', metadata: { b: { c: [1, 2] }, a: 1 }, createdAt: later }))
    t.equal(same.status, 'unchanged')
    t.same(same.status === 'unchanged' && same.value, space('A', 4, { description: 'first', metadata: { a: 1, b: { c: [1, 2] } } }))

    const redescribed = await store.putSpace(space('A', 4, { description: 'second', metadata: { a: 1, b: { c: [1, 2] } }, createdAt: later }))
    t.equal(redescribed.status, 'updated')
    t.same(redescribed.status === 'updated' && redescribed.value,
      space('A', 4, { description: 'second', metadata: { a: 1, b: { c: [1, 2] } } }), 'createdAt kept')

    const remetadata = await store.putSpace(space('A', 4, { description: 'second', metadata: { a: 2.5e-7 }, createdAt: later }))
    t.equal(remetadata.status, 'updated', 'other metadata is an update')
    const undescribed = await store.putSpace(space('A', 4, { description: null, metadata: { a: 2.5e-7 } }))
    t.equal(undescribed.status, 'updated', 'description back to null is an update')

    const conflict = await store.putSpace(space('A', 8, { description: 'other dim' }))
    t.same(conflict, { status: 'conflict', existing: space('A', 4, { description: null, metadata: { a: 2.5e-7 } }) })
    t.same(await store.getSpace('A'), space('A', 4, { description: null, metadata: { a: 2.5e-7 } }), 'conflict changed nothing')
  })

  withStore('spaces: get and list', async (t, { store }) => {
    t.equal(await store.getSpace('nope'), null)
    t.same(await store.listSpaces(), [])
    await store.putSpace(space('sentence-transformers/all-MiniLM-L6-v2', 384, { metadata: { provider: 'hf' } }))
    await store.putSpace(space('B:2@x.y', 2))
    await store.putSpace(space('A', 3))
    t.same(await store.getSpace('sentence-transformers/all-MiniLM-L6-v2'),
      space('sentence-transformers/all-MiniLM-L6-v2', 384, { metadata: { provider: 'hf' } }))
    t.same((await store.listSpaces()).map(s => [s.name, s.dim]),
      [['A', 3], ['B:2@x.y', 2], ['sentence-transformers/all-MiniLM-L6-v2', 384]], 'sorted by name')
    t.same(await store.stats(), { spaces: 3, anchorSets: 0, translators: 0 })
  })

  withStore('spaces: delete, blocked by dependents, cascade', async (t, { store }) => {
    t.same(await store.deleteSpace('nope', { cascade: false }), { status: 'not-found' })
    t.same(await store.deleteSpace('nope', { cascade: true }), { status: 'not-found' })
    await seedGraph(store)

    const blockedA = await store.deleteSpace('A', { cascade: false })
    t.equal(blockedA.status, 'conflict')
    t.same(blockedA.status === 'conflict' && sortedDependents(blockedA.dependents), {
      embeddings: [{ set: 'other', space: 'A' }, { set: 'wiki', space: 'A' }],
      translators: ['t1', 't3', 't4']
    }, 'embeddings in every set, translators with A as source or target')
    t.ok(await store.getSpace('A'), 'still there')
    t.ok(await store.getEmbeddings('wiki', 'A'), 'embeddings still there')
    t.ok(await store.getTranslator('t1'), 'translator still there')

    const blockedC = await store.deleteSpace('C', { cascade: false })
    t.same(blockedC.status === 'conflict' && sortedDependents(blockedC.dependents), {
      embeddings: [{ set: 'other', space: 'C' }],
      translators: ['t2', 't4']
    }, 'C is t2\'s target and t4\'s source')

    const deleted = await store.deleteSpace('A', { cascade: true })
    t.equal(deleted.status, 'deleted')
    t.same(deleted.status === 'deleted' && sortedDependents(deleted.cascaded), {
      embeddings: [{ set: 'other', space: 'A' }, { set: 'wiki', space: 'A' }],
      translators: ['t1', 't3', 't4']
    })
    t.equal(await store.getSpace('A'), null)
    t.equal(await store.getEmbeddings('wiki', 'A'), null)
    t.equal(await store.getEmbeddings('other', 'A'), null)
    for (const id of ['t1', 't3', 't4']) t.equal(await store.getTranslator(id), null, `${id} deleted`)
    t.equal(await store.getActiveTranslatorId('A', 'B'), null, 'no active translator left for A→B')
    t.equal(await store.getActiveTranslatorId('C', 'A'), null)
    t.same((await store.listTranslators({})).map(tr => tr.id), ['t2'], 'only t2 survives')
    t.ok(await store.getEmbeddings('wiki', 'B'), 'other spaces keep their embeddings')
    const wiki = await store.getAnchorSetSummary('wiki')
    t.same(Object.keys(wiki?.spaces ?? {}), ['B'], 'the set no longer lists A')
    t.same(await store.stats(), { spaces: 3, anchorSets: 2, translators: 1 })

    t.same(await store.deleteSpace('D', { cascade: false }), { status: 'deleted', cascaded: { embeddings: [], translators: [] } })
  })

  withStore('anchor sets: create, unchanged, updated, conflict', async (t, { store }) => {
    const ids = ['a', 'b', 'c', 'é', '✓ id with spaces', 'x'.repeat(512)]
    t.same(await store.putAnchorSet(anchorSet('wiki', ids, 'words')), { status: 'created', value: anchorSet('wiki', ids, 'words') })
    t.same(await store.putAnchorSet({ ...anchorSet('wiki', ids, 'words'), createdAt: later }),
      { status: 'unchanged', value: anchorSet('wiki', ids, 'words') })
    t.same(await store.putAnchorSet({ ...anchorSet('wiki', ids, 'more words'), createdAt: later }),
      { status: 'updated', value: anchorSet('wiki', ids, 'more words') }, 'createdAt kept')
    t.same(await store.putAnchorSet(anchorSet('wiki', [...ids].reverse(), 'more words')),
      { status: 'conflict', existing: anchorSet('wiki', ids, 'more words') }, 'order matters')
    t.same(await store.putAnchorSet(anchorSet('wiki', ids.slice(1), 'more words')),
      { status: 'conflict', existing: anchorSet('wiki', ids, 'more words') }, 'a subset is other ids')
    t.same(await store.getAnchorSet('wiki'), anchorSet('wiki', ids, 'more words'))
    t.equal(await store.getAnchorSet('nope'), null)
    t.equal(await store.getAnchorSetSummary('nope'), null)
  })

  withStore('anchor sets: summary and list', async (t, { store }) => {
    await store.putSpace(space('A', 3))
    await store.putSpace(space('B', 2))
    await store.putAnchorSet(anchorSet('wiki', ['a', 'b', 'c', 'd'], 'w'))
    await store.putAnchorSet(anchorSet('empty', ['z']))
    t.same(await store.getAnchorSetSummary('wiki'), { name: 'wiki', size: 4, description: 'w', createdAt, revision: REVISION, spaces: {} })

    const a = embeddings('wiki', 'A', ['a', 'b', 'c'], 3, Float32Array.from([0, 0, 0, 3, 4, 0, 1, 2, 2]))
    const b = embeddings('wiki', 'B', ['d'], 2, Float32Array.from([0, 0]))
    await store.putEmbeddings(a)
    await store.putEmbeddings(b)
    const summary = await store.getAnchorSetSummary('wiki')
    t.not(summary?.revision, REVISION, 'the set has a new revision: its summary changed')
    t.same(summary, {
      name: 'wiki',
      size: 4,
      description: 'w',
      createdAt,
      revision: summary?.revision,
      spaces: {
        A: { space: 'A', rows: 3, dim: 3, zeroRows: 1, meanNorm: 8 / 3, updatedAt: later, revision: 'wiki/A/3x3' },
        B: { space: 'B', rows: 1, dim: 2, zeroRows: 1, meanNorm: 0, updatedAt: later, revision: 'wiki/B/1x2' }
      }
    })
    t.same(await store.listAnchorSets(), [
      { name: 'empty', size: 1, description: null, createdAt, revision: REVISION, spaces: {} },
      summary
    ], 'sorted by name')
    t.same(await store.stats(), { spaces: 2, anchorSets: 2, translators: 0 })
  })

  withStore('anchor sets: delete takes own embeddings, blocked by translators', async (t, { store }) => {
    t.same(await store.deleteAnchorSet('nope', { cascade: false }), { status: 'not-found' })
    await seedGraph(store)
    await store.putAnchorSet(anchorSet('plain', ['p', 'q']))
    await store.putEmbeddings(embeddings('plain', 'A', ['p', 'q'], 2))
    await store.putEmbeddings(embeddings('plain', 'B', ['q'], 2))

    const plain = await store.deleteAnchorSet('plain', { cascade: false })
    t.equal(plain.status, 'deleted', 'own embeddings do not block')
    t.same(plain.status === 'deleted' && sortedDependents(plain.cascaded),
      { embeddings: [{ set: 'plain', space: 'A' }, { set: 'plain', space: 'B' }], translators: [] })
    t.equal(await store.getAnchorSet('plain'), null)
    t.equal(await store.getEmbeddings('plain', 'A'), null)
    t.equal(await store.getEmbeddings('plain', 'B'), null)
    t.same(await store.putAnchorSet(anchorSet('plain', ['r'])), { status: 'created', value: anchorSet('plain', ['r']) },
      'a new set of the same name starts afresh')
    t.same((await store.getAnchorSetSummary('plain'))?.spaces, {}, 'with no embeddings')

    const blocked = await store.deleteAnchorSet('wiki', { cascade: false })
    t.equal(blocked.status, 'conflict')
    t.same(blocked.status === 'conflict' && sortedDependents(blocked.dependents).translators, ['t1', 't2'])
    t.ok(await store.getEmbeddings('wiki', 'A'), 'nothing deleted')

    const cascaded = await store.deleteAnchorSet('wiki', { cascade: true })
    t.equal(cascaded.status, 'deleted')
    t.same(cascaded.status === 'deleted' && sortedDependents(cascaded.cascaded).translators, ['t1', 't2'])
    t.equal(await store.getAnchorSet('wiki'), null)
    t.equal(await store.getEmbeddings('wiki', 'A'), null)
    t.same((await store.listTranslators({})).map(tr => tr.id), ['t3', 't4'], 'translators on other sets remain')
    t.equal(await store.getActiveTranslatorId('A', 'B'), null, 't1 was active for A→B; t3 is not promoted')
    t.equal(await store.getActiveTranslatorId('B', 'C'), null)
    t.same((await store.listAnchorSets()).map(s => s.name), ['other', 'plain'])
  })

  withStore('a space recreated with another dim since the caller checked it counts as missing', async (t, { store }) => {
    await store.putSpace(space('A', 2))
    await store.putSpace(space('B', 2))
    await store.putAnchorSet(anchorSet('wiki', ['a']))
    t.same(await store.putEmbeddings(embeddings('wiki', 'A', ['a'], 3)), { status: 'missing-space' }, 'embeddings of dim 3 for a dim-2 space')
    t.equal(await store.getEmbeddings('wiki', 'A'), null, 'nothing stored')
    const wide = translator('w', 'A', 'B', 'wiki')
    t.same(await store.createTranslator({ ...wide, meta: { ...wide.meta, sourceDim: 5 } }, { activate: true }), { status: 'missing', what: 'source' })
    t.same(await store.createTranslator({ ...wide, meta: { ...wide.meta, targetDim: 5 } }, { activate: true }), { status: 'missing', what: 'target' })
    t.equal(await store.getTranslatorMeta('w'), null, 'no translator stored')
    t.equal(await store.getActiveTranslatorId('A', 'B'), null)
  })

  withStore('embeddings: missing set or space', async (t, { store }) => {
    await store.putSpace(space('A', 2))
    await store.putAnchorSet(anchorSet('wiki', ['a']))
    t.same(await store.putEmbeddings(embeddings('nope', 'A', ['a'], 2)), { status: 'missing-set' })
    t.same(await store.putEmbeddings(embeddings('wiki', 'nope', ['a'], 2)), { status: 'missing-space' })
    t.equal(await store.getEmbeddings('wiki', 'A'), null)
    t.equal(await store.getEmbeddings('nope', 'A'), null)
    t.same((await store.getAnchorSetSummary('wiki'))?.spaces, {}, 'a failed put leaves no trace')
  })

  withStore('embeddings: a 2000 x 768 matrix round-trips bit for bit', async (t, { store }) => {
    await store.putSpace(space('big', 768))
    const ids = Array.from({ length: 2000 }, (_, i) => `item-${i}`)
    await store.putAnchorSet(anchorSet('wiki', ids))
    const rec = embeddings('wiki', 'big', ids, 768, awkwardFloats(2000 * 768, 7))
    const put = await store.putEmbeddings(rec)
    t.same(put, {
      status: 'stored',
      replaced: false,
      value: { space: 'big', rows: 2000, dim: 768, zeroRows: rec.zeroRows, meanNorm: rec.meanNorm, updatedAt: later, revision: rec.revision }
    })
    const got = await store.getEmbeddings('wiki', 'big')
    t.ok(got !== null)
    if (got === null) return
    t.same({ ...got, matrix: null }, { ...rec, matrix: null }, 'ids and summary')
    t.same([got.matrix.rows, got.matrix.cols], [2000, 768])
    t.ok(got.matrix.data instanceof Float32Array)
    t.equal(firstBitDifference(got.matrix.data, rec.matrix.data), -1, 'bit-exact (incl. -0, subnormals, extremes)')
    t.ok(Object.is(got.matrix.data[1], -0), '-0 survives')
  })

  withStore('embeddings: replace, subset ids', async (t, { store }) => {
    await store.putSpace(space('A', 3))
    await store.putAnchorSet(anchorSet('wiki', ['a', 'b', 'c', 'd', 'e']))
    await store.putEmbeddings(embeddings('wiki', 'A', ['a', 'b', 'c', 'd', 'e'], 3))
    const subset = embeddings('wiki', 'A', ['e', 'b', 'd'], 3, awkwardFloats(9, 3))
    const put = await store.putEmbeddings(subset)
    t.same(put.status === 'stored' && [put.replaced, put.value.rows], [true, 3], 'replaced')
    const got = await store.getEmbeddings('wiki', 'A')
    t.same(got?.ids, ['e', 'b', 'd'], 'rows follow the given ids')
    t.equal(got === null ? 0 : firstBitDifference(got.matrix.data, subset.matrix.data), -1)
    t.equal((await store.getAnchorSetSummary('wiki'))?.spaces.A.rows, 3, 'summary follows')
  })

  withStore('embeddings: delete, blocked by translators fitted on them', async (t, { store }) => {
    t.same(await store.deleteEmbeddings('wiki', 'A', { cascade: false }), { status: 'not-found' })
    await seedGraph(store)
    t.same(await store.deleteEmbeddings('other', 'B', { cascade: false }), { status: 'not-found' })

    const asSource = await store.deleteEmbeddings('wiki', 'A', { cascade: false })
    t.same(asSource.status === 'conflict' && sortedDependents(asSource.dependents).translators, ['t1'],
      'A is t1\'s source; t3 and t4 use A on another set')
    const asTarget = await store.deleteEmbeddings('wiki', 'B', { cascade: false })
    t.same(asTarget.status === 'conflict' && sortedDependents(asTarget.dependents).translators, ['t1', 't2'])
    t.ok(await store.getEmbeddings('wiki', 'B'), 'nothing deleted')

    const cascaded = await store.deleteEmbeddings('wiki', 'B', { cascade: true })
    t.same(cascaded.status === 'deleted' && sortedDependents(cascaded.cascaded), { embeddings: [], translators: ['t1', 't2'] })
    t.equal(await store.getEmbeddings('wiki', 'B'), null)
    t.ok(await store.getEmbeddings('wiki', 'A'), 'other spaces untouched')
    t.same(Object.keys((await store.getAnchorSetSummary('wiki'))?.spaces ?? {}), ['A'])
    t.same((await store.listTranslators({})).map(tr => tr.id), ['t3', 't4'])

    await store.putAnchorSet(anchorSet('free', ['f']))
    await store.putEmbeddings(embeddings('free', 'A', ['f'], 2))
    t.same(await store.deleteEmbeddings('free', 'A', { cascade: false }),
      { status: 'deleted', cascaded: { embeddings: [], translators: [] } })
    t.equal(await store.getEmbeddings('free', 'A'), null)
  })

  withStore('translators: neverActivate keeps even a pair\'s first translator inactive', async (t, { store }) => {
    for (const name of ['A', 'B']) await store.putSpace(space(name, 2))
    await store.putAnchorSet(anchorSet('wiki', ['a', 'b']))
    const first = await store.createTranslator(translator('u1', 'A', 'B', 'wiki'), { activate: true, neverActivate: true })
    t.same(first.status === 'created' && [first.value.version, first.value.active], [1, false])
    t.equal(await store.getActiveTranslatorId('A', 'B'), null, 'the pair still has no active translator')
    const next = await store.createTranslator(translator('u2', 'A', 'B', 'wiki'), { activate: false })
    t.same(next.status === 'created' && next.value.active, true, 'the next one is the pair\'s first active')
    await store.createTranslator(translator('u3', 'A', 'B', 'wiki'), { activate: false, neverActivate: true })
    t.equal(await store.getActiveTranslatorId('A', 'B'), 'u2')
  })

  withStore('translators: versions, activation, listing, delete', async (t, { store }) => {
    for (const name of ['A', 'B']) await store.putSpace(space(name, 2))
    await store.putAnchorSet(anchorSet('wiki', ['a', 'b']))

    const first = await store.createTranslator({ ...translator('t1', 'A', 'B', 'wiki'), meta: { ...translator('t1', 'A', 'B', 'wiki').meta, version: 99 } }, { activate: false })
    t.same(first, { status: 'created', value: { ...translator('t1', 'A', 'B', 'wiki').meta, version: 1, active: true } },
      'version 1, active as the pair\'s first; the given version is ignored')
    const second = await store.createTranslator(translator('t2', 'A', 'B', 'wiki'), { activate: false })
    t.same(second.status === 'created' && [second.value.version, second.value.active], [2, false])
    t.equal(await store.getActiveTranslatorId('A', 'B'), 't1')
    const third = await store.createTranslator(translator('t3', 'A', 'B', 'wiki'), { activate: true })
    t.same(third.status === 'created' && [third.value.version, third.value.active], [3, true])
    t.equal(await store.getActiveTranslatorId('A', 'B'), 't3')
    const reverse = await store.createTranslator(translator('r1', 'B', 'A', 'wiki'), { activate: false })
    t.same(reverse.status === 'created' && [reverse.value.version, reverse.value.active], [1, true], 'B→A counts on its own')
    t.equal(await store.getActiveTranslatorId('B', 'B'), null)

    t.same((await store.getTranslatorMeta('t1'))?.active, false)
    t.same(await store.getTranslatorMeta('t3'), { ...translator('t3', 'A', 'B', 'wiki').meta, version: 3, active: true })
    t.equal(await store.getTranslatorMeta('nope'), null)
    t.equal(await store.getTranslator('nope'), null)
    t.equal(await store.translatorExists('t1'), true)
    t.equal(await store.translatorExists('nope'), false)

    const brief = (list: Array<{ id: string, version: number, active: boolean }>): unknown[] => list.map(l => [l.id, l.version, l.active])
    t.same(brief(await store.listTranslators({})), [['t1', 1, false], ['t2', 2, false], ['t3', 3, true], ['r1', 1, true]],
      'sorted by source, target, version')
    t.same(brief(await store.listTranslators({ source: 'A' })), [['t1', 1, false], ['t2', 2, false], ['t3', 3, true]])
    t.same(brief(await store.listTranslators({ target: 'A' })), [['r1', 1, true]])
    t.same(brief(await store.listTranslators({ source: 'B', target: 'A' })), [['r1', 1, true]])
    t.same(await store.listTranslators({ source: 'A', target: 'A' }), [])

    const activated = await store.activateTranslator('t1')
    t.same(activated, { ...translator('t1', 'A', 'B', 'wiki').meta, version: 1, active: true })
    t.equal(await store.getActiveTranslatorId('A', 'B'), 't1')
    t.same((await store.getTranslatorMeta('t3'))?.active, false, 'the previous one is no longer active')
    t.equal(await store.activateTranslator('nope'), null)

    t.equal(await store.deleteTranslator('t1'), true)
    t.equal(await store.deleteTranslator('t1'), false, 'gone')
    t.equal(await store.getTranslator('t1'), null)
    t.equal(await store.translatorExists('t1'), false, 'deleted: no longer exists')
    t.equal(await store.getActiveTranslatorId('A', 'B'), null, 'deleting the active one leaves none active')
    t.same(brief(await store.listTranslators({ source: 'A', target: 'B' })), [['t2', 2, false], ['t3', 3, false]])
    t.equal(await store.getActiveTranslatorId('B', 'A'), 'r1', 'other pairs untouched')

    await store.deleteTranslator('t3')
    const next = await store.createTranslator(translator('t4', 'A', 'B', 'wiki'), { activate: false })
    t.same(next.status === 'created' && [next.value.version, next.value.active], [4, true],
      'versions are never reused; the first after none active becomes active')
    t.same(await store.stats(), { spaces: 2, anchorSets: 1, translators: 3 })

    const again = await store.createTranslator(translator('t4', 'A', 'B', 'wiki'), { activate: true })
    t.same(again.status === 'exists' && [again.value.id, again.value.version, again.value.active], ['t4', 4, true],
      'an id stored again for its pair returns the stored translator (work run twice stores once)')
    t.same(await store.stats(), { spaces: 2, anchorSets: 1, translators: 3 }, 'nothing new stored')
    t.same(brief(await store.listTranslators({ source: 'A', target: 'B' })).map(r => (r as unknown[])[1]), [2, 4], 'no version taken by the second store')
    await t.rejects(store.createTranslator(translator('t4', 'B', 'A', 'wiki'), { activate: false }), 'the same id for another pair is an error')
    t.same((await store.getTranslator('t4'))?.meta.version, 4, 'the first t4 is untouched')
  })

  withStore('translators: missing source, target or anchor set', async (t, { store }) => {
    await store.putSpace(space('A', 2))
    await store.putSpace(space('B', 2))
    await store.putAnchorSet(anchorSet('wiki', ['a']))
    t.same(await store.createTranslator(translator('x', 'nope', 'B', 'wiki'), { activate: true }), { status: 'missing', what: 'source' })
    t.same(await store.createTranslator(translator('x', 'A', 'nope', 'wiki'), { activate: true }), { status: 'missing', what: 'target' })
    t.same(await store.createTranslator(translator('x', 'A', 'B', 'nope'), { activate: true }), { status: 'missing', what: 'anchorSet' })
    t.equal(await store.getTranslator('x'), null, 'nothing stored')
    t.equal(await store.getActiveTranslatorId('A', 'B'), null)
    const created = await store.createTranslator(translator('x', 'A', 'B', 'wiki'), { activate: false })
    t.equal(created.status === 'created' && created.value.version, 1, 'failed creates used no version')

    // Versions survive the pair's spaces being deleted and made again.
    await store.deleteSpace('A', { cascade: true })
    t.equal(await store.getTranslator('x'), null)
    await store.putSpace(space('A', 2))
    const again = await store.createTranslator(translator('y', 'A', 'B', 'wiki'), { activate: false })
    t.same(again.status === 'created' && [again.value.version, again.value.active], [2, true])
  })

  withStore('translators: parameters round-trip bit for bit', async (t, { store }) => {
    await store.putSpace(space('A', 768))
    await store.putSpace(space('B', 384))
    await store.putAnchorSet(anchorSet('wiki', ['a']))
    // Odd lengths: small binary replies are unaligned slices of the client's receive buffer.
    const params: Record<string, Float32Array> = {
      W: awkwardFloats(768 * 384, 11),
      b: awkwardFloats(384, 12),
      one: awkwardFloats(1, 13),
      three: Float32Array.from([-0, 1.401298464324817e-45, -3.4028234663852886e38]),
      seven: awkwardFloats(7, 14),
      empty: new Float32Array(0),
      'mean.x': awkwardFloats(5, 15)
    }
    const rec = translator('p', 'A', 'B', 'wiki', params, [768, 384])
    await store.createTranslator(rec, { activate: true })
    const got = await store.getTranslator('p')
    t.ok(got !== null)
    if (got === null) return
    t.same(got.meta, { ...rec.meta, version: 1 })
    t.same(Object.keys(got.params).sort(), Object.keys(params).sort())
    for (const [name, values] of Object.entries(params)) {
      t.ok(got.params[name] instanceof Float32Array, `${name} is a Float32Array`)
      t.equal(firstBitDifference(got.params[name], values), -1, `${name} bit-exact`)
    }
    t.ok(Object.is(got.params.three[0], -0), '-0 survives')
  })

  withStore('concurrency: one space wins, versions stay distinct', async (t, { store }) => {
    const puts = await Promise.all(Array.from({ length: 20 }, (_, i) => store.putSpace(space('race', i + 1))))
    const created = puts.filter(p => p.status === 'created')
    t.equal(created.length, 1, 'exactly one created')
    const winner = created[0]?.status === 'created' ? created[0].value.dim : -1
    t.ok(puts.every(p => p.status === 'created' || (p.status === 'conflict' && p.existing.dim === winner) ||
      (p.status === 'unchanged' && p.value.dim === winner)), 'all others see the winner')
    t.equal((await store.getSpace('race'))?.dim, winner)

    await store.putSpace(space('A', 2))
    await store.putSpace(space('B', 2))
    await store.putAnchorSet(anchorSet('wiki', ['a']))
    const outcomes = await Promise.all(Array.from({ length: 12 }, (_, i) =>
      store.createTranslator(translator(`c${i}`, 'A', 'B', 'wiki'), { activate: false })))
    const versions = outcomes.map(o => o.status === 'created' ? o.value.version : 0).sort((a, b) => a - b)
    t.same(versions, Array.from({ length: 12 }, (_, i) => i + 1), 'distinct consecutive versions')
    const active = outcomes.filter(o => o.status === 'created' && o.value.active)
    t.equal(active.length, 1, 'exactly one became active')
    t.equal(active[0]?.status === 'created' && active[0].value.version, 1, 'the first one')
    t.equal(await store.getActiveTranslatorId('A', 'B'), active[0]?.status === 'created' ? active[0].value.id : null)

    // Deleting a space while translators on it are being created leaves no orphan behind.
    await store.putSpace(space('C', 2))
    const mixed = await Promise.all([
      ...Array.from({ length: 6 }, (_, i) => store.createTranslator(translator(`m${i}`, 'A', 'C', 'wiki'), { activate: false })),
      store.deleteSpace('C', { cascade: true })
    ])
    t.ok(mixed.length > 0)
    const orphans = (await store.listTranslators({ target: 'C' })).map(l => l.id)
    t.same(orphans, [], 'no translator outlives its target space')
  })

  withStore('isolation: stored state cannot be changed through arrays', async (t, { store }) => {
    const metadata = { nested: { x: 1 }, list: [1, 2] }
    const spaceIn = space('A', 2, { metadata })
    const put = await store.putSpace(spaceIn)
    metadata.nested.x = 99
    metadata.list.push(3)
    if (put.status === 'created') put.value.metadata.added = true
    const got = await store.getSpace('A')
    t.same(got?.metadata, { nested: { x: 1 }, list: [1, 2] }, 'input and returned objects are copies')
    if (got !== null) (got.metadata.nested as { x: number }).x = 7
    t.same((await store.getSpace('A'))?.metadata, { nested: { x: 1 }, list: [1, 2] })

    const ids = ['a', 'b']
    await store.putAnchorSet(anchorSet('wiki', ids))
    ids.push('c')
    const set = await store.getAnchorSet('wiki')
    t.same(set?.ids, ['a', 'b'])
    set?.ids.push('d')
    t.same((await store.getAnchorSet('wiki'))?.ids, ['a', 'b'])

    const rec = embeddings('wiki', 'A', ['a', 'b'], 2, Float32Array.from([1, 2, 3, 4]))
    await store.putEmbeddings(rec)
    rec.matrix.data[0] = 100
    rec.ids[0] = 'z'
    const emb = await store.getEmbeddings('wiki', 'A')
    t.same(emb === null ? null : [Array.from(emb.matrix.data), emb.ids], [[1, 2, 3, 4], ['a', 'b']])
    if (emb !== null) {
      emb.matrix.data[1] = 200
      emb.ids[1] = 'y'
    }
    const again = await store.getEmbeddings('wiki', 'A')
    t.same(again === null ? null : [Array.from(again.matrix.data), again.ids], [[1, 2, 3, 4], ['a', 'b']])

    await store.putSpace(space('B', 2))
    const tr = translator('t', 'A', 'B', 'wiki', { W: Float32Array.from([1, 2]) })
    await store.createTranslator(tr, { activate: true })
    tr.params.W[0] = 50;
    (tr.meta.diagnostics as { rank: number }).rank = 50
    const gotTr = await store.getTranslator('t')
    t.same(gotTr === null ? null : [Array.from(gotTr.params.W), gotTr.meta.diagnostics.rank], [[1, 2], 2])
    if (gotTr !== null) {
      gotTr.params.W[1] = 60
      gotTr.meta.diagnostics.rank = 60
    }
    const againTr = await store.getTranslator('t')
    t.same(againTr === null ? null : [Array.from(againTr.params.W), againTr.meta.diagnostics.rank], [[1, 2], 2])
  })

  withStore('onChange: a store reports its own changes', async (t, { store }) => {
    const recorder = recordChanges(store)
    await untilListening(store, recorder)
    await store.putSpace(space('A', 2))
    await store.putSpace(space('B', 2))
    await store.putAnchorSet(anchorSet('wiki', ['a']))
    await store.putEmbeddings(embeddings('wiki', 'A', ['a'], 2))
    await store.createTranslator(translator('t1', 'A', 'B', 'wiki'), { activate: false })
    t.ok(await recorder.waitFor([
      { kind: 'space', key: 'A' },
      { kind: 'space', key: 'B' },
      { kind: 'anchorSet', key: 'wiki' },
      { kind: 'embeddings', key: 'wiki|A' },
      { kind: 'translator', key: 't1' },
      { kind: 'active', key: 'A|B' }
    ], 1000), 'creations reported')

    recorder.changes.length = 0
    await store.deleteSpace('A', { cascade: true })
    t.ok(await recorder.waitFor([
      { kind: 'translator', key: 't1' },
      { kind: 'active', key: 'A|B' },
      { kind: 'embeddings', key: 'wiki|A' },
      { kind: 'space', key: 'A' }
    ], 1000), 'a cascade reports everything it deleted')

    recorder.changes.length = 0
    await store.putSpace(space('B', 2))
    await store.putSpace(space('B', 3))
    await store.putAnchorSet(anchorSet('wiki', ['a']))
    const marker = space('marker', 1)
    await store.putSpace(marker)
    t.ok(await recorder.waitFor([{ kind: 'space', key: 'marker' }], 1000))
    t.same(recorder.changes, [{ kind: 'space', key: 'marker' }], 'unchanged and conflicting puts report nothing')

    recorder.unsubscribe()
    const late = recordChanges(store)
    await store.putSpace(space('after', 1))
    t.ok(await late.waitFor([{ kind: 'space', key: 'after' }], 1000))
    t.same(recorder.changes, [{ kind: 'space', key: 'marker' }], 'nothing after unsubscribing')
    late.unsubscribe()
  })

  withStore('onChange: another instance sees and hears changes', async (t, { store, another }) => {
    if (another === undefined) {
      t.pass('this backend has no shared data: nothing to check')
      return
    }
    const replica = await another()
    const recorder = recordChanges(replica)
    await untilListening(store, recorder)

    await store.putSpace(space('A', 2))
    await store.putSpace(space('B', 2))
    await store.putAnchorSet(anchorSet('wiki', ['a']))
    t.same(await replica.getSpace('A'), space('A', 2), 'shared data')

    const started = Date.now()
    await store.createTranslator(translator('t1', 'A', 'B', 'wiki'), { activate: false })
    t.ok(await recorder.waitFor([{ kind: 'translator', key: 't1' }, { kind: 'active', key: 'A|B' }], 1000),
      'createTranslator heard within 1 s')
    t.same((await replica.getTranslatorMeta('t1'))?.active, true, 'and visible once heard')

    await store.createTranslator(translator('t2', 'A', 'B', 'wiki'), { activate: false })
    recorder.changes.length = 0
    await store.activateTranslator('t2')
    t.ok(await recorder.waitFor([{ kind: 'active', key: 'A|B' }], 1000), 'activate heard within 1 s')
    t.equal(await replica.getActiveTranslatorId('A', 'B'), 't2')
    t.ok(Date.now() - started < 3000)

    const own = recordChanges(store)
    await untilListening(replica, own)
    await replica.deleteTranslator('t2')
    t.ok(await own.waitFor([{ kind: 'translator', key: 't2' }, { kind: 'active', key: 'A|B' }], 1000),
      'and the other way round: deleting the active translator')
    t.equal(await store.getActiveTranslatorId('A', 'B'), null)
    own.unsubscribe()
    recorder.unsubscribe()
  })

  withStore('embeddings: an expected revision (If-Match) is checked with the write', async (t, { store }) => {
    await store.putSpace(space('A', 2))
    await store.putAnchorSet(anchorSet('wiki', ['a', 'b']))
    const first = { ...embeddings('wiki', 'A', ['a', 'b'], 2), revision: 'r1' }
    const second = { ...embeddings('wiki', 'A', ['a', 'b'], 2, Float32Array.from([1, 2, 3, 4])), revision: 'r2' }

    t.same(await store.putEmbeddings(first, { ifRevision: '*' }), { status: 'precondition-failed' }, "'*' with nothing stored fails")
    t.same(await store.putEmbeddings(first, { ifRevision: ['r0'] }), { status: 'precondition-failed' }, 'a revision with nothing stored fails')
    t.equal(await store.getEmbeddings('wiki', 'A'), null, 'nothing stored')
    t.equal((await store.putEmbeddings(first)).status, 'stored', 'no precondition: stored')

    t.same(await store.putEmbeddings(second, { ifRevision: ['r0', 'other'] }), { status: 'precondition-failed' }, 'stale revisions fail')
    t.equal((await store.getEmbeddings('wiki', 'A'))?.revision, 'r1', 'and change nothing')
    t.match(await store.putEmbeddings(second, { ifRevision: ['r0', 'r1'] }), { status: 'stored', replaced: true }, 'the current revision in the list: stored')
    t.match(await store.putEmbeddings({ ...second, revision: 'r3' }, { ifRevision: '*' }), { status: 'stored' }, "'*' with something stored: stored")

    // The missing-set and missing-space checks come first: they say what is wrong with the target.
    t.same(await store.putEmbeddings({ ...first, set: 'nope' }, { ifRevision: ['r3'] }), { status: 'missing-set' })

    // Two writers that read r3: exactly one of them stores.
    const raced = await Promise.all([
      store.putEmbeddings({ ...first, revision: 'x' }, { ifRevision: ['r3'] }),
      store.putEmbeddings({ ...second, revision: 'y' }, { ifRevision: ['r3'] })
    ])
    t.same(raced.map(r => r.status).sort(), ['precondition-failed', 'stored'], 'one writer wins, the other fails')
    const winner = raced[0].status === 'stored' ? 'x' : 'y'
    t.equal((await store.getEmbeddings('wiki', 'A'))?.revision, winner)

    t.same(await store.putEmbeddings({ ...first, revision: 'z' }, { ifNoneRevision: '*' }), { status: 'precondition-failed' }, "If-None-Match '*' when stored fails")
    t.same(await store.putEmbeddings({ ...first, revision: 'z' }, { ifNoneRevision: [winner] }), { status: 'precondition-failed' }, 'If-None-Match naming the current revision fails')
    t.equal((await store.getEmbeddings('wiki', 'A'))?.revision, winner, 'and change nothing')
    await store.putSpace(space('B', 2))
    t.match(await store.putEmbeddings({ ...first, space: 'B', revision: 'b1' }, { ifNoneRevision: '*' }), { status: 'stored', replaced: false }, "If-None-Match '*' with nothing stored: stored")

    t.same(await store.deleteEmbeddings('wiki', 'A', { cascade: false, ifRevision: ['r3'] }), { status: 'precondition-failed' }, 'a stale delete fails')
    t.equal((await store.getEmbeddings('wiki', 'A'))?.revision, winner, 'and deletes nothing')
    t.match(await store.deleteEmbeddings('wiki', 'A', { cascade: false, ifRevision: [winner] }), { status: 'deleted' }, 'the current revision deletes')
    t.same(await store.deleteEmbeddings('wiki', 'A', { cascade: false, ifRevision: '*' }), { status: 'precondition-failed' }, "'*' on nothing stored fails")
    t.same(await store.deleteEmbeddings('wiki', 'A', { cascade: false }), { status: 'not-found' }, 'without a precondition: not found')
  })
  withStore('spaces: If-Match and If-None-Match are checked with the write', async (t, { store }) => {
    t.same(await store.putSpace(space('A', 2, { revision: 'r1' }), { ifRevision: '*' }), { status: 'precondition-failed' }, "If-Match '*' with nothing stored fails")
    t.same(await store.putSpace(space('A', 2, { revision: 'r1' }), { ifRevision: ['r1'] }), { status: 'precondition-failed' }, 'a revision with nothing stored fails')
    t.equal(await store.getSpace('A'), null, 'nothing stored')
    t.match(await store.putSpace(space('A', 2, { revision: 'r1' }), { ifNoneRevision: '*' }), { status: 'created', value: { revision: 'r1' } }, "If-None-Match '*' with nothing stored: created")
    t.same(await store.putSpace(space('A', 2, { revision: 'r2', description: 'x' }), { ifNoneRevision: '*' }), { status: 'precondition-failed' }, "If-None-Match '*' when it exists fails")
    t.same(await store.putSpace(space('A', 2, { revision: 'r2', description: 'x' }), { ifNoneRevision: ['r0', 'r1'] }), { status: 'precondition-failed' }, 'If-None-Match naming the current revision fails')
    t.same(await store.putSpace(space('A', 2, { revision: 'r2', description: 'x' }), { ifRevision: ['r0'] }), { status: 'precondition-failed' }, 'a stale If-Match fails')
    t.same(await store.putSpace(space('A', 8, { revision: 'r2' }), { ifRevision: ['r0'] }), { status: 'precondition-failed' }, 'preconditions come before the dim conflict')
    t.equal((await store.getSpace('A'))?.revision, 'r1', 'and change nothing')
    t.equal((await store.getSpace('A'))?.description, null)

    t.match(await store.putSpace(space('A', 2, { revision: 'r2', description: 'x' }), { ifRevision: ['r0', 'r1'] }), { status: 'updated', value: { revision: 'r2', description: 'x' } }, 'the current revision in the list: updated, with the new revision')
    t.match(await store.putSpace(space('A', 2, { revision: 'r3', description: 'x' }), { ifRevision: ['r2'] }), { status: 'unchanged', value: { revision: 'r2' } }, 'an identical put keeps the revision')
    t.match(await store.putSpace(space('A', 2, { revision: 'r3', description: 'y' }), { ifRevision: '*', ifNoneRevision: ['r1'] }), { status: 'updated', value: { revision: 'r3' } }, "If-Match '*' and a stale If-None-Match: updated")
    t.equal((await store.getSpace('A'))?.revision, 'r3')
    t.same((await store.listSpaces()).map(s => s.revision), ['r3'], 'lists carry revisions')

    // Two writers that read r3: exactly one of them stores.
    const raced = await Promise.all([
      store.putSpace(space('A', 2, { revision: 'x', description: 'by x' }), { ifRevision: ['r3'] }),
      store.putSpace(space('A', 2, { revision: 'y', description: 'by y' }), { ifRevision: ['r3'] })
    ])
    t.same(raced.map(r => r.status).sort(), ['precondition-failed', 'updated'], 'one writer wins, the other fails')
    const winner = raced[0].status === 'updated' ? 'x' : 'y'
    t.match(await store.getSpace('A'), { revision: winner, description: `by ${winner}` })

    t.same(await store.deleteSpace('A', { cascade: true, ifRevision: ['r3'] }), { status: 'precondition-failed' }, 'a stale delete fails')
    t.ok(await store.getSpace('A'), 'and deletes nothing')
    t.match(await store.deleteSpace('A', { cascade: false, ifRevision: [winner] }), { status: 'deleted' }, 'the current revision deletes')
    t.same(await store.deleteSpace('A', { cascade: false, ifRevision: '*' }), { status: 'precondition-failed' }, "'*' on nothing stored fails")
    t.same(await store.deleteSpace('A', { cascade: false }), { status: 'not-found' }, 'without a precondition: not found')
  })

  withStore('anchor sets: If-Match and If-None-Match are checked with the write', async (t, { store }) => {
    const ids = ['a', 'b']
    t.same(await store.putAnchorSet(anchorSet('wiki', ids, null, 'r1'), { ifRevision: '*' }), { status: 'precondition-failed' }, "If-Match '*' with nothing stored fails")
    t.equal(await store.getAnchorSet('wiki'), null, 'nothing stored')
    t.match(await store.putAnchorSet(anchorSet('wiki', ids, null, 'r1'), { ifNoneRevision: '*' }), { status: 'created', value: { revision: 'r1' } })
    t.same(await store.putAnchorSet(anchorSet('wiki', ids, 'd', 'r2'), { ifNoneRevision: '*' }), { status: 'precondition-failed' }, "If-None-Match '*' when it exists fails")
    t.same(await store.putAnchorSet(anchorSet('wiki', ['z'], 'd', 'r2'), { ifRevision: ['r0'] }), { status: 'precondition-failed' }, 'a stale If-Match fails, before the ids conflict')
    t.match(await store.getAnchorSet('wiki'), { revision: 'r1', description: null }, 'and changes nothing')
    t.match(await store.putAnchorSet(anchorSet('wiki', ids, 'd', 'r2'), { ifRevision: ['r1'] }), { status: 'updated', value: { revision: 'r2' } })
    t.match(await store.putAnchorSet(anchorSet('wiki', ids, 'd', 'r3'), { ifRevision: ['r2'] }), { status: 'unchanged', value: { revision: 'r2' } }, 'an identical put keeps the revision')
    t.equal((await store.getAnchorSetSummary('wiki'))?.revision, 'r2', 'the summary carries it')

    const raced = await Promise.all([
      store.putAnchorSet(anchorSet('wiki', ids, 'by x', 'x'), { ifRevision: ['r2'] }),
      store.putAnchorSet(anchorSet('wiki', ids, 'by y', 'y'), { ifRevision: ['r2'] })
    ])
    t.same(raced.map(r => r.status).sort(), ['precondition-failed', 'updated'], 'one writer wins, the other fails')
    const winner = raced[0].status === 'updated' ? 'x' : 'y'
    t.equal((await store.getAnchorSet('wiki'))?.revision, winner)

    t.same(await store.deleteAnchorSet('wiki', { cascade: true, ifRevision: ['r2'] }), { status: 'precondition-failed' }, 'a stale delete fails')
    t.ok(await store.getAnchorSet('wiki'), 'and deletes nothing')
    t.match(await store.deleteAnchorSet('wiki', { cascade: false, ifRevision: [winner] }), { status: 'deleted' })
    t.same(await store.deleteAnchorSet('wiki', { cascade: false, ifRevision: '*' }), { status: 'precondition-failed' }, "'*' on nothing stored fails")
    t.same(await store.deleteAnchorSet('wiki', { cascade: false }), { status: 'not-found' })
  })

  withStore("anchor sets: a set's revision changes with the embeddings it holds, a space's does not", async (t, { store }) => {
    await store.putSpace(space('A', 2, { revision: 'sA' }))
    await store.putAnchorSet(anchorSet('wiki', ['a', 'b'], null, 'r1'))
    await store.putAnchorSet(anchorSet('other', ['a'], null, 'o1'))
    const seen = new Set(['r1'])
    const next = async (label: string): Promise<string> => {
      const revision = (await store.getAnchorSet('wiki'))?.revision ?? ''
      t.notOk(seen.has(revision), `${label}: a new revision`)
      t.equal((await store.getAnchorSetSummary('wiki'))?.revision, revision, `${label}: the summary's too`)
      seen.add(revision)
      return revision
    }
    await store.putEmbeddings(embeddings('wiki', 'A', ['a', 'b'], 2))
    await next('upload')
    t.same(await store.putAnchorSet(anchorSet('wiki', ['a', 'b'], 'd', 'r9'), { ifRevision: ['r1'] }), { status: 'precondition-failed' }, 'the revision read before the upload is stale')
    await store.putEmbeddings({ ...embeddings('wiki', 'A', ['a', 'b'], 2), revision: 'again' })
    const again = await next('another upload')
    t.same(await store.putEmbeddings(embeddings('wiki', 'A', ['a'], 2), { ifRevision: ['stale'] }), { status: 'precondition-failed' })
    t.equal((await store.getAnchorSet('wiki'))?.revision, again, 'a refused upload leaves it as it was')
    await store.deleteEmbeddings('wiki', 'A', { cascade: false })
    await next('delete')
    await store.putEmbeddings(embeddings('wiki', 'A', ['a', 'b'], 2))
    await next('upload again')
    await store.putEmbeddings(embeddings('other', 'A', ['a'], 2))
    const other = (await store.getAnchorSet('other'))?.revision
    await store.deleteSpace('A', { cascade: true })
    await next('its space deleted')
    t.not((await store.getAnchorSet('other'))?.revision, other, 'every set that lost embeddings')
    t.equal(await store.getSpace('A'), null)
    await store.putSpace(space('A', 2, { revision: 'sA' }))
    await store.putEmbeddings(embeddings('wiki', 'A', ['a', 'b'], 2))
    t.equal((await store.getSpace('A'))?.revision, 'sA', "a space's revision does not follow embeddings")
  })
}
