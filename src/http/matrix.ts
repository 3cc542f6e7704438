import { Readable } from 'node:stream'
import type { FastifyReply, FastifyRequest } from 'fastify'
import {
  MEDIA, decodeFloat32Body, decodeMatrixField, decodeNpy, encodeFloat32Body, encodeMatrixJson, encodeNpy,
  looksLikeJsonText, npyParts, parseShapeHeader, responseEncoding, shapeHeader
} from '../codecs/vectors.js'
import { ProblemError } from '../errors.js'
import { addVary } from './conditional.js'
import type { Matrix } from '../math/matrix.js'

/**
 * The HTTP side of matrices: which wire form a request used, and which one the client wants back.
 * The codecs do the decoding and checking; this only picks between them.
 */

export interface MatrixTarget {
  /** Field name used in error messages, e.g. "vectors". */
  field: string
  /** The row length the matrix must have (a space's dim). */
  cols: number
  /** How the expected length is described in errors, e.g. 'space "glove"'. */
  colsLabel: string
  maxRows: number
  /** What sets maxRows, named in the 422 (default MAX_ROWS_PER_REQUEST, the configured limit). */
  maxRowsSetting?: string
}

const withSetting = (target: MatrixTarget): MatrixTarget => ({ ...target, maxRowsSetting: target.maxRowsSetting ?? 'MAX_ROWS_PER_REQUEST' })

export function isBinaryBody (request: FastifyRequest): boolean {
  return Buffer.isBuffer(request.body)
}

/** Decodes a whole-body octet-stream or npy request. */
export function readBinaryMatrix (request: FastifyRequest, target: MatrixTarget): Matrix {
  const body = request.body as Buffer
  const type = (request.headers['content-type'] ?? '').split(';')[0].trim().toLowerCase()
  const shape = parseShapeHeader(request.headers['x-shape'])
  let m: Matrix
  try {
    m = type === MEDIA.npy
      ? decodeNpy(body, { ...withSetting(target), shape })
      : decodeFloat32Body(body, { ...withSetting(target), shape })
  } catch (err) {
    // JSON sent with a binary Content-Type fails as bytes; say what it really is.
    if (err instanceof ProblemError && looksLikeJsonText(body)) {
      throw new ProblemError(err.kind, `${err.detail} The body looks like JSON text: send it with Content-Type: application/json.`, { errors: err.errors })
    }
    throw err
  }
  request.rows = m.rows
  return m
}

/** Decodes a matrix field of a JSON body. */
export function readMatrixField (request: FastifyRequest, value: unknown, target: MatrixTarget): Matrix {
  const m = decodeMatrixField(value, withSetting(target))
  request.rows = (request.rows ?? 0) + m.rows
  return m
}

/**
 * Above this many bytes a .npy answer is written as its header followed by the result's own
 * bytes, instead of being copied into one buffer first; below it the copy costs less than a stream.
 */
const NPY_STREAM_BYTES = 64 * 1024

/**
 * Sends a matrix in the form the client asked for: raw float32 or npy by Accept (other result
 * fields go in X- headers), otherwise JSON with the matrix under `field`, as number[][] or base64.
 * The answer varies with Accept, and says so.
 */
export function sendMatrix (
  request: FastifyRequest,
  reply: FastifyReply,
  m: Matrix,
  opts: { field: string, json: Record<string, unknown>, headers?: Record<string, string>, encodingFormat?: 'float' | 'base64', status?: number }
): FastifyReply {
  request.rows = m.rows
  const encoding = responseEncoding(request.headers.accept)
  addVary(reply, 'Accept')
  void reply.code(opts.status ?? 200)
  if (encoding !== 'json') {
    void reply.headers({ ...opts.headers, 'x-shape': shapeHeader(m) })
    if (encoding === 'octet-stream') return reply.type(MEDIA.octetStream).send(encodeFloat32Body(m))
    if (m.data.byteLength < NPY_STREAM_BYTES) return reply.type(MEDIA.npy).send(encodeNpy(m))
    const [header, data] = npyParts(m)
    return reply.type(MEDIA.npy).header('content-length', String(header.length + data.length)).send(Readable.from([header, data], { objectMode: false }))
  }
  return reply.send({ ...opts.json, [opts.field]: encodeMatrixJson(m, opts.encodingFormat ?? 'float') })
}
