import type { Dependents } from '../../store/types.js'

/** "2 embedding sets (wiki/glove, wiki/w2v) and 1 translator (t-123)", for 409 details. */
export function describeDependents (d: Dependents): string {
  const parts: string[] = []
  const list = (items: string[]): string => items.length <= 5 ? items.join(', ') : `${items.slice(0, 5).join(', ')}, ...`
  if (d.embeddings.length > 0) {
    parts.push(`${d.embeddings.length} anchor embedding${d.embeddings.length === 1 ? '' : 's'} (${list(d.embeddings.map(e => `set "${e.set}" / space "${e.space}"`))})`)
  }
  if (d.translators.length > 0) {
    parts.push(`${d.translators.length} translator${d.translators.length === 1 ? '' : 's'} (${list(d.translators)})`)
  }
  return parts.join(' and ')
}
