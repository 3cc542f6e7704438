import type { Matrix } from '../math/matrix.js'

/**
 * The store: spaces, anchor sets with their per-space embeddings, and fitted translators.
 * One interface, two implementations (memory and Redis) that pass the same contract tests in
 * test/store/contract.ts. Every method that changes more than one thing does it atomically: a
 * reader never sees embeddings without their ids, a translator without its parameters, or a
 * half-applied cascade. Referential checks (a set or space that must exist, dependents that block a
 * delete) happen inside the same atomic step as the write.
 */

export interface SpaceRecord {
  name: string
  dim: number
  description: string | null
  metadata: Record<string, unknown>
  createdAt: string
  /**
   * Names this state of the space: a new value (a random UUID, chosen by the caller) for every put
   * that changes it, kept by one that changes nothing. Its ETag.
   */
  revision: string
}

export interface AnchorSetRecord {
  name: string
  ids: string[]
  description: string | null
  createdAt: string
  /**
   * Names this state of the set as its summary shows it: the caller's value when a put changes the
   * set, a fresh one (chosen by the store) whenever the embeddings it holds are stored or deleted,
   * since the set's summary lists them. Its ETag.
   */
  revision: string
}

/** What a set holds for one space, without the matrix. */
export interface EmbeddingsSummary {
  space: string
  rows: number
  dim: number
  zeroRows: number
  meanNorm: number
  updatedAt: string
  /**
   * A new value for every upload (a random UUID), never reused: two reads with the same revision
   * hold the same rows, which an update time alone cannot promise (two uploads in one millisecond).
   */
  revision: string
}

export interface AnchorSetSummary {
  name: string
  size: number
  description: string | null
  createdAt: string
  revision: string
  spaces: Record<string, EmbeddingsSummary>
}

/** Embeddings of one space in one set: row i of `matrix` belongs to `ids[i]`. */
export interface EmbeddingsRecord extends EmbeddingsSummary {
  set: string
  ids: string[]
  matrix: Matrix
}

/** Metadata of a fitted translator, stored as JSON. `version` counts per (source, target) pair. */
export interface TranslatorMeta {
  id: string
  name: string
  source: string
  target: string
  anchorSet: string
  method: string
  scaling: string
  version: number
  createdAt: string
  anchorsUsed: number
  sourceDim: number
  targetDim: number
  diagnostics: Record<string, unknown>
  /** Method-specific settings needed to rebuild the map (not the parameters themselves). */
  settings: Record<string, unknown>
}

/** A translator as stored: metadata plus named float32 parameter arrays (stored as raw binary). */
export interface TranslatorRecord {
  meta: TranslatorMeta
  params: Record<string, Float32Array>
}

/** A translator as listed: its metadata plus whether it is its pair's active one. */
export interface TranslatorListing extends TranslatorMeta {
  active: boolean
}

export type PutOutcome<T> =
  | { status: 'created', value: T }
  | { status: 'unchanged', value: T }
  | { status: 'updated', value: T }
  | { status: 'conflict', existing: T }
  | { status: 'precondition-failed' }

/** Who still uses an object: returned instead of deleting when `cascade` is false. */
export interface Dependents {
  embeddings: Array<{ set: string, space: string }>
  translators: string[]
}

export type DeleteOutcome =
  | { status: 'deleted', cascaded: Dependents }
  | { status: 'not-found' }
  | { status: 'conflict', dependents: Dependents }
  | { status: 'precondition-failed' }

export type PutEmbeddingsOutcome =
  | { status: 'stored', value: EmbeddingsSummary, replaced: boolean }
  | { status: 'missing-set' }
  | { status: 'missing-space' }
  | { status: 'precondition-failed' }

/**
 * A client's If-Match on embeddings, checked in the same atomic step as the write: '*' holds when
 * the set holds embeddings of the space, a list when their current revision is one of it. With
 * nothing stored it never holds (the outcome is 'precondition-failed', not 'not-found').
 */
export type RevisionPrecondition = '*' | string[]

/**
 * A client's If-Match (`ifRevision`, as above) and If-None-Match (`ifNoneRevision`: '*' holds when
 * nothing is stored, a list when nothing is stored or the current revision is none of it) on a
 * space or an anchor set, checked in the same atomic step as the write, before anything else.
 */
export interface WritePreconditions {
  ifRevision?: RevisionPrecondition
  ifNoneRevision?: RevisionPrecondition
}

export type CreateTranslatorOutcome =
  | { status: 'created', value: TranslatorListing }
  /** A translator with this id and pair is stored already (a re-run of the same work): it, unchanged. */
  | { status: 'exists', value: TranslatorListing }
  | { status: 'missing', what: 'source' | 'target' | 'anchorSet' }

/**
 * A change another replica must learn of (cache invalidation). `resync` (key '') says that changes
 * may have been missed (the Redis change feed was disconnected): drop everything cached.
 */
export interface StoreChange {
  kind: 'translator' | 'active' | 'space' | 'anchorSet' | 'embeddings' | 'resync'
  /** translator id, `source|target` pair, space name, set name, `set|space`, or '' for resync. */
  key: string
}

export interface StoreStats {
  spaces: number
  anchorSets: number
  translators: number
}

/** A store's circuit breaker (src/store/breaker.ts), for metrics. */
export interface StoreBreakerStatus {
  /** closed: calls pass; open: calls refused at once; half-open: a probe for the store's return is in flight. */
  state: 'closed' | 'open' | 'half-open'
  /** Times it opened. */
  trips: number
  /** Calls refused while it was not closed. */
  refused: number
}

export interface Store {
  readonly kind: 'memory' | 'redis'
  /** Present when the store sits behind a circuit breaker (a Redis store does). */
  readonly breaker?: StoreBreakerStatus

  /** Resolves when the backing store answers; rejects otherwise. */
  ping (): Promise<void>
  close (): Promise<void>
  stats (): Promise<StoreStats>

  // Spaces
  /**
   * created; unchanged when identical (the stored revision stays); updated (description/metadata,
   * with the caller's revision) when same dim; conflict when dim differs; precondition-failed
   * first, when a precondition does not hold.
   */
  putSpace (space: SpaceRecord, opts?: WritePreconditions): Promise<PutOutcome<SpaceRecord>>
  getSpace (name: string): Promise<SpaceRecord | null>
  listSpaces (): Promise<SpaceRecord[]>
  /** Dependents: embeddings of the space in any set, translators with it as source or target. */
  deleteSpace (name: string, opts: { cascade: boolean, ifRevision?: RevisionPrecondition }): Promise<DeleteOutcome>

  // Anchor sets
  /**
   * created; unchanged when the ids and description are identical (the stored revision stays);
   * updated (the description, with the caller's revision) when the ids are; conflict when ids
   * differ; precondition-failed first, when a precondition does not hold.
   */
  putAnchorSet (set: AnchorSetRecord, opts?: WritePreconditions): Promise<PutOutcome<AnchorSetRecord>>
  getAnchorSet (name: string): Promise<AnchorSetRecord | null>
  getAnchorSetSummary (name: string): Promise<AnchorSetSummary | null>
  listAnchorSets (): Promise<AnchorSetSummary[]>
  /** A set's own embeddings always go with it; dependents that block are translators fitted on it. */
  deleteAnchorSet (name: string, opts: { cascade: boolean, ifRevision?: RevisionPrecondition }): Promise<DeleteOutcome>

  // Embeddings
  /**
   * Replaces the space's embeddings in the set, checking that both exist and the space's dim is
   * still `rec.dim` (else 'missing-space'), then the preconditions when given (else 'precondition-failed'):
   * `ifNoneRevision: '*'` stores only when the set holds no embeddings of the space yet.
   * ids must be a subset of the set's ids (the caller checks).
   */
  putEmbeddings (rec: EmbeddingsRecord, opts?: WritePreconditions): Promise<PutEmbeddingsOutcome>
  getEmbeddings (set: string, space: string): Promise<EmbeddingsRecord | null>
  /** Dependents that block: translators fitted on this set with this space as source or target. */
  deleteEmbeddings (set: string, space: string, opts: { cascade: boolean, ifRevision?: RevisionPrecondition }): Promise<DeleteOutcome>

  // Translators
  /**
   * Stores a translator whole, assigning the next version of its (source, target) pair. It becomes
   * the pair's active translator when `activate` is true or the pair has none, unless
   * `neverActivate` (a translator that must not be used until someone activates it). Fails with 'missing'
   * when source, target or anchor set no longer exist (or a space's dim is no longer sourceDim/targetDim). `meta.version` is ignored and assigned here.
   * Idempotent on the id: when a translator with this id and the same source and target is stored
   * already, that one is returned ('exists') and nothing changes, so work that is run again (a job
   * retried after its replica died) stores one translator. The same id for another pair is an error.
   */
  createTranslator (rec: TranslatorRecord, opts: { activate: boolean, neverActivate?: boolean }): Promise<CreateTranslatorOutcome>
  getTranslator (id: string): Promise<TranslatorRecord | null>
  getTranslatorMeta (id: string): Promise<TranslatorListing | null>
  /** Whether the translator is stored: one small read, for callers that hold it decoded already. */
  translatorExists (id: string): Promise<boolean>
  listTranslators (filter: { source?: string, target?: string }): Promise<TranslatorListing[]>
  /** The active translator's id for a pair, or null. */
  getActiveTranslatorId (source: string, target: string): Promise<string | null>
  /** Makes it its pair's active translator; null when it does not exist. */
  activateTranslator (id: string): Promise<TranslatorListing | null>
  /** Deleting the active translator leaves its pair with none active. */
  deleteTranslator (id: string): Promise<boolean>

  /**
   * Subscribe to changes made by any replica (Redis pub/sub; the memory store reports its own),
   * and to `resync` when changes may have been missed. Returns an unsubscribe function.
   */
  onChange (listener: (change: StoreChange) => void): () => void
}
