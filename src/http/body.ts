import type { FastifyRequest } from 'fastify'
import { errorCodes } from 'fastify'
import { BufferPool } from '../util/buffer-pool.js'

/**
 * Whole-body binary requests read into reused memory. Fastify's buffer parser joins the socket
 * chunks into a fresh Buffer per request; for a bulk chunk (12 MB at 4,096 x 768) that is a large
 * new allocation every time, and in a bulk run V8 then spent about a quarter of the main thread
 * in garbage collection (a CPU profile of 200,000 rows in 4,096-row chunks). Here a body of known
 * length is copied once into a pooled buffer, which goes back to the pool when its response has
 * been sent (releaseBody): nothing holds a view of a body after that (the codecs view it, the
 * engine and the stores copy what they keep).
 */

/** Below this, Node's own small-buffer pool serves the body well. */
const POOLED_MIN_BYTES = 64 * 1024

// Shared memory: an engine worker reads a decoded body where it lies, with no copy on the main
// thread (a read-only view; the response that releases it waits for the engine).
const pool = new BufferPool<SharedArrayBuffer>(bytes => new SharedArrayBuffer(bytes), 4, 12)
const pooled = new WeakMap<FastifyRequest, SharedArrayBuffer>()

type Done = (err: Error | null, body?: Buffer) => void

export interface ReadOptions {
  /** Read a large body into pooled memory, handed back by releaseBody (default true). */
  pooled?: boolean
  /**
   * Bodies of at least `bytes` (declared, or received so far) wait for `admit` before being read
   * further; the payload is paused meanwhile. `admit` rejects to refuse the body.
   */
  large?: { bytes: number, admit: (signal: AbortSignal) => Promise<void> }
}

type Payload = NodeJS.ReadableStream & { receivedEncodedLength?: number }

/**
 * A content-type parser body: the bytes of the request, at most `limit` of them. A payload with
 * `receivedEncodedLength` is a decoded Content-Encoding (src/http/encoding.ts): its Content-Length
 * counts the encoded bytes, so it says nothing of the decoded size.
 */
export function readBody (request: FastifyRequest, payload: Payload, limit: number, done: Done, opts: ReadOptions = {}): void {
  const declared = Number(request.headers['content-length'])
  const encoded = typeof payload.receivedEncodedLength === 'number'
  if (declared > limit) {
    done(new errorCodes.FST_ERR_CTP_BODY_TOO_LARGE())
    return
  }
  const hasLength = Number.isSafeInteger(declared) && declared >= 0
  const known = hasLength && !encoded
  const memory = known && (opts.pooled ?? true) && declared >= POOLED_MIN_BYTES ? pool.acquire(2 ** Math.ceil(Math.log2(declared))) : undefined
  const body = known ? (memory !== undefined ? Buffer.from(memory, 0, declared) : Buffer.allocUnsafe(declared)) : undefined
  const chunks: Buffer[] = []
  let received = 0
  let finished = false
  let ended = false
  // Admission of a large body: undefined until asked for, then pending, then done.
  let admission: 'pending' | 'done' | undefined = opts.large === undefined ? 'done' : undefined
  // Only a body that waits for admission needs one (made when it starts waiting).
  let abort: AbortController | undefined
  const finish = (err: Error | null, value?: Buffer): void => {
    if (finished) return
    finished = true
    payload.removeListener('data', onData)
    payload.removeListener('end', onEnd)
    payload.removeListener('error', onError)
    payload.removeListener('close', onClose)
    if (err !== null || value === undefined) {
      if (memory !== undefined) pool.release(memory)
      abort?.abort(err ?? new Error('no body'))
      done(err)
      return
    }
    if (memory !== undefined) pooled.set(request, memory)
    done(null, value)
  }
  const complete = (): void => {
    if (body !== undefined) {
      if (received !== declared) finish(new errorCodes.FST_ERR_CTP_INVALID_CONTENT_LENGTH())
      else finish(null, body)
      return
    }
    if (encoded && hasLength && payload.receivedEncodedLength !== declared) {
      finish(new errorCodes.FST_ERR_CTP_INVALID_CONTENT_LENGTH())
      return
    }
    finish(null, Buffer.concat(chunks, received))
  }
  /** Pauses the payload until a large body is admitted; true while it waits. */
  const awaitAdmission = (size: number): boolean => {
    if (admission === 'done') return false
    if (admission === 'pending') return true
    const large = opts.large
    if (large === undefined || size < large.bytes) return false
    admission = 'pending'
    payload.pause()
    abort = new AbortController()
    large.admit(abort.signal).then(() => {
      admission = 'done'
      if (finished) return
      if (ended) complete()
      else payload.resume()
    }, (err: Error) => { finish(err) })
    return true
  }
  const onData = (chunk: Buffer | string): void => {
    const bytes = typeof chunk === 'string' ? Buffer.from(chunk) : chunk
    if (received + bytes.length > limit || (payload.receivedEncodedLength ?? 0) > limit) {
      finish(new errorCodes.FST_ERR_CTP_BODY_TOO_LARGE())
      return
    }
    if (body !== undefined) {
      // More bytes than Content-Length announced: refused at the end, like Fastify does.
      // Into shared memory TypedArray set is the faster copy (about 85 against 120 µs per 768 KB,
      // measured in one run), into plain memory Buffer copy (35 against 45 µs).
      if (received + bytes.length <= body.length) {
        if (memory !== undefined) body.set(bytes, received)
        else bytes.copy(body, received)
      }
    } else {
      // Always a copy: socket chunks may be views of a reused read buffer.
      chunks.push(Buffer.from(bytes))
    }
    received += bytes.length
    awaitAdmission(received)
  }
  const onEnd = (): void => {
    ended = true
    if (admission === 'pending') return
    complete()
  }
  const onError = (err: Error & { statusCode?: number }): void => {
    if (!(typeof err.statusCode === 'number' && err.statusCode >= 400)) err.statusCode = 400
    finish(err)
  }
  const onClose = (): void => {
    // The client went away before the end (a waiting body is unread, so no error may come).
    if (!ended) onError(new Error('the request was aborted before its body was received'))
  }
  payload.on('data', onData)
  payload.on('end', onEnd)
  payload.on('error', onError)
  payload.on('close', onClose)
  // A body declared large waits before its first byte is read.
  if (!awaitAdmission(known ? declared : 0)) payload.resume()
}

/** Hands a request's pooled body back for reuse, once its response is out. */
export function releaseBody (request: FastifyRequest): void {
  const memory = pooled.get(request)
  if (memory === undefined) return
  pooled.delete(request)
  pool.release(memory)
}
