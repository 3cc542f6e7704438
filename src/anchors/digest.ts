import { createHash } from 'node:crypto'

/**
 * The identity of an ordered anchor list: sha256 (hex) of the JSON array of ids. Two relative
 * vectors are comparable exactly when their digests (and options) match.
 */
export function anchorDigest (ids: string[]): string {
  return createHash('sha256').update(JSON.stringify(ids)).digest('hex')
}
