import { z } from 'zod'

/** Request headers of conditional requests (src/http/conditional.ts), as operations declare them. */

const ifMatch = z.string().optional().describe('ETags (any representation of the resource): proceed only if its current revision is one of them; * : only if it exists. Else 412, and nothing changes')

/** A replacing PUT: If-Match, and If-None-Match: * for "only create". */
export const PutConditions = z.looseObject({
  'if-match': ifMatch,
  'if-none-match': z.string().optional().describe('* : only create (412 when it exists); or ETags: 412 when the current revision is one of them')
})

export const DeleteConditions = z.looseObject({ 'if-match': ifMatch })

/** A GET: If-None-Match. */
export const ReadConditions = z.looseObject({ 'if-none-match': z.string().optional().describe('ETags of representations held: 304 when one is current') })

/** The 304 of a conditional GET: no body. */
export const NotModified = z.null().describe('Not modified: If-None-Match names the current ETag; no body')
