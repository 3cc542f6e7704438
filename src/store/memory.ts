import { randomUUID } from 'node:crypto'
import { isDeepStrictEqual } from 'node:util'
import type { Matrix } from '../math/matrix.js'
import type {
  AnchorSetRecord,
  AnchorSetSummary,
  CreateTranslatorOutcome,
  DeleteOutcome,
  Dependents,
  EmbeddingsRecord,
  EmbeddingsSummary,
  PutEmbeddingsOutcome,
  PutOutcome,
  RevisionPrecondition,
  SpaceRecord,
  Store,
  StoreChange,
  StoreStats,
  TranslatorListing,
  TranslatorMeta,
  TranslatorRecord,
  WritePreconditions
} from './types.js'
import { checkEmbeddingsShape, preconditionsHold, summaryOf } from './records.js'

export interface MemoryStoreOptions {
  /** Receives errors thrown by change listeners; without it they become process warnings. */
  logger?: { error: Function }
}

interface StoredAnchorSet {
  record: AnchorSetRecord
  /** space name → that space's embeddings in this set */
  embeddings: Map<string, EmbeddingsRecord>
}

/**
 * A store held in process memory: for development, tests and single-replica deployments.
 *
 * Every method does all its work synchronously before its promise settles (no await in between),
 * so each call is atomic with respect to every other call, like a Lua script in the Redis store.
 * Matrices, ids, metadata and parameters are copied on the way in and on the way out, so no caller
 * can change stored state by mutating an array it passed or received.
 *
 * onChange listeners hear only this instance's changes. They are called on the next tick
 * (process.nextTick) after the change has been applied, never inside the store call, which is
 * how Redis pub/sub delivers them too.
 */
export class MemoryStore implements Store {
  readonly kind = 'memory' as const

  private readonly spaces = new Map<string, SpaceRecord>()
  private readonly sets = new Map<string, StoredAnchorSet>()
  private readonly translators = new Map<string, TranslatorRecord>()
  /** `source|target` → active translator id */
  private readonly active = new Map<string, string>()
  /** `source|target` → last version handed out; never decreases, never deleted, so versions are never reused */
  private readonly versions = new Map<string, number>()
  private readonly listeners = new Set<(change: StoreChange) => void>()
  private readonly logger: { error: Function } | undefined

  constructor (opts: MemoryStoreOptions = {}) {
    this.logger = opts.logger
  }

  async ping (): Promise<void> {}

  async close (): Promise<void> {
    this.listeners.clear()
  }

  async stats (): Promise<StoreStats> {
    return { spaces: this.spaces.size, anchorSets: this.sets.size, translators: this.translators.size }
  }

  // Spaces

  async putSpace (space: SpaceRecord, opts: WritePreconditions = {}): Promise<PutOutcome<SpaceRecord>> {
    const existing = this.spaces.get(space.name)
    if (!preconditionsHold(existing?.revision ?? null, opts)) return { status: 'precondition-failed' }
    if (existing === undefined) {
      this.spaces.set(space.name, copySpace(space))
      this.emit([{ kind: 'space', key: space.name }])
      return { status: 'created', value: copySpace(space) }
    }
    if (existing.dim !== space.dim) return { status: 'conflict', existing: copySpace(existing) }
    if (existing.description === space.description && isDeepStrictEqual(existing.metadata, space.metadata)) {
      return { status: 'unchanged', value: copySpace(existing) }
    }
    const updated = copySpace({ ...space, createdAt: existing.createdAt })
    this.spaces.set(space.name, updated)
    this.emit([{ kind: 'space', key: space.name }])
    return { status: 'updated', value: copySpace(updated) }
  }

  async getSpace (name: string): Promise<SpaceRecord | null> {
    const space = this.spaces.get(name)
    return space === undefined ? null : copySpace(space)
  }

  async listSpaces (): Promise<SpaceRecord[]> {
    return [...this.spaces.values()].map(copySpace).sort(byName)
  }

  async deleteSpace (name: string, opts: { cascade: boolean, ifRevision?: RevisionPrecondition }): Promise<DeleteOutcome> {
    const existing = this.spaces.get(name)
    if (!preconditionsHold(existing?.revision ?? null, { ifRevision: opts.ifRevision })) return { status: 'precondition-failed' }
    if (existing === undefined) return { status: 'not-found' }
    const dependents: Dependents = {
      embeddings: [...this.sets.entries()]
        .filter(([, set]) => set.embeddings.has(name))
        .map(([set]) => ({ set, space: name }))
        .sort((a, b) => compare(a.set, b.set)),
      translators: this.translatorIdsWhere(meta => meta.source === name || meta.target === name)
    }
    if (!opts.cascade && hasDependents(dependents)) return { status: 'conflict', dependents }
    const changes: StoreChange[] = []
    for (const id of dependents.translators) this.removeTranslator(id, changes)
    const revision = randomUUID()
    for (const { set } of dependents.embeddings) {
      const stored = this.sets.get(set)
      if (stored !== undefined) {
        stored.embeddings.delete(name)
        stored.record.revision = revision
      }
      changes.push({ kind: 'embeddings', key: `${set}|${name}` })
    }
    this.spaces.delete(name)
    changes.push({ kind: 'space', key: name })
    this.emit(changes)
    return { status: 'deleted', cascaded: dependents }
  }

  // Anchor sets

  async putAnchorSet (set: AnchorSetRecord, opts: WritePreconditions = {}): Promise<PutOutcome<AnchorSetRecord>> {
    const existing = this.sets.get(set.name)
    if (!preconditionsHold(existing?.record.revision ?? null, opts)) return { status: 'precondition-failed' }
    if (existing === undefined) {
      this.sets.set(set.name, { record: copyAnchorSet(set), embeddings: new Map() })
      this.emit([{ kind: 'anchorSet', key: set.name }])
      return { status: 'created', value: copyAnchorSet(set) }
    }
    if (!sameIds(existing.record.ids, set.ids)) return { status: 'conflict', existing: copyAnchorSet(existing.record) }
    if (existing.record.description === set.description) {
      return { status: 'unchanged', value: copyAnchorSet(existing.record) }
    }
    existing.record = copyAnchorSet({ ...set, createdAt: existing.record.createdAt })
    this.emit([{ kind: 'anchorSet', key: set.name }])
    return { status: 'updated', value: copyAnchorSet(existing.record) }
  }

  async getAnchorSet (name: string): Promise<AnchorSetRecord | null> {
    const set = this.sets.get(name)
    return set === undefined ? null : copyAnchorSet(set.record)
  }

  async getAnchorSetSummary (name: string): Promise<AnchorSetSummary | null> {
    const set = this.sets.get(name)
    return set === undefined ? null : summarizeSet(set)
  }

  async listAnchorSets (): Promise<AnchorSetSummary[]> {
    return [...this.sets.values()].map(summarizeSet).sort(byName)
  }

  async deleteAnchorSet (name: string, opts: { cascade: boolean, ifRevision?: RevisionPrecondition }): Promise<DeleteOutcome> {
    const set = this.sets.get(name)
    if (!preconditionsHold(set?.record.revision ?? null, { ifRevision: opts.ifRevision })) return { status: 'precondition-failed' }
    if (set === undefined) return { status: 'not-found' }
    const translators = this.translatorIdsWhere(meta => meta.anchorSet === name)
    // The set's own embeddings never block its deletion; only translators fitted on it do.
    if (!opts.cascade && translators.length > 0) {
      return { status: 'conflict', dependents: { embeddings: [], translators } }
    }
    const embeddings = [...set.embeddings.keys()].sort(compare).map(space => ({ set: name, space }))
    const changes: StoreChange[] = []
    for (const id of translators) this.removeTranslator(id, changes)
    for (const { space } of embeddings) changes.push({ kind: 'embeddings', key: `${name}|${space}` })
    this.sets.delete(name)
    changes.push({ kind: 'anchorSet', key: name })
    this.emit(changes)
    return { status: 'deleted', cascaded: { embeddings, translators } }
  }

  // Embeddings

  async putEmbeddings (rec: EmbeddingsRecord, opts: WritePreconditions = {}): Promise<PutEmbeddingsOutcome> {
    checkEmbeddingsShape(rec)
    const set = this.sets.get(rec.set)
    if (set === undefined) return { status: 'missing-set' }
    // A space recreated with another dim since the caller checked it counts as missing.
    if (this.spaces.get(rec.space)?.dim !== rec.dim) return { status: 'missing-space' }
    if (!preconditionsHold(revisionOf(set.embeddings.get(rec.space)), opts)) return { status: 'precondition-failed' }
    const replaced = set.embeddings.has(rec.space)
    set.embeddings.set(rec.space, copyEmbeddings(rec))
    set.record.revision = randomUUID()
    this.emit([{ kind: 'embeddings', key: `${rec.set}|${rec.space}` }])
    return { status: 'stored', value: summaryOf(rec), replaced }
  }

  async getEmbeddings (set: string, space: string): Promise<EmbeddingsRecord | null> {
    const rec = this.sets.get(set)?.embeddings.get(space)
    return rec === undefined ? null : copyEmbeddings(rec)
  }

  async deleteEmbeddings (set: string, space: string, opts: { cascade: boolean, ifRevision?: RevisionPrecondition }): Promise<DeleteOutcome> {
    const stored = this.sets.get(set)
    const current = stored?.embeddings.get(space)
    if (!preconditionsHold(revisionOf(current), { ifRevision: opts.ifRevision })) return { status: 'precondition-failed' }
    if (stored === undefined || current === undefined) return { status: 'not-found' }
    const translators = this.translatorIdsWhere(meta =>
      meta.anchorSet === set && (meta.source === space || meta.target === space))
    if (!opts.cascade && translators.length > 0) {
      return { status: 'conflict', dependents: { embeddings: [], translators } }
    }
    const changes: StoreChange[] = []
    for (const id of translators) this.removeTranslator(id, changes)
    stored.embeddings.delete(space)
    stored.record.revision = randomUUID()
    changes.push({ kind: 'embeddings', key: `${set}|${space}` })
    this.emit(changes)
    return { status: 'deleted', cascaded: { embeddings: [], translators } }
  }

  // Translators

  async createTranslator (rec: TranslatorRecord, opts: { activate: boolean, neverActivate?: boolean }): Promise<CreateTranslatorOutcome> {
    const { meta } = rec
    if (this.spaces.get(meta.source)?.dim !== meta.sourceDim) return { status: 'missing', what: 'source' }
    if (this.spaces.get(meta.target)?.dim !== meta.targetDim) return { status: 'missing', what: 'target' }
    if (!this.sets.has(meta.anchorSet)) return { status: 'missing', what: 'anchorSet' }
    const existing = this.translators.get(meta.id)
    if (existing !== undefined) {
      if (existing.meta.source !== meta.source || existing.meta.target !== meta.target) throw new Error(`translator id already exists: ${meta.id}`)
      return { status: 'exists', value: this.listing(existing.meta) }
    }
    const pair = pairKey(meta.source, meta.target)
    const version = (this.versions.get(pair) ?? 0) + 1
    this.versions.set(pair, version)
    const stored = copyTranslator({ meta: { ...meta, version }, params: rec.params })
    this.translators.set(meta.id, stored)
    const changes: StoreChange[] = [{ kind: 'translator', key: meta.id }]
    const active = opts.neverActivate !== true && (opts.activate || !this.active.has(pair))
    if (active) {
      this.active.set(pair, meta.id)
      changes.push({ kind: 'active', key: pair })
    }
    this.emit(changes)
    return { status: 'created', value: { ...copyMeta(stored.meta), active } }
  }

  async getTranslator (id: string): Promise<TranslatorRecord | null> {
    const rec = this.translators.get(id)
    return rec === undefined ? null : copyTranslator(rec)
  }

  async getTranslatorMeta (id: string): Promise<TranslatorListing | null> {
    const rec = this.translators.get(id)
    return rec === undefined ? null : this.listing(rec.meta)
  }

  async translatorExists (id: string): Promise<boolean> {
    return this.translators.has(id)
  }

  async listTranslators (filter: { source?: string, target?: string }): Promise<TranslatorListing[]> {
    return [...this.translators.values()]
      .filter(({ meta }) => (filter.source === undefined || meta.source === filter.source) &&
        (filter.target === undefined || meta.target === filter.target))
      .map(({ meta }) => this.listing(meta))
      .sort(byPairThenVersion)
  }

  async getActiveTranslatorId (source: string, target: string): Promise<string | null> {
    return this.active.get(pairKey(source, target)) ?? null
  }

  async activateTranslator (id: string): Promise<TranslatorListing | null> {
    const rec = this.translators.get(id)
    if (rec === undefined) return null
    const pair = pairKey(rec.meta.source, rec.meta.target)
    this.active.set(pair, id)
    this.emit([{ kind: 'active', key: pair }])
    return this.listing(rec.meta)
  }

  async deleteTranslator (id: string): Promise<boolean> {
    if (!this.translators.has(id)) return false
    const changes: StoreChange[] = []
    this.removeTranslator(id, changes)
    this.emit(changes)
    return true
  }

  onChange (listener: (change: StoreChange) => void): () => void {
    // Wrapped so that the same function subscribed twice gets two independent subscriptions.
    const subscription = (change: StoreChange): void => listener(change)
    this.listeners.add(subscription)
    return () => { this.listeners.delete(subscription) }
  }

  private listing (meta: TranslatorMeta): TranslatorListing {
    return { ...copyMeta(meta), active: this.active.get(pairKey(meta.source, meta.target)) === meta.id }
  }

  private translatorIdsWhere (predicate: (meta: TranslatorMeta) => boolean): string[] {
    return [...this.translators.values()].filter(rec => predicate(rec.meta)).map(rec => rec.meta.id).sort(compare)
  }

  /** Removes a translator and, when it was active, its pair's active pointer; records the changes. */
  private removeTranslator (id: string, changes: StoreChange[]): void {
    const rec = this.translators.get(id)
    if (rec === undefined) return
    this.translators.delete(id)
    changes.push({ kind: 'translator', key: id })
    const pair = pairKey(rec.meta.source, rec.meta.target)
    if (this.active.get(pair) === id) {
      this.active.delete(pair)
      changes.push({ kind: 'active', key: pair })
    }
  }

  private emit (changes: StoreChange[]): void {
    if (changes.length === 0 || this.listeners.size === 0) return
    const listeners = [...this.listeners]
    process.nextTick(() => {
      for (const change of changes) {
        for (const listener of listeners) {
          try {
            listener({ ...change })
          } catch (err) {
            if (this.logger !== undefined) this.logger.error({ err, change }, 'store change listener failed')
            else process.emitWarning(err instanceof Error ? err : new Error(String(err)))
          }
        }
      }
    })
  }
}

/** The revision of stored embeddings, null when there are none. */
function revisionOf (current: EmbeddingsRecord | undefined): string | null {
  return current === undefined ? null : summaryOf(current).revision
}

function pairKey (source: string, target: string): string {
  return `${source}|${target}`
}

function compare (a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0
}

function byName (a: { name: string }, b: { name: string }): number {
  return compare(a.name, b.name)
}

function byPairThenVersion (a: TranslatorMeta, b: TranslatorMeta): number {
  return compare(a.source, b.source) || compare(a.target, b.target) || a.version - b.version
}

function hasDependents (d: Dependents): boolean {
  return d.embeddings.length > 0 || d.translators.length > 0
}

function sameIds (a: string[], b: string[]): boolean {
  return a.length === b.length && a.every((id, i) => id === b[i])
}



function summarizeSet (set: StoredAnchorSet): AnchorSetSummary {
  const spaces: Record<string, EmbeddingsSummary> = {}
  for (const space of [...set.embeddings.keys()].sort(compare)) spaces[space] = summaryOf(set.embeddings.get(space)!)
  const { name, ids, description, createdAt, revision } = set.record
  return { name, size: ids.length, description, createdAt, revision, spaces }
}

function copySpace (space: SpaceRecord): SpaceRecord {
  return {
    name: space.name,
    dim: space.dim,
    description: space.description,
    metadata: structuredClone(space.metadata),
    createdAt: space.createdAt,
    revision: space.revision
  }
}

function copyAnchorSet (set: AnchorSetRecord): AnchorSetRecord {
  return { name: set.name, ids: set.ids.slice(), description: set.description, createdAt: set.createdAt, revision: set.revision }
}

function copyMatrix (m: Matrix): Matrix {
  return { rows: m.rows, cols: m.cols, data: m.data.slice() }
}

function copyEmbeddings (rec: EmbeddingsRecord): EmbeddingsRecord {
  return { ...summaryOf(rec), set: rec.set, ids: rec.ids.slice(), matrix: copyMatrix(rec.matrix) }
}

function copyMeta (meta: TranslatorMeta): TranslatorMeta {
  return structuredClone(meta)
}

function copyTranslator (rec: TranslatorRecord): TranslatorRecord {
  const params: Record<string, Float32Array> = {}
  for (const [name, values] of Object.entries(rec.params)) params[name] = values.slice()
  return { meta: copyMeta(rec.meta), params }
}
