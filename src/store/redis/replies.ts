/*
 * Decoding script and command replies into records. Bulk replies arrive as Buffers (scripts run
 * through callBuffer, so that binary parameters survive); text is decoded here.
 */
import type { AnchorSetRecord, AnchorSetSummary, DeleteOutcome, Dependents, EmbeddingsSummary, PutOutcome, SpaceRecord } from '../types.js'

export function text (reply: unknown): string {
  if (Buffer.isBuffer(reply)) return reply.toString('utf8')
  if (typeof reply === 'string') return reply
  throw new TypeError(`unexpected Redis reply: ${typeof reply}`)
}

export function list (reply: unknown): unknown[] {
  if (!Array.isArray(reply)) throw new TypeError(`unexpected Redis reply: expected an array, got ${typeof reply}`)
  return reply
}

export function json<T> (reply: unknown): T {
  return JSON.parse(text(reply)) as T
}

/** Pairs of a flat [field, value, field, value, ...] reply. */
export function pairs (reply: unknown): Array<[string, unknown]> {
  const flat = list(reply)
  const out: Array<[string, unknown]> = []
  for (let i = 0; i < flat.length; i += 2) out.push([text(flat[i]), flat[i + 1]])
  return out
}

export function compare (a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0
}

function dependentsFrom (embeddings: unknown, translators: unknown): Dependents {
  return {
    embeddings: pairs(embeddings).map(([set, space]) => ({ set, space: text(space) })),
    translators: list(translators).map(text)
  }
}

export function deleteOutcome (reply: unknown): DeleteOutcome {
  const [status, embeddings, translators] = list(reply)
  switch (text(status)) {
    case 'not-found': return { status: 'not-found' }
    case 'precondition-failed': return { status: 'precondition-failed' }
    case 'conflict': return { status: 'conflict', dependents: dependentsFrom(embeddings, translators) }
    case 'deleted': return { status: 'deleted', cascaded: dependentsFrom(embeddings, translators) }
    default: throw new Error(`unexpected delete status ${text(status)}`)
  }
}

export function putOutcome<T> (status: string, value: T): PutOutcome<T> {
  switch (status) {
    case 'created': return { status, value }
    case 'unchanged': return { status, value }
    case 'updated': return { status, value }
    case 'conflict': return { status, existing: value }
    default: throw new Error(`unexpected put status ${status}`)
  }
}

export interface StoredSetRecord {
  name: string
  size: number
  description: string | null
  createdAt: string
  /** Absent from records written before revisions existed. */
  revision?: string
}

/**
 * The revision of a stored space or set. A record written before revisions existed has had no write
 * since (every write stores one): its creation time names that one state, as in the scripts.
 */
function revisionOf (record: { revision?: string, createdAt: string }): string {
  return record.revision ?? record.createdAt
}

export function spaceFrom (record: unknown): SpaceRecord {
  const { name, dim, description, metadata, createdAt, revision } = json<Omit<SpaceRecord, 'revision'> & { revision?: string }>(record)
  return { name, dim, description, metadata, createdAt, revision: revisionOf({ revision, createdAt }) }
}

export function anchorSetFrom (record: unknown, ids: unknown): AnchorSetRecord {
  const stored = json<StoredSetRecord>(record)
  const { name, description, createdAt } = stored
  return { name, ids: json<string[]>(ids), description, createdAt, revision: revisionOf(stored) }
}

export function setSummariesFrom (reply: unknown): AnchorSetSummary[] {
  return pairs(reply).map(([record, index]) => {
    const stored = json<StoredSetRecord>(record)
    const { name, size, description, createdAt } = stored
    const spaces: Record<string, EmbeddingsSummary> = {}
    for (const [space, summary] of pairs(index).sort((a, b) => compare(a[0], b[0]))) {
      spaces[space] = json<EmbeddingsSummary>(summary)
    }
    return { name, size, description, createdAt, revision: revisionOf(stored), spaces }
  })
}
