import { notFound } from '../errors.js'
import type { EmbeddingsRecord, Store } from './types.js'

/**
 * A space's embeddings in an anchor set, or the 404 that says which of the two is missing and
 * how to add it.
 */
export async function requireEmbeddings (store: Store, set: string, space: string): Promise<EmbeddingsRecord> {
  const found = await store.getEmbeddings(set, space)
  if (found !== null) return found
  if (await store.getAnchorSet(set) === null) throw notFound(`anchor set "${set}" does not exist; create it with PUT /v1/anchor-sets/${encodeURIComponent(set)}`)
  throw notFound(`anchor set "${set}" holds no embeddings of space "${space}"; upload them with PUT /v1/anchor-sets/${encodeURIComponent(set)}/embeddings/${encodeURIComponent(space)}`)
}
