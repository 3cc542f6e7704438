import type { Matrix } from '../math/matrix.js'
import { takeRows } from '../math/matrix.js'

/** Embeddings of one space in one set, rows in the set's order (as the store keeps them). */
export interface HeldRows {
  ids: string[]
  matrix: Matrix
}

/**
 * The rows of several spaces on the ids all of them hold, in the set's order: row i of every
 * returned matrix is the same item. Stored rows are already in set order, so this is a merge.
 */
export function commonRows (held: HeldRows[]): { ids: string[], matrices: Matrix[] } {
  if (held.length === 0) return { ids: [], matrices: [] }
  let common = new Set(held[0].ids)
  for (const h of held.slice(1)) {
    const next = new Set<string>()
    for (const id of h.ids) if (common.has(id)) next.add(id)
    common = next
  }
  const ids = held[0].ids.filter(id => common.has(id))
  const matrices = held.map(h => {
    if (h.ids.length === ids.length) return h.matrix
    const indices: number[] = []
    for (let i = 0; i < h.ids.length; i++) if (common.has(h.ids[i])) indices.push(i)
    return takeRows(h.matrix, indices)
  })
  return { ids, matrices }
}

/**
 * Two spaces' rows of one set split into the parallel rows (ids both hold, row i of each the same
 * item, in set order) and each side's unpaired rows (ids only that space holds): unpaired
 * samples of that space, which refinement and confidence use.
 */
export function splitRows (source: HeldRows, target: HeldRows): { ids: string[], x: Matrix, y: Matrix, unpairedX: Matrix, unpairedY: Matrix } {
  const { ids, matrices } = commonRows([source, target])
  const common = new Set(ids)
  const only = (h: HeldRows): Matrix => {
    const indices: number[] = []
    for (let i = 0; i < h.ids.length; i++) if (!common.has(h.ids[i])) indices.push(i)
    return takeRows(h.matrix, indices)
  }
  return { ids, x: matrices[0], y: matrices[1], unpairedX: only(source), unpairedY: only(target) }
}
