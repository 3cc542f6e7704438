import { createHash, randomUUID } from 'node:crypto'
import type { FastifyInstance } from 'fastify'
import type { LinearMap } from '../../src/translators/map.js'
import type { Store } from '../../src/store/types.js'
import { mapToStored } from '../../src/translators/record.js'

/**
 * Fixtures for the hardening tests: a translator stored directly (no fitting), and a digest of
 * everything a store holds, to prove that a batch of bad requests changed nothing.
 */

/** A translator that maps source rows to their first `targetDim` coordinates (a crop), stored as fitted. */
export async function seedTranslator (store: Store, opts: { source: string, target: string, anchorSet: string, sourceDim: number, targetDim: number, activate?: boolean }): Promise<string> {
  const { sourceDim, targetDim } = opts
  const weight = new Float32Array(sourceDim * targetDim)
  for (let i = 0; i < Math.min(sourceDim, targetDim); i++) weight[i * targetDim + i] = 1
  const map: LinearMap = {
    sourceDim,
    targetDim,
    sourceMean: new Float32Array(sourceDim),
    sourceScale: new Float32Array(sourceDim).fill(1),
    normalizeInput: false,
    weight: { rows: sourceDim, cols: targetDim, data: weight },
    bias: new Float32Array(targetDim),
    normalizeOutput: false,
    outputNorm: 1,
    targetScale: new Float32Array(targetDim).fill(1),
    targetMean: new Float32Array(targetDim)
  }
  const { params, settings } = mapToStored(map)
  const id = randomUUID()
  const outcome = await store.createTranslator({
    meta: {
      id,
      name: `${opts.source} → ${opts.target}`,
      source: opts.source,
      target: opts.target,
      anchorSet: opts.anchorSet,
      method: 'linear',
      scaling: 'none',
      version: 0,
      createdAt: new Date().toISOString(),
      anchorsUsed: 0,
      sourceDim,
      targetDim,
      diagnostics: { rank: Math.min(sourceDim, targetDim), fitResidual: 0, heldOut: null, fitMs: 0 },
      settings: { ...settings }
    },
    params
  }, { activate: opts.activate ?? true })
  if (outcome.status === 'missing') throw new Error(`seedTranslator: missing ${outcome.what}`)
  return id
}

/**
 * Everything the store holds, as one string: spaces, sets with what each space holds (rows,
 * updatedAt), every embeddings matrix and id list (hashed), translators with their active flags.
 */
export async function storeSnapshot (store: Store): Promise<string> {
  const spaces = await store.listSpaces()
  const sets = await store.listAnchorSets()
  const translators = await store.listTranslators({})
  const embeddings: Record<string, string> = {}
  for (const set of sets) {
    const record = await store.getAnchorSet(set.name)
    embeddings[`${set.name}#ids`] = createHash('sha256').update(JSON.stringify(record?.ids ?? null)).digest('hex')
    for (const space of Object.keys(set.spaces)) {
      const held = await store.getEmbeddings(set.name, space)
      const hash = createHash('sha256')
      if (held !== null) {
        hash.update(JSON.stringify(held.ids))
        hash.update(Buffer.from(held.matrix.data.buffer, held.matrix.data.byteOffset, held.matrix.data.byteLength))
      }
      embeddings[`${set.name}|${space}`] = hash.digest('hex')
    }
  }
  return JSON.stringify({ spaces, sets, translators, embeddings })
}

/** The app's store snapshot (through the app's own, instrumented, store). */
export async function appSnapshot (app: FastifyInstance): Promise<string> {
  return await storeSnapshot(app.store)
}

/**
 * Drops translators from the app's decoded-translator cache and waits until the engine has released
 * their sessions. Tests call it before the app closes: closing the app with translators still cached
 * fires engine.forget() without waiting, and an engine closed while that is in flight may never
 * settle its close() (the engine's workers are unref'd; see the report on issue 6), which tap then
 * reports as an unfinished test.
 */
export async function releaseTranslators (app: FastifyInstance, ids: string[]): Promise<void> {
  for (const id of ids) {
    app.translators.evict(id)
    await app.engine.forget(id)
  }
}
