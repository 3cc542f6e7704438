import { z } from 'zod'
import { badRequest, unprocessable } from '../errors.js'

/**
 * Pagination of list operations. The cursor is base64url of the JSON sort key of the last item
 * returned; the next page holds the items whose key sorts after it, so inserts and deletes between
 * pages neither repeat nor skip the items that were there throughout.
 */

export const PAGE_DEFAULT_LIMIT = 100
export const PAGE_MAX_LIMIT = 1000

export const PageQuery = z.object({
  limit: z.coerce.number().int().min(1).max(PAGE_MAX_LIMIT, `at most ${PAGE_MAX_LIMIT} items per page`).default(PAGE_DEFAULT_LIMIT)
    .describe(`Items per page: 1 to ${PAGE_MAX_LIMIT}, default ${PAGE_DEFAULT_LIMIT}`),
  cursor: z.string().max(4096).optional().describe('The `next` of the previous page; omit for the first page')
})

export const NextCursor = z.string().nullable().describe('The cursor of the next page (send it as ?cursor=), or null on the last page')

/** A sort key: strings compare by code unit, numbers numerically, element by element. */
export type SortKey = Array<string | number>

function compareKeys (a: SortKey, b: SortKey): number {
  for (let i = 0; i < Math.min(a.length, b.length); i++) {
    const x = a[i]
    const y = b[i]
    if (x === y) continue
    if (typeof x === 'number' && typeof y === 'number') return x - y
    return String(x) < String(y) ? -1 : 1
  }
  return a.length - b.length
}

export function encodeCursor (key: SortKey): string {
  return Buffer.from(JSON.stringify(key)).toString('base64url')
}

/** The key a cursor holds; a 400 when it is not one this server wrote for a list of this shape. */
export function decodeCursor (cursor: string, shape: Array<'string' | 'number'>): SortKey {
  let key: unknown
  try {
    if (!/^[A-Za-z0-9_-]+$/.test(cursor)) throw new Error('not base64url')
    key = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'))
  } catch {
    key = undefined
  }
  if (!Array.isArray(key) || key.length !== shape.length || key.some((v, i) => typeof v !== shape[i])) {
    throw badRequest('cursor is not one this list gave out; send the `next` of the previous page unchanged, or no cursor for the first page', [{ path: 'querystring.cursor', message: 'malformed cursor' }])
  }
  return key as SortKey
}

/**
 * One page of a list already sorted by `keyOf`: the items after the cursor's key, at most `limit`,
 * and the cursor of the next page (null on the last).
 */
export function pageOf<T> (items: T[], keyOf: (item: T) => SortKey, shape: Array<'string' | 'number'>, query: { limit: number, cursor?: string }): { items: T[], next: string | null } {
  let start = 0
  if (query.cursor !== undefined) {
    const after = decodeCursor(query.cursor, shape)
    // Binary search for the first item whose key sorts after the cursor's.
    let lo = 0
    let hi = items.length
    while (lo < hi) {
      const mid = (lo + hi) >>> 1
      if (compareKeys(keyOf(items[mid]), after) <= 0) lo = mid + 1
      else hi = mid
    }
    start = lo
  }
  const page = items.slice(start, start + query.limit)
  const next = start + query.limit < items.length ? encodeCursor(keyOf(page[page.length - 1])) : null
  return { items: page, next }
}

/** A range of rows of a large read: `offset` (default 0) and at most `limit` rows (default: to the end). */
export const RowRangeQuery = z.object({
  offset: z.coerce.number().int().min(0).optional().describe('The first row to return (0-based); default 0. Must be below the row count'),
  limit: z.coerce.number().int().min(1).optional().describe('At most this many rows from offset; default: all up to the last')
})

/**
 * The [start, end) of the rows asked for among `total`; a 422 when offset is at or past the last
 * row. A limit reaching past the end returns the rows up to the end (the total says how many there are).
 */
export function rowRange (total: number, query: { offset?: number, limit?: number }, what: string): { start: number, end: number } {
  const start = query.offset ?? 0
  if (start > 0 && start >= total) {
    throw unprocessable(`offset ${start} is past the last row: ${what} has ${total} rows (offsets 0 to ${total - 1})`, [{ path: 'querystring.offset', message: `at most ${total - 1}` }])
  }
  const end = query.limit === undefined ? total : Math.min(total, start + query.limit)
  return { start, end }
}
