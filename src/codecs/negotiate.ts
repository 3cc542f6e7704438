/** Media types of the vector encodings, and the choice of response encoding from `Accept`. */

export const MEDIA = {
  octetStream: 'application/octet-stream',
  npy: 'application/x-npy',
  json: 'application/json',
  problem: 'application/problem+json'
} as const

export type ResponseEncoding = 'json' | 'octet-stream' | 'npy'

// In server preference order: on a tie in both quality and specificity the earlier one wins, so
// JSON stays the default for `*/*`, a missing header, or one that names none of these.
const CANDIDATES: ReadonlyArray<{ encoding: ResponseEncoding, type: string, subtype: string }> = [
  { encoding: 'json', type: 'application', subtype: 'json' },
  { encoding: 'octet-stream', type: 'application', subtype: 'octet-stream' },
  { encoding: 'npy', type: 'application', subtype: 'x-npy' }
]

interface MediaRange {
  type: string
  subtype: string
  q: number
}

function parseAccept (accept: string): MediaRange[] {
  const ranges: MediaRange[] = []
  for (const part of accept.split(',')) {
    const [mediaType, ...params] = part.split(';')
    const slash = mediaType.indexOf('/')
    if (slash < 0) continue
    const type = mediaType.slice(0, slash).trim().toLowerCase()
    const subtype = mediaType.slice(slash + 1).trim().toLowerCase()
    if (type === '' || subtype === '') continue
    let q = 1
    for (const param of params) {
      const eq = param.indexOf('=')
      if (eq < 0 || param.slice(0, eq).trim().toLowerCase() !== 'q') continue
      const value = Number(param.slice(eq + 1).trim())
      // An unreadable q is treated as absent rather than letting NaN poison the comparison.
      if (Number.isFinite(value)) q = Math.min(1, Math.max(0, value))
    }
    ranges.push({ type, subtype, q })
  }
  return ranges
}

/**
 * The encoding for a response, from the request's `Accept` header (RFC 9110 §12.5.1): each
 * candidate takes the q of the most specific range that matches it (exact, then `type/*`, then the
 * full wildcard); the highest q wins, then the more specific match (a client that names
 * octet-stream next to the full wildcard gets octet-stream), then server order. JSON when
 * nothing acceptable matches.
 */
export function responseEncoding (accept: string | undefined): ResponseEncoding {
  if (accept === undefined || accept.trim() === '') return 'json'
  const ranges = parseAccept(accept)
  let best: ResponseEncoding = 'json'
  let bestQ = 0
  let bestSpecificity = -1
  for (const candidate of CANDIDATES) {
    let q = 0
    let specificity = -1
    for (const range of ranges) {
      let s: number
      if (range.type === candidate.type && range.subtype === candidate.subtype) s = 2
      else if (range.type === candidate.type && range.subtype === '*') s = 1
      else if (range.type === '*' && range.subtype === '*') s = 0
      else continue
      if (s > specificity) {
        specificity = s
        q = range.q
      }
    }
    if (q > bestQ || (q === bestQ && q > 0 && specificity > bestSpecificity)) {
      best = candidate.encoding
      bestQ = q
      bestSpecificity = specificity
    }
  }
  return best
}
