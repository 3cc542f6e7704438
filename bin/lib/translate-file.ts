/**
 * Bulk translation of a .npy file through a running service: the input is read chunk by chunk at
 * its offsets (never whole), each chunk goes to POST /v1/translate as a binary body, a bounded
 * number at a time over keep-alive connections, and each answer is written at its place in the
 * output .npy as its bytes arrive. Memory stays about concurrency x chunk size on this side, and
 * one chunk per request on the service's.
 *
 * Used by bin/translate-npy.ts; kept here so the tests drive it directly too.
 */
import { open, rename, rm, type FileHandle } from 'node:fs/promises'
import http from 'node:http'
import https from 'node:https'
import { npyHeader, readNpyHeader, type NpyLayout } from '../../src/codecs/npy.js'
import { ProblemError } from '../../src/errors.js'

export interface BulkOptions {
  /** Base URL of the service, e.g. http://127.0.0.1:8080. */
  url: string
  input: string
  output: string
  source: string
  target: string
  translator?: string
  /** Bearer API key (read scope suffices). */
  apiKey?: string
  /** Rows per request. */
  chunkRows: number
  /** Requests in flight at once. */
  concurrency: number
  /** Retries of a chunk answered 429 or 503 (waiting Retry-After each time). */
  maxRetries?: number
  /** Called as rows complete (progress display). */
  onProgress?: (done: number, total: number) => void
}

export interface BulkResult {
  rows: number
  cols: number
  chunks: number
  retries: number
  seconds: number
}

export class BulkError extends Error {
  constructor (message: string) {
    super(message)
    this.name = 'BulkError'
  }
}

/** The layout of a .npy file from its first bytes, checked as the service checks a body. */
async function readLayout (file: FileHandle, path: string): Promise<NpyLayout> {
  const head = Buffer.alloc(12 + 10_000)
  const { bytesRead } = await file.read(head, 0, head.length, 0)
  let layout: NpyLayout
  try {
    layout = readNpyHeader(head.subarray(0, bytesRead), path)
  } catch (err) {
    if (err instanceof ProblemError) throw new BulkError(err.detail)
    throw err
  }
  const size = (await file.stat()).size
  const expected = layout.dataOffset + layout.rows * layout.cols * layout.itemBytes
  if (size !== expected) throw new BulkError(`${path} has ${size} bytes, but its header says (${layout.rows}, ${layout.cols}) of '${layout.descr}', which needs ${expected}: the file is truncated or has extra bytes`)
  return layout
}

interface Answer { status: number, headers: http.IncomingHttpHeaders, body?: Buffer }

/**
 * Sends one chunk; a 200 answer's body is written to the output at `position` as it arrives,
 * any other answer is read whole (a problem document) and returned.
 */
async function post (
  agent: http.Agent, url: URL, headers: Record<string, string>, body: Buffer, out: FileHandle, position: number
): Promise<Answer & { written: number }> {
  const client = url.protocol === 'https:' ? https : http
  return await new Promise((resolve, reject) => {
    const req = client.request(url, { method: 'POST', agent, headers: { ...headers, 'content-length': String(body.length) } }, res => {
      const status = res.statusCode ?? 0
      if (status !== 200) {
        const parts: Buffer[] = []
        res.on('data', (c: Buffer) => parts.push(c))
        res.on('end', () => resolve({ status, headers: res.headers, body: Buffer.concat(parts), written: 0 }))
        res.on('error', reject)
        return
      }
      let written = 0
      let writing: Promise<unknown> = Promise.resolve()
      res.on('data', (c: Buffer) => {
        const at = position + written
        written += c.length
        // Writes are positional, so their order does not matter; wait for all before resolving.
        writing = Promise.all([writing, out.write(c, 0, c.length, at)])
      })
      res.on('end', () => { writing.then(() => resolve({ status, headers: res.headers, written }), reject) })
      res.on('error', reject)
    })
    req.on('error', reject)
    req.end(body)
  })
}

function problemDetail (answer: Answer): string {
  try {
    const doc = JSON.parse(answer.body?.toString('utf8') ?? '') as { detail?: string }
    if (typeof doc.detail === 'string') return doc.detail
  } catch {}
  return answer.body?.toString('utf8').slice(0, 300) ?? ''
}

const sleep = async (ms: number): Promise<void> => await new Promise(resolve => setTimeout(resolve, ms))

export async function translateFile (opts: BulkOptions): Promise<BulkResult> {
  if (!Number.isSafeInteger(opts.chunkRows) || opts.chunkRows < 1) throw new BulkError(`chunk rows must be an integer ≥ 1, got ${opts.chunkRows}`)
  if (!Number.isSafeInteger(opts.concurrency) || opts.concurrency < 1) throw new BulkError(`concurrency must be an integer ≥ 1, got ${opts.concurrency}`)
  const started = performance.now()
  const input = await open(opts.input, 'r')
  const partial = `${opts.output}.partial`
  let output: FileHandle | undefined
  const agent = new http.Agent({ keepAlive: true, maxSockets: opts.concurrency })
  try {
    const layout = await readLayout(input, opts.input)
    const { rows, cols, itemBytes, littleEndian } = layout
    // The chunk header's dtype, in the 3-character form npyHeader's '<f4' slot holds.
    const descr = `${littleEndian ? '<' : '>'}f${itemBytes}`
    // Little-endian float32 goes as raw octet-stream; other dtypes as a small .npy per chunk,
    // which the service converts (float16, float64, big-endian).
    const raw = itemBytes === 4 && littleEndian
    const query = new URLSearchParams({ source: opts.source, target: opts.target, ...(opts.translator !== undefined ? { translator: opts.translator } : {}) })
    const url = new URL(`/v1/translate?${query.toString()}`, opts.url)
    const headers: Record<string, string> = {
      'content-type': raw ? 'application/octet-stream' : 'application/x-npy',
      accept: 'application/octet-stream',
      ...(opts.apiKey !== undefined ? { authorization: `Bearer ${opts.apiKey}` } : {})
    }
    // Every chunk says its shape (X-Shape), which the service checks against the bytes and the space.
    const withShape = (base: Record<string, string>, count: number): Record<string, string> => ({ ...base, 'x-shape': `${count},${cols}` })
    // A raw body carries no row length: check the file's against the source space first, so a
    // mismatch is named as such instead of as a body that is not a whole number of rows.
    const space = await postCollect(agent, new URL(`/v1/spaces/${encodeURIComponent(opts.source)}`, opts.url), headers, undefined)
    if (space.status !== 200) throw new BulkError(`GET /v1/spaces/${opts.source} answered ${space.status}: ${problemDetail(space)}`)
    const dim = (JSON.parse(space.body?.toString('utf8') ?? '{}') as { dim?: number }).dim
    if (dim !== cols) throw new BulkError(`${opts.input} has rows of ${cols} values, but space "${opts.source}" has dim ${String(dim)}`)
    const chunks = Math.ceil(rows / opts.chunkRows)
    const rowBytes = cols * itemBytes
    let outCols: number | undefined
    let headerBytes = 0
    let done = 0
    let retries = 0
    let next = 0
    output = await open(partial, 'w')
    const out = output

    /** The output's header, written once the first answer tells the target dim. */
    const learnCols = async (shape: string | string[] | undefined, chunkRows: number): Promise<void> => {
      const m = /^(\d+),(\d+)$/.exec(String(shape ?? ''))
      if (m === null || Number(m[1]) !== chunkRows) throw new BulkError(`the service answered X-Shape ${String(shape)} for a chunk of ${chunkRows} rows`)
      const c = Number(m[2])
      if (outCols === undefined) {
        outCols = c
        const header = npyHeader(rows, c)
        headerBytes = header.length
        await out.write(header, 0, header.length, 0)
      } else if (c !== outCols) {
        throw new BulkError(`the service answered ${c} columns for one chunk and ${outCols} for another (was the pair's active translator changed during the run? name one with --translator)`)
      }
    }

    // The first chunk goes alone: its answer fixes the output's header and where rows land.
    const worker = async (buffer: Buffer, first: boolean): Promise<void> => {
      for (;;) {
        const index = first ? 0 : next++
        if (index >= chunks) return
        const start = index * opts.chunkRows
        const count = Math.min(opts.chunkRows, rows - start)
        const dataBytes = count * rowBytes
        let body: Buffer
        if (raw) {
          body = buffer.subarray(0, dataBytes)
          await input.read(body, 0, dataBytes, layout.dataOffset + start * rowBytes)
        } else {
          const header = Buffer.from(npyHeader(count, cols).toString('latin1').replace("'<f4'", `'${descr}'`), 'latin1')
          body = buffer.subarray(0, header.length + dataBytes)
          header.copy(body, 0)
          await input.read(body, header.length, dataBytes, layout.dataOffset + start * rowBytes)
        }
        for (let attempt = 0; ; attempt++) {
          // Until the first answer the output's row size is unknown; chunk 0 needs no offset but
          // the header's, which only depends on rows and the column count it will report.
          const position = outCols === undefined ? -1 : headerBytes + start * outCols * 4
          const chunkHeaders = withShape(headers, count)
          const answer = position < 0
            ? await firstChunk(agent, url, chunkHeaders, body, out, count)
            : await post(agent, url, chunkHeaders, body, out, position)
          if (answer.status === 200) {
            if (position >= 0) await learnCols(answer.headers['x-shape'], count)
            const expected = count * (outCols as number) * 4
            if (answer.written !== expected) throw new BulkError(`the answer for rows ${start}..${start + count - 1} has ${answer.written} bytes, expected ${expected}`)
            break
          }
          if ((answer.status === 429 || answer.status === 503) && attempt < (opts.maxRetries ?? 20)) {
            retries++
            const wait = Number(answer.headers['retry-after'] ?? '1')
            await sleep(1000 * (Number.isFinite(wait) && wait > 0 ? Math.min(wait, 60) : 1))
            continue
          }
          throw new BulkError(`POST ${url.pathname} for rows ${start}..${start + count - 1} answered ${answer.status}: ${problemDetail(answer)}`)
        }
        done += count
        opts.onProgress?.(done, rows)
        if (first) return
      }
    }

    /** Chunk 0: its answer is held until the header is written (its size is one chunk). */
    const firstChunk = async (agent: http.Agent, url: URL, headers: Record<string, string>, body: Buffer, out: FileHandle, count: number): Promise<Answer & { written: number }> => {
      const answer = await postCollect(agent, url, headers, body)
      if (answer.status !== 200) return { ...answer, written: 0 }
      await learnCols(answer.headers['x-shape'], count)
      const data = answer.body as Buffer
      await out.write(data, 0, data.length, headerBytes)
      return { ...answer, written: data.length }
    }

    const bufferBytes = (raw ? 0 : npyHeader(opts.chunkRows, cols).length) + opts.chunkRows * rowBytes
    if (chunks > 0) {
      next = 1
      await worker(Buffer.allocUnsafe(bufferBytes), true)
      // One reused read buffer per connection.
      await Promise.all(Array.from({ length: Math.min(opts.concurrency, chunks - 1) }, async () => await worker(Buffer.allocUnsafe(bufferBytes), false)))
    } else {
      // An empty input: the target dim is unknown without a call; ask with zero rows.
      const answer = await postCollect(agent, url, withShape(headers, 0), raw ? Buffer.alloc(0) : npyHeader(0, cols))
      if (answer.status !== 200) throw new BulkError(`POST ${url.pathname} answered ${answer.status}: ${problemDetail(answer)}`)
      await learnCols(answer.headers['x-shape'], 0)
    }
    await out.close()
    output = undefined
    await rename(partial, opts.output)
    return { rows, cols: outCols ?? 0, chunks, retries, seconds: (performance.now() - started) / 1000 }
  } finally {
    agent.destroy()
    await input.close()
    if (output !== undefined) {
      await output.close()
      await rm(partial, { force: true })
    }
  }
}

/** A request whose answer is read whole: POST with a body, GET without one. */
async function postCollect (agent: http.Agent, url: URL, headers: Record<string, string>, body: Buffer | undefined): Promise<Answer> {
  const client = url.protocol === 'https:' ? https : http
  const method = body === undefined ? 'GET' : 'POST'
  const sent = body === undefined ? { authorization: headers.authorization ?? '' } : { ...headers, 'content-length': String(body.length) }
  if (sent.authorization === '') delete (sent as Record<string, string>).authorization
  return await new Promise((resolve, reject) => {
    const req = client.request(url, { method, agent, headers: sent }, res => {
      const parts: Buffer[] = []
      res.on('data', (c: Buffer) => parts.push(c))
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(parts) }))
      res.on('error', reject)
    })
    req.on('error', reject)
    req.end(body)
  })
}
