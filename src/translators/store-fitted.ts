/**
 * Storing a fitted translator, for every fit pipeline (pipeline.ts, pipeline-unsupervised.ts): the
 * fields every record gets the same way (version assigned by the store, creation time, default
 * name, a random id unless the caller names one) and the one answer when a space or the anchor
 * set went away during the fit.
 */
import { randomUUID } from 'node:crypto'
import { conflict } from '../errors.js'
import type { Store, TranslatorListing, TranslatorMeta } from '../store/types.js'

/** What a fit decides of its record; the rest is filled in here. */
export type FittedMeta = Omit<TranslatorMeta, 'id' | 'name' | 'version' | 'createdAt'> & { id?: string, name?: string }

export async function storeFitted (store: Store, fitted: FittedMeta, params: Record<string, Float32Array>,
  opts: { activate: boolean, neverActivate?: boolean }): Promise<TranslatorListing> {
  const outcome = await store.createTranslator({
    meta: {
      ...fitted,
      id: fitted.id ?? randomUUID(),
      name: fitted.name ?? `${fitted.source} → ${fitted.target}`,
      version: 0,
      createdAt: new Date().toISOString()
    },
    params
  }, opts)
  if (outcome.status === 'missing') {
    throw conflict(`the ${outcome.what === 'anchorSet' ? 'anchor set' : `${outcome.what} space`} was deleted while the translator was being fitted; nothing was stored`)
  }
  return outcome.value
}
