import { LruCache } from '../util/lru.js'
import type { Engine } from '../engine/types.js'
import { notFound, unprocessable } from '../errors.js'
import type { LinearMap } from './map.js'
import type { Store, TranslatorMeta } from '../store/types.js'
import type { ConfidenceModel } from '../fit/confidence.js'
import { storedToConfidence, storedToMap } from './record.js'

export interface LoadedTranslator {
  meta: TranslatorMeta
  map: LinearMap
  /** null for a translator stored before per-vector confidence existed. */
  confidence: ConfidenceModel | null
}

/**
 * Decoded translators, by id, in a bounded cache. A stored translator never changes (a refit is a
 * new id and version), so an entry only goes stale when its translator is deleted. The store's
 * change feed (Redis pub/sub across replicas) evicts it and releases its engine session, but the
 * feed is asynchronous (another replica hears of a delete some milliseconds after it was
 * acknowledged) and loses what is published while it is disconnected (on a `resync` the whole
 * cache is dropped). So the feed only frees memory; whether a translator may be used is decided by
 * the store on every call, in the one small read each call makes: the pair's active id (which a
 * delete clears in the same atomic step) or, for a call that names an id held here, whether that id
 * still exists. After a delete is acknowledged, no replica uses the translator again, and an
 * activation on any replica takes effect at once.
 */
export class TranslatorCache {
  private readonly cache: LruCache<string, LoadedTranslator>
  private readonly unsubscribe: () => void
  hits = 0
  misses = 0
  evictions = 0
  resyncs = 0
  private closed = false
  /** Loads in progress, by id: an eviction of that id or a resync marks them stale (not to be cached). */
  private readonly loading = new Map<string, Set<{ stale: boolean }>>()

  constructor (private readonly store: Store, private readonly engine: Engine, capacity: number) {
    this.cache = new LruCache(capacity, (_value, id) => {
      if (this.closed) return
      this.evictions++
      void this.engine.forget(id).catch(() => {})
    })
    this.unsubscribe = store.onChange(change => {
      if (change.kind === 'translator') this.evict(change.key)
      else if (change.kind === 'resync') this.resync()
    })
  }

  get size (): number {
    return this.cache.size
  }

  evict (id: string): void {
    for (const load of this.loading.get(id) ?? []) load.stale = true
    if (this.cache.delete(id)) void this.engine.forget(id).catch(() => {})
  }

  /** Drops every entry (and its engine session): changes may have been missed. */
  resync (): void {
    for (const loads of this.loading.values()) for (const load of loads) load.stale = true
    this.resyncs++
    this.cache.clear()
  }

  /** The translator with this id, or null when it does not exist (asked of the store on every call). */
  async get (id: string): Promise<LoadedTranslator | null> {
    return await this.load(id, false)
  }

  /**
   * `known`: the caller has just read from the store that the id exists (the pair's active id), so
   * a cached entry is used without asking again. Otherwise a cached entry costs one existence check.
   */
  private async load (id: string, known: boolean): Promise<LoadedTranslator | null> {
    const cached = this.cache.get(id)
    if (cached !== undefined) {
      if (!known && !await this.store.translatorExists(id)) {
        // Deleted, and this replica has not heard of it yet.
        this.evict(id)
        return null
      }
      this.hits++
      return cached
    }
    this.misses++
    const load = { stale: false }
    const loads = this.loading.get(id) ?? new Set()
    this.loading.set(id, loads.add(load))
    let record
    try {
      record = await this.store.getTranslator(id)
    } finally {
      loads.delete(load)
      if (loads.size === 0) this.loading.delete(id)
    }
    if (record === null) return null
    const loaded = { meta: record.meta, map: storedToMap(record), confidence: storedToConfidence(record) }
    // A delete or resync heard meanwhile may concern this very record: use it, but do not keep it.
    if (!load.stale) this.cache.set(id, loaded)
    return loaded
  }

  /**
   * The translator a translate call uses: the one named, which must map source to target, or
   * else the pair's active one. When the pair has none, says which space does not exist, if one
   * does not.
   */
  async resolve (source: string, target: string, id?: string): Promise<LoadedTranslator> {
    if (id !== undefined) {
      const named = await this.get(id)
      if (named === null) throw notFound(`translator "${id}" does not exist`)
      if (named.meta.source !== source || named.meta.target !== target) {
        throw unprocessable(`translator "${id}" maps "${named.meta.source}" to "${named.meta.target}", not "${source}" to "${target}"`)
      }
      return named
    }
    const activeId = await this.store.getActiveTranslatorId(source, target)
    if (activeId === null) throw await this.noActiveTranslator(source, target)
    const active = await this.load(activeId, true)
    // Deleted between the two reads: the pair has no active translator any more.
    if (active === null) throw notFound(`no active translator from "${source}" to "${target}"`)
    return active
  }

  /** Why a pair has no active translator: a space that does not exist, or none fitted (or activated). */
  private async noActiveTranslator (source: string, target: string): Promise<Error> {
    // Only on this error path: a successful call makes no more than its one read.
    const [sourceSpace, targetSpace] = await Promise.all([this.store.getSpace(source), this.store.getSpace(target)])
    const missing: string[] = []
    if (sourceSpace === null) missing.push(source)
    if (targetSpace === null && target !== source) missing.push(target)
    if (missing.length > 0) {
      const names = missing.map(name => `"${name}"`).join(' and ')
      return notFound(`no space named ${names}; list the spaces with GET /v1/spaces, or create ${missing.length > 1 ? 'them' : 'it'} with PUT /v1/spaces/{name}`)
    }
    return notFound(`no active translator from "${source}" to "${target}"; fit one with POST /v1/translators { "source": "${source}", "target": "${target}", "anchorSet": ... }`)
  }

  close (): void {
    this.unsubscribe()
    // The app is closing: its engine sessions go with the engine, no need to release them one by one.
    this.closed = true
    this.cache.clear()
  }
}
