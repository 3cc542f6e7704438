import type { LinearMap } from '../fit/types.js'
import type { TranslatorRecord } from '../store/types.js'

/**
 * How a LinearMap is stored: its arrays as named float32 parameters (raw binary in Redis), its
 * flags and scalars in the metadata's settings.
 */
export interface MapSettings {
  sourceDim: number
  targetDim: number
  normalizeInput: boolean
  normalizeOutput: boolean
  outputNorm: number
}

export function mapToStored (map: LinearMap): { params: Record<string, Float32Array>, settings: MapSettings } {
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

/** Rebuilds the map, checking every array's length so a damaged record fails loudly. */
export function storedToMap (record: TranslatorRecord): LinearMap {
  const s = record.meta.settings as unknown as MapSettings
  const p = record.params
  const want: Record<string, number> = {
    sourceMean: s.sourceDim,
    sourceScale: s.sourceDim,
    weight: s.sourceDim * s.targetDim,
    bias: s.targetDim,
    targetScale: s.targetDim,
    targetMean: s.targetDim
  }
  for (const [name, length] of Object.entries(want)) {
    if (p[name] === undefined || p[name].length !== length) {
      throw new Error(`translator ${record.meta.id} is damaged: parameter ${name} has ${p[name]?.length ?? 'no'} values, expected ${length}`)
    }
  }
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
