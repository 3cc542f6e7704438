/**
 * The NumPy .npy container (format versions 1.0, 2.0, 3.0): reading and checking the header, and
 * writing the header NumPy itself writes. Matrix-level checks (columns, row limit, finite values)
 * live in vectors.ts, which also turns the data section into a Matrix.
 * Format: https://numpy.org/doc/stable/reference/generated/numpy.lib.format.html
 */
import { badRequest, unprocessable, type ProblemError } from '../errors.js'
import type { Matrix } from '../math/matrix.js'
import { float32ToBytes } from './bytes.js'

const MAGIC = Buffer.from([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]) // \x93NUMPY
// Magic, major and minor version, then the header length: uint16 in version 1, uint32 after.
const PREAMBLE_V1 = 10
const PREAMBLE_V2 = 12
// Alignment of the data section and spare room for the shape to grow in place, as NumPy writes.
const ARRAY_ALIGN = 64
const GROWTH_AXIS_MAX_DIGITS = 21
// NumPy's own reader refuses headers over 10,000 bytes by default; so do we, which also bounds parsing.
const MAX_HEADER_BYTES = 10_000
const MAX_NESTING = 32

/** What the data section holds, once the header has been checked. */
export interface NpyLayout {
  /** 2 (float16), 4 (float32) or 8 (float64). */
  itemBytes: 2 | 4 | 8
  littleEndian: boolean
  /** The header's dtype string, for messages. */
  descr: string
  rows: number
  cols: number
  /** Where the data starts in the file. */
  dataOffset: number
}

type PyValue = string | number | boolean | null | PyValue[] | Map<string, PyValue>

class PyLiteralError extends Error {}

/** A parser for the small Python literal subset that .npy headers use (NumPy reads them with ast.literal_eval). */
class PyLiteralParser {
  private pos = 0
  constructor (private readonly text: string) {}

  parseAll (): PyValue {
    const value = this.value(0)
    this.skipSpace()
    if (this.pos < this.text.length) throw new PyLiteralError(`unexpected '${this.text[this.pos]}' at offset ${this.pos} after the header dict`)
    return value
  }

  private skipSpace (): void {
    while (this.pos < this.text.length && ' \t\r\n'.includes(this.text[this.pos])) this.pos++
  }

  private value (depth: number): PyValue {
    if (depth > MAX_NESTING) throw new PyLiteralError('nesting is too deep')
    this.skipSpace()
    const c = this.text[this.pos]
    if (c === undefined) throw new PyLiteralError('it ends before the dict is complete')
    if (c === '{') return this.dict(depth)
    if (c === '(') return this.sequence(')', depth)
    if (c === '[') return this.sequence(']', depth)
    if (c === '\'' || c === '"') return this.string(c)
    if (c === '-' || (c >= '0' && c <= '9')) return this.integer()
    const word = /^[A-Za-z_]+/.exec(this.text.slice(this.pos, this.pos + 16))?.[0]
    if (word === 'True' || word === 'False' || word === 'None') {
      this.pos += word.length
      return word === 'None' ? null : word === 'True'
    }
    throw new PyLiteralError(`unexpected '${c}' at offset ${this.pos}`)
  }

  private dict (depth: number): Map<string, PyValue> {
    const entries = new Map<string, PyValue>()
    this.pos++ // {
    for (;;) {
      this.skipSpace()
      if (this.text[this.pos] === '}') {
        this.pos++
        return entries
      }
      const key = this.value(depth + 1)
      if (typeof key !== 'string') throw new PyLiteralError('a dict key is not a string')
      this.skipSpace()
      if (this.text[this.pos] !== ':') throw new PyLiteralError(`expected ':' after the key '${key}'`)
      this.pos++
      entries.set(key, this.value(depth + 1))
      this.skipSpace()
      if (this.text[this.pos] === ',') this.pos++
      else if (this.text[this.pos] !== '}') throw new PyLiteralError(`expected ',' or '}' at offset ${this.pos}`)
    }
  }

  private sequence (close: string, depth: number): PyValue[] {
    const items: PyValue[] = []
    this.pos++ // ( or [
    for (;;) {
      this.skipSpace()
      if (this.text[this.pos] === close) {
        this.pos++
        return items
      }
      items.push(this.value(depth + 1))
      this.skipSpace()
      if (this.text[this.pos] === ',') this.pos++
      else if (this.text[this.pos] !== close) throw new PyLiteralError(`expected ',' or '${close}' at offset ${this.pos}`)
    }
  }

  private string (quote: string): string {
    let out = ''
    this.pos++
    while (this.pos < this.text.length && this.text[this.pos] !== quote) {
      // Escapes only matter for field names of structured dtypes, which are refused anyway.
      if (this.text[this.pos] === '\\') this.pos++
      out += this.text[this.pos++]
    }
    if (this.pos >= this.text.length) throw new PyLiteralError('a string is not closed')
    this.pos++
    return out
  }

  private integer (): number {
    // Python 2 wrote longs with an L suffix ("(3L, 4L)"); NumPy still reads those files.
    const match = /^-?[0-9]+L?/.exec(this.text.slice(this.pos, this.pos + 32))
    if (match === null) throw new PyLiteralError(`expected a number at offset ${this.pos}`)
    this.pos += match[0].length
    const digits = match[0].endsWith('L') ? match[0].slice(0, -1) : match[0]
    return Number(digits)
  }
}

function describeStart (buf: Buffer): string {
  const head = buf.subarray(0, 8)
  return [...head].map(b => b >= 0x20 && b < 0x7f ? String.fromCharCode(b) : `\\x${b.toString(16).padStart(2, '0')}`).join('')
}

const notNpy = (field: string, why: string): ProblemError => badRequest(
  `${field} is not a valid .npy file: ${why}. Write it with numpy.save (or numpy.lib.format.write_array) and send the file's bytes unchanged.`,
  [{ path: field, message: `not a valid .npy file: ${why}` }]
)

const unsupported = (path: string, detail: string): ProblemError => unprocessable(detail, [{ path, message: detail }])

/** Read and check the header: magic, version, dict, dtype, memory order, dimensions. */
export function readNpyHeader (buf: Buffer, field: string): NpyLayout {
  if (buf.length < PREAMBLE_V1 || !buf.subarray(0, MAGIC.length).equals(MAGIC)) {
    if (buf.length >= 4 && buf[0] === 0x50 && buf[1] === 0x4b && buf[2] === 0x03 && buf[3] === 0x04) {
      throw notNpy(field, 'it is a zip archive (an .npz from numpy.savez?); send one array written with numpy.save')
    }
    throw notNpy(field, buf.length < PREAMBLE_V1
      ? `it has ${buf.length} bytes, fewer than the ${PREAMBLE_V1}-byte preamble`
      : `it starts with '${describeStart(buf)}' instead of the magic string '\\x93NUMPY'`)
  }
  const major = buf[6]
  const minor = buf[7]
  let headerStart: number
  let headerLength: number
  if (major === 1 && minor === 0) {
    headerStart = PREAMBLE_V1
    headerLength = buf.readUInt16LE(8)
  } else if ((major === 2 || major === 3) && minor === 0) {
    if (buf.length < PREAMBLE_V2) throw notNpy(field, `its version ${major}.0 preamble needs ${PREAMBLE_V2} bytes, the file has ${buf.length}`)
    headerStart = PREAMBLE_V2
    headerLength = buf.readUInt32LE(8)
  } else {
    throw notNpy(field, `format version ${major}.${minor} is not one of 1.0, 2.0, 3.0`)
  }
  if (headerLength > MAX_HEADER_BYTES) throw notNpy(field, `its header claims ${headerLength} bytes, more than the ${MAX_HEADER_BYTES} allowed`)
  const dataOffset = headerStart + headerLength
  if (dataOffset > buf.length) throw notNpy(field, `the header is truncated: it claims ${headerLength} bytes but only ${buf.length - headerStart} follow the preamble`)

  // Versions 1 and 2 store the header in latin1, version 3 in UTF-8.
  const headerText = buf.toString(major === 3 ? 'utf8' : 'latin1', headerStart, dataOffset)
  let header: PyValue
  try {
    header = new PyLiteralParser(headerText).parseAll()
  } catch (err) {
    if (err instanceof PyLiteralError) throw notNpy(field, `the header is not a Python dict literal (${err.message})`)
    throw err
  }
  if (!(header instanceof Map)) throw notNpy(field, 'the header is not a dict')
  const keys = [...header.keys()].sort().join(', ')
  if (keys !== 'descr, fortran_order, shape') throw notNpy(field, `the header has the keys (${keys}) instead of exactly descr, fortran_order, shape`)

  const descr = header.get('descr')
  const fortranOrder = header.get('fortran_order')
  const shape = header.get('shape')
  if (typeof fortranOrder !== 'boolean') throw notNpy(field, 'fortran_order is not True or False')
  if (!Array.isArray(shape) || !shape.every(n => typeof n === 'number' && Number.isSafeInteger(n) && n >= 0)) {
    throw notNpy(field, 'shape is not a tuple of non-negative integers')
  }
  const dims = shape as number[]

  if (dims.length === 0 || dims.length > 2) {
    const shown = `(${dims.join(', ')}${dims.length === 1 ? ',' : ''})`
    throw unsupported(`${field}.shape`, `${field} is a .npy array of shape ${shown}, which is ${dims.length}-D; send a 2-D array (rows, cols), or a 1-D array for one row, e.g. array.reshape(-1, array.shape[-1]).`)
  }
  const rows = dims.length === 2 ? dims[0] : 1
  const cols = dims.length === 2 ? dims[1] : dims[0]

  // '<' little-endian, '>' big-endian; '=' (native) and '|' (not applicable) are read as
  // little-endian, the byte order of every platform in practice (NumPy itself writes '<' or '>').
  const dtype = typeof descr === 'string' ? /^([<>=|]?)f([248])$/.exec(descr) : null
  if (dtype === null) {
    const shown = typeof descr === 'string' ? `dtype '${descr.slice(0, 40)}'` : 'a structured dtype'
    throw unsupported(`${field}.descr`, `${field} is a .npy array of ${shown}; only float16, float32 and float64 arrays ('<f2', '<f4', '<f8', either byte order) are accepted: convert with array.astype(numpy.float32).`)
  }
  // With a single row or column both orders lay the values out identically, so only refuse real ones.
  if (fortranOrder && rows > 1 && cols > 1) {
    throw unsupported(`${field}.fortran_order`, `${field} is a .npy array in Fortran (column-major) order; send it in C (row-major) order, e.g. numpy.save(f, numpy.ascontiguousarray(array)).`)
  }

  return {
    itemBytes: Number(dtype[2]) as 2 | 4 | 8,
    littleEndian: dtype[1] !== '>',
    descr: descr as string,
    rows,
    cols,
    dataOffset
  }
}

/** The header NumPy writes (version 1.0) for a C-order little-endian float32 array of this shape. */
export function npyHeader (rows: number, cols: number): Buffer {
  let dict = `{'descr': '<f4', 'fortran_order': False, 'shape': (${rows}, ${cols}), }`
  // NumPy leaves room for the first axis to grow to 21 digits without rewriting the file.
  dict += ' '.repeat(Math.max(0, GROWTH_AXIS_MAX_DIGITS - String(rows).length))
  const withNewline = dict.length + 1
  // Like NumPy: pad with spaces so the data starts on a 64-byte boundary (a full 64 when already aligned).
  const padding = ARRAY_ALIGN - ((PREAMBLE_V1 + withNewline) % ARRAY_ALIGN)
  const header = Buffer.allocUnsafe(PREAMBLE_V1 + withNewline + padding)
  MAGIC.copy(header, 0)
  header[6] = 1
  header[7] = 0
  header.writeUInt16LE(withNewline + padding, 8)
  header.write(dict, PREAMBLE_V1, 'latin1')
  header.fill(0x20, PREAMBLE_V1 + dict.length, header.length - 1)
  header[header.length - 1] = 0x0a
  return header
}

/**
 * The matrix as a .npy file in two parts, the header and a view of the matrix's own bytes (no
 * copy on little-endian hosts), to be written one after the other.
 */
export function npyParts (m: Matrix): [Buffer, Buffer] {
  return [npyHeader(m.rows, m.cols), float32ToBytes(m.data)]
}

/** The matrix as a .npy file (version 1.0, '<f4', C order), byte for byte what numpy.save writes. */
export function encodeNpy (m: Matrix): Buffer {
  const header = npyHeader(m.rows, m.cols)
  const out = Buffer.allocUnsafe(header.length + m.data.byteLength)
  header.copy(out, 0)
  out.set(float32ToBytes(m.data), header.length)
  return out
}
