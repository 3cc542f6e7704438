import { Transform, type Readable, type TransformCallback } from 'node:stream'
import zlib from 'node:zlib'
import { errorCodes } from 'fastify'
import { ProblemError, badRequest } from '../errors.js'

/**
 * Request bodies sent with a Content-Encoding are decoded before any parser sees them, so a
 * compressed body is never read as JSON or as float32 values. The limit applies to the decoded
 * bytes and is enforced while inflating: a compression bomb is refused after at most the limit
 * plus one zlib chunk, never inflated whole.
 */

export type ContentCoding = 'gzip' | 'deflate' | 'br'

/** What a client may send, in the order named in errors and in Accept-Encoding. */
export const ACCEPTED_CODINGS = 'identity, gzip, deflate, br'

const CODINGS: Record<string, ContentCoding | 'identity'> = {
  identity: 'identity',
  gzip: 'gzip',
  // RFC 9110 §8.4.1.3: a recipient should treat x-gzip as gzip.
  'x-gzip': 'gzip',
  deflate: 'deflate',
  br: 'br'
}

function unsupportedEncoding (detail: string): ProblemError {
  return new ProblemError('unsupported-media-type', detail, { headers: { 'accept-encoding': ACCEPTED_CODINGS } })
}

/**
 * The coding to undo for a Content-Encoding header, undefined for none (absent or identity).
 * One coding at most: a stacked list such as "gzip, br" is refused, like any unknown coding.
 */
export function contentCoding (header: string | string[] | undefined): ContentCoding | undefined {
  if (header === undefined) return undefined
  const text = Array.isArray(header) ? header.join(',') : header
  const listed = text.split(',').map(c => c.trim().toLowerCase()).filter(c => c !== '')
  const codings = listed.map(c => CODINGS[c] ?? c).filter(c => c !== 'identity')
  const unknown = codings.find(c => !Object.hasOwn(CODINGS, c))
  if (unknown !== undefined) {
    throw unsupportedEncoding(`Content-Encoding ${JSON.stringify(unknown.slice(0, 40))} is not supported; send the body uncompressed or with one of: ${ACCEPTED_CODINGS}.`)
  }
  if (codings.length > 1) {
    throw unsupportedEncoding(`Content-Encoding ${JSON.stringify(text.slice(0, 80))} stacks ${codings.length} codings; send the body with at most one of: ${ACCEPTED_CODINGS}.`)
  }
  return codings[0] as ContentCoding | undefined
}

/** Whether the request has a body at all (a Content-Encoding on a bodiless request is ignored). */
export function hasBody (headers: Record<string, string | string[] | undefined>): boolean {
  return headers['transfer-encoding'] !== undefined || (headers['content-length'] !== undefined && headers['content-length'] !== '0')
}

function createDecoder (coding: ContentCoding): zlib.Gunzip | zlib.Inflate | zlib.BrotliDecompress {
  if (coding === 'gzip') return zlib.createGunzip()
  if (coding === 'br') return zlib.createBrotliDecompress()
  // "deflate" is the zlib format (RFC 9110 §8.4.1.2).
  return zlib.createInflate()
}

export interface DecodedBody extends Readable {
  /** Compressed bytes read so far (Fastify compares it with Content-Length). */
  receivedEncodedLength: number
  /** Decoded bytes produced so far: never more than the limit plus one decoder chunk. */
  decodedLength: number
}

/**
 * The decoded bytes of `payload`. Fails with Fastify's body-too-large error once more than `limit`
 * bytes have come out of the decoder, and with a 400 when the data is not valid for its coding.
 * The decoder honours backpressure (it inflates only as its output is read), and is destroyed as
 * soon as the limit is passed.
 */
export function decodeBody (payload: Readable, coding: ContentCoding, limit: number): DecodedBody {
  const decoder = createDecoder(coding)
  const out = new Transform({
    transform (chunk: Buffer, _enc, callback: TransformCallback) {
      out.decodedLength += chunk.length
      if (out.decodedLength > limit) {
        callback(new errorCodes.FST_ERR_CTP_BODY_TOO_LARGE())
        return
      }
      callback(null, chunk)
    }
  }) as Transform & DecodedBody
  out.receivedEncodedLength = 0
  out.decodedLength = 0
  payload.on('data', (chunk: Buffer) => { out.receivedEncodedLength += chunk.length })
  payload.on('error', (err: Error) => { out.destroy(err) })
  decoder.on('error', (err: Error) => {
    out.destroy(badRequest(`the body is not valid ${coding} data (Content-Encoding: ${coding}): ${err.message}. Compress the whole body once with ${coding}, or send it uncompressed.`))
  })
  out.on('close', () => {
    // Whatever ended the output (the limit, an error, the reader giving up) ends the inflating.
    payload.unpipe(decoder)
    decoder.destroy()
  })
  payload.pipe(decoder).pipe(out)
  return out
}
