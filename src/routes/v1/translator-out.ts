import type { z } from 'zod'
import type { Translator } from '../../schemas/translators.js'
import type { TranslatorListing } from '../../store/types.js'

/** A stored translator as the API shows it (the fit's answer, a listing, an operation's result). */
export function translatorOut (t: TranslatorListing): z.infer<typeof Translator> {
  const ridge = t.settings.ridge
  return {
    id: t.id,
    name: t.name,
    source: t.source,
    target: t.target,
    anchorSet: t.anchorSet,
    method: t.method,
    scaling: t.scaling,
    ...(typeof ridge === 'number' ? { ridge } : {}),
    version: t.version,
    createdAt: t.createdAt,
    active: t.active,
    anchorsUsed: t.anchorsUsed,
    sourceDim: t.sourceDim,
    targetDim: t.targetDim,
    diagnostics: t.diagnostics as z.infer<typeof Translator>['diagnostics']
  }
}
