/** Record helpers both store implementations share. */
import type { EmbeddingsRecord, EmbeddingsSummary, WritePreconditions } from './types.js'

/** The summary fields of an embeddings record, and only those (no ids, no matrix). */
export function summaryOf (rec: EmbeddingsSummary): EmbeddingsSummary {
  return {
    space: rec.space,
    rows: rec.rows,
    dim: rec.dim,
    zeroRows: rec.zeroRows,
    meanNorm: rec.meanNorm,
    updatedAt: rec.updatedAt,
    // Records stored before revisions existed have none; their update time stands in.
    revision: rec.revision ?? rec.updatedAt
  }
}

/** Rejects records whose parts disagree, which would otherwise be stored and break readers later. */
export function checkEmbeddingsShape (rec: EmbeddingsRecord): void {
  const { matrix } = rec
  if (matrix.data.length !== matrix.rows * matrix.cols) {
    throw new RangeError(`matrix data has ${matrix.data.length} values, expected ${matrix.rows} x ${matrix.cols}`)
  }
  if (rec.ids.length !== matrix.rows) throw new RangeError(`${rec.ids.length} ids for ${matrix.rows} rows`)
  if (rec.rows !== matrix.rows || rec.dim !== matrix.cols) {
    throw new RangeError(`summary says ${rec.rows} x ${rec.dim}, matrix is ${matrix.rows} x ${matrix.cols}`)
  }
}

/** Whether a write's preconditions hold for the current revision of what it writes (null: nothing stored). */
export function preconditionsHold (current: string | null, { ifRevision, ifNoneRevision }: WritePreconditions): boolean {
  if (ifRevision !== undefined && (current === null || (ifRevision !== '*' && !ifRevision.includes(current)))) return false
  if (ifNoneRevision !== undefined && current !== null && (ifNoneRevision === '*' || ifNoneRevision.includes(current))) return false
  return true
}
