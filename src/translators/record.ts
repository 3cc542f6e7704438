import type { ConfidenceModel } from '../fit/confidence.js'
import type { TranslatorRecord } from '../store/types.js'
import type { LinearMap } from './map.js'

/**
 * How a fitted translator is stored: its map's arrays and its confidence model's arrays as named
 * float32 parameters (raw binary in Redis), their flags, sizes and scalars in the metadata's
 * settings. Decoding checks every array's length, so a damaged record fails loudly.
 */
export interface MapSettings {
  sourceDim: number
  targetDim: number
  normalizeInput: boolean
  normalizeOutput: boolean
  outputNorm: number
}

export interface ConfidenceSettings {
  confidenceK: number
  confidenceSupport: number
}

export interface StoredParts<S> {
  params: Record<string, Float32Array>
  settings: S
}

export function mapToStored (map: LinearMap): StoredParts<MapSettings> {
  return {
    params: {
      sourceMean: map.sourceMean,
      sourceScale: map.sourceScale,
      weight: map.weight.data,
      bias: map.bias,
      targetScale: map.targetScale,
      targetMean: map.targetMean
    },
    settings: {
      sourceDim: map.sourceDim,
      targetDim: map.targetDim,
      normalizeInput: map.normalizeInput,
      normalizeOutput: map.normalizeOutput,
      outputNorm: map.outputNorm
    }
  }
}

export function confidenceToStored (model: ConfidenceModel): StoredParts<ConfidenceSettings> {
  return {
    params: { confidenceCenter: model.center, confidenceSupport: model.support.data, confidenceMargins: model.margins, confidenceReference: model.reference },
    settings: { confidenceK: model.k, confidenceSupport: model.support.rows }
  }
}

/** A translator's map and confidence model as one record's parameters and settings. */
export function translatorToStored (map: LinearMap, confidence: ConfidenceModel): StoredParts<MapSettings & ConfidenceSettings> {
  const m = mapToStored(map)
  const c = confidenceToStored(confidence)
  return { params: { ...m.params, ...c.params }, settings: { ...m.settings, ...c.settings } }
}

function checkLengths (id: string, params: Record<string, Float32Array>, want: Record<string, number>): void {
  for (const [name, length] of Object.entries(want)) {
    if (params[name] === undefined || params[name].length !== length) {
      throw new Error(`translator ${id} is damaged: parameter ${name} has ${params[name]?.length ?? 'no'} values, expected ${length}`)
    }
  }
}

/** Rebuilds the map; throws when the record is damaged. */
export function storedToMap (record: TranslatorRecord): LinearMap {
  const s = record.meta.settings as unknown as MapSettings
  const p = record.params
  checkLengths(record.meta.id, p, {
    sourceMean: s.sourceDim,
    sourceScale: s.sourceDim,
    weight: s.sourceDim * s.targetDim,
    bias: s.targetDim,
    targetScale: s.targetDim,
    targetMean: s.targetDim
  })
  return {
    sourceDim: s.sourceDim,
    targetDim: s.targetDim,
    sourceMean: p.sourceMean,
    sourceScale: p.sourceScale,
    normalizeInput: s.normalizeInput,
    weight: { rows: s.sourceDim, cols: s.targetDim, data: p.weight },
    bias: p.bias,
    normalizeOutput: s.normalizeOutput,
    outputNorm: s.outputNorm,
    targetScale: p.targetScale,
    targetMean: p.targetMean
  }
}

/** The stored confidence model, or null for a record fitted before confidence existed; throws when damaged. */
export function storedToConfidence (record: TranslatorRecord): ConfidenceModel | null {
  const { params, meta } = record
  const rows = meta.settings.confidenceSupport
  const k = meta.settings.confidenceK
  if (typeof rows !== 'number' || typeof k !== 'number') return null
  const dim = meta.sourceDim
  checkLengths(meta.id, params, { confidenceCenter: dim, confidenceSupport: rows * dim, confidenceMargins: rows, confidenceReference: rows })
  return {
    center: params.confidenceCenter,
    support: { rows, cols: dim, data: params.confidenceSupport },
    margins: params.confidenceMargins,
    reference: params.confidenceReference,
    k
  }
}
