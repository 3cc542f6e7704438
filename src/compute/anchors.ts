/**
 * The anchors of a relative projection, kept between requests. Reading them from the store on
 * every request copies the whole matrix (3 MB for 1,000 x 768: 1.5 to 2.7 ms of a 40 ms request
 * on the loaded development VM, and a multi-megabyte GET from Redis). An upload's revision names
 * its exact rows (a new value for every upload, never reused), so rows kept under the revisions
 * the store reports now are the rows it holds now: each request reads only the set's summary (the
 * revisions), and the rows only when they changed. A re-upload or a delete is seen by the next
 * request's summary read, as before.
 */
import { anchorDigest } from '../anchors/digest.js'
import { commonRows } from '../anchors/parallel.js'
import { unprocessable } from '../errors.js'
import type { Matrix } from '../math/matrix.js'
import { requireEmbeddings } from '../store/require.js'
import type { Store } from '../store/types.js'
import { LruCache } from '../util/lru.js'

export interface LoadedAnchors {
  /** The anchor ids, in set order, that the space (and every `commonWith` space) holds. */
  ids: string[]
  /** The space's rows of those ids. Shared between requests: never written to. */
  matrix: Matrix
  /**
   * Names that content with the space: the set and the uploads' revisions of the space and the
   * `commonWith` spaces, in name order (so the same for the space's and another's projection).
   */
  stamp: string
  /** anchorDigest(ids). */
  digest: string
}

/** Bytes of anchor rows kept by default. */
export const DEFAULT_ANCHORS_CACHE_BYTES = 64 * 1024 * 1024

const stampOf = (set: string, names: string[], revisions: string[]): string =>
  JSON.stringify([set, names.map((name, i) => [name, revisions[i]]).sort()])
const keyOf = (space: string, stamp: string): string => JSON.stringify([space, stamp])

export class AnchorsCache {
  /** By space and stamp (the stamp alone does not say whose rows), bounded by count and bytes. */
  private readonly entries: LruCache<string, LoadedAnchors>
  hits = 0
  misses = 0

  constructor (maxBytes = DEFAULT_ANCHORS_CACHE_BYTES, maxEntries = 32) {
    this.entries = new LruCache(maxEntries, () => {}, { of: loaded => loaded.matrix.data.byteLength, max: maxBytes })
  }

  get size (): number {
    return this.entries.size
  }

  /**
   * The anchors of `space` in `set`, restricted to the ids the `commonWith` spaces also hold.
   * 404 when the set or an embeddings upload is missing, 422 when the spaces share no id.
   */
  async load (store: Store, set: string, space: string, commonWith: string[]): Promise<LoadedAnchors> {
    const names = [space, ...commonWith.filter(s => s !== space)]
    const summary = await store.getAnchorSetSummary(set)
    const revisions = names.map(name => summary?.spaces[name]?.revision)
    if (revisions.every(r => r !== undefined)) {
      const cached = this.entries.get(keyOf(space, stampOf(set, names, revisions as string[])))
      if (cached !== undefined) {
        this.hits++
        return cached
      }
    }
    this.misses++
    // Missing uploads are reported as before: by the store reads that find them missing.
    const held = await Promise.all(names.map(async name => await requireEmbeddings(store, set, name)))
    const { ids, matrices } = commonRows(held)
    if (ids.length === 0) {
      throw unprocessable(`spaces ${names.map(n => `"${n}"`).join(', ')} hold no anchor id in common in set "${set}"`)
    }
    const loaded: LoadedAnchors = { ids, matrix: matrices[0], stamp: stampOf(set, names, held.map(h => h.revision)), digest: anchorDigest(ids) }
    const key = keyOf(space, loaded.stamp)
    // A concurrent miss may have kept the same rows already: keep the first.
    if (!this.entries.has(key)) this.entries.set(key, loaded)
    return loaded
  }

  clear (): void {
    this.entries.clear()
  }
}
