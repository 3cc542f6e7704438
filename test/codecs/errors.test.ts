import t from 'tap'
import {
  decodeFloat32Body, decodeMatrixField, decodeNpy, encodeFloat32Body, encodeMatrixJson, encodeNpy
} from '../../src/codecs/vectors.js'
import type { Matrix } from '../../src/math/matrix.js'
import { problemOf } from './fixtures/helpers.js'

const ROWS = 2000
const COLS = 768
const target = { field: 'vectors', cols: COLS, colsLabel: 'space "glove"', maxRows: 10_000 }

/** 2000 x 768 of ordinary values, with one NaN (or another value) at row 17, column 3. */
function bigMatrix (bad: number): Matrix {
  const data = new Float32Array(ROWS * COLS)
  for (let i = 0; i < data.length; i++) data[i] = Math.sin(i) * 0.5
  data[17 * COLS + 3] = bad
  return { rows: ROWS, cols: COLS, data }
}

t.test('a NaN in row 17 of a 2000 x 768 matrix is a 422 naming row 17, column 3, in every form', async t => {
  const m = bigMatrix(NaN)
  const forms: Array<[string, () => unknown]> = [
    ['JSON number[][]', () => decodeMatrixField(encodeMatrixJson(m, 'float'), target)],
    ['base64 float32', () => decodeMatrixField(JSON.parse(JSON.stringify(encodeMatrixJson(m, 'base64'))), target)],
    ['base64 float16', () => decodeMatrixField(encodeMatrixJson(m, 'base64', 'float16'), target)],
    ['octet-stream', () => decodeFloat32Body(Buffer.from(encodeFloat32Body(m)), target)],
    ['npy', () => decodeNpy(encodeNpy(m), target)]
  ]
  for (const [name, decode] of forms) {
    const started = performance.now()
    const err = problemOf(decode)
    t.match(err, { status: 422, kind: 'unprocessable' }, `${name}: status and kind`)
    t.equal(err.detail, 'vectors[17][3] is NaN (row 17, column 3, 0-based): every value must be finite; replace NaN and ±Infinity before sending.', `${name}: detail`)
    t.same(err.errors, [{ path: 'vectors[17][3]', message: err.detail }], `${name}: errors`)
    t.comment(`${name}: ${(performance.now() - started).toFixed(1)} ms`)
  }
})

t.test('JSON text: 1e999 parses to Infinity and 1e39 overflows float32; both are 422 at row 17', async t => {
  const rows = Array.from({ length: 40 }, (_, r) => Array.from({ length: 16 }, (_, c) => r === 17 && c === 3 ? 7 : 0.5))
  const text = JSON.stringify(rows)
  const at = (replacement: string): unknown => JSON.parse(text.replace(/,7,/, `,${replacement},`))
  const opts = { field: 'vectors', cols: 16 }
  t.equal(decodeMatrixField(at('7'), opts).data[17 * 16 + 3], 7, 'the unaltered text decodes')
  const inf = problemOf(() => decodeMatrixField(at('1e999'), opts))
  t.match(inf, { status: 422, kind: 'unprocessable' })
  t.match(inf.detail, /^vectors\[17\]\[3\] is Infinity \(row 17, column 3, 0-based\)/)
  const negInf = problemOf(() => decodeMatrixField(at('-1e999'), opts))
  t.match(negInf.detail, /^vectors\[17\]\[3\] is -Infinity/)
  const overflow = problemOf(() => decodeMatrixField(at('1e39'), opts))
  t.match(overflow, { status: 422, kind: 'unprocessable' })
  t.match(overflow.detail, /^vectors\[17\]\[3\] is 1e\+39, beyond the float32 range .*\(row 17, column 3, 0-based\)/)
  t.same(overflow.errors?.map(e => e.path), ['vectors[17][3]'])
})

t.test('base64 float16 Inf is a 422 with its position', async t => {
  const halves = Buffer.alloc(2 * 3 * 2)
  halves.writeUInt16LE(0x3c00, 0)
  halves.writeUInt16LE(0xfc00, 5 * 2) // -Inf at row 1, column 2
  const err = problemOf(() => decodeMatrixField({ dtype: 'float16', shape: [2, 3], data: halves.toString('base64') }, { field: 'x' }))
  t.match(err, { status: 422, kind: 'unprocessable' })
  t.equal(err.detail, 'x[1][2] is -Infinity (row 1, column 2, 0-based): every value must be finite; replace NaN and ±Infinity before sending.')
})

t.test('JSON structure errors are 400', async t => {
  const cases: Array<[unknown, string, RegExp]> = [
    ['abc', 'vectors', /^vectors must be an array of rows \(number\[\]\[\]\) or a base64 object .*got a string\.$/],
    [null, 'vectors', /got null/],
    [undefined, 'vectors', /got nothing \(the field is missing\)/],
    [42, 'vectors', /got the number 42/],
    [[[1, 2], 3], 'vectors[1]', /^vectors\[1\] is the number 3, not an array \(row 1, 0-based\)/],
    [[{ a: 1 }], 'vectors[0]', /^vectors\[0\] is an object, not an array/],
    [[[1, '2']], 'vectors[0][1]', /^vectors\[0\]\[1\] is a string \(row 0, column 1, 0-based\): every value must be a JSON number\.$/],
    [[[1, 2], [3, null]], 'vectors[1][1]', /^vectors\[1\]\[1\] is null \(row 1, column 1, 0-based\).*write NaN and Infinity as null/],
    [{ foo: 1 }, 'vectors', /^vectors is an object with the keys \(foo\); it must be an array of rows/]
  ]
  for (const [value, path, detail] of cases) {
    const err = problemOf(() => decodeMatrixField(value, { field: 'vectors' }))
    t.match(err, { status: 400, kind: 'invalid-request' }, `${JSON.stringify(value)}: status and kind`)
    t.match(err.detail, detail, `${JSON.stringify(value)}: detail`)
    t.equal(err.errors?.[0].path, path, `${JSON.stringify(value)}: path`)
  }
})

t.test('ragged rows name the first bad row', async t => {
  const err = problemOf(() => decodeMatrixField([[1, 2], [3, 4], [5], [6, 7, 8]], { field: 'vectors' }))
  t.match(err, { status: 422, kind: 'unprocessable' })
  t.equal(err.detail, 'vectors[2] has 1 values but vectors[0] has 2 (rows are 0-based): every row must have the same length.')
  t.equal(err.errors?.[0].path, 'vectors[2]')
  const longer = problemOf(() => decodeMatrixField([[1, 2], [3, 4, 5]], { field: 'vectors' }))
  t.match(longer, { status: 422, kind: 'unprocessable' })
  t.equal(longer.detail, 'vectors[1] has 3 values but vectors[0] has 2 (rows are 0-based): every row must have the same length.')
})

t.test('a column count other than the space dim is a 422 in every form', async t => {
  const m: Matrix = { rows: 2, cols: 512, data: new Float32Array(1024) }
  const expected = 'vectors has 512 columns but space "glove" has dim 768: send rows of exactly 768 values.'
  t.equal(problemOf(() => decodeMatrixField(encodeMatrixJson(m, 'float'), target)).detail, expected, 'JSON')
  t.equal(problemOf(() => decodeMatrixField(encodeMatrixJson(m, 'base64'), target)).detail, expected, 'base64')
  t.equal(problemOf(() => decodeNpy(encodeNpy(m), target)).detail, expected, 'npy')
  const noLabel = problemOf(() => decodeMatrixField([[1, 2]], { field: 'vectors', cols: 3 }))
  t.match(noLabel, { status: 422, kind: 'unprocessable' })
  t.equal(noLabel.detail, 'vectors has 2 columns but 3 are expected: send rows of exactly 3 values.')
  // Octet-stream has no columns of its own: a length that is not a whole number of rows.
  const octet = problemOf(() => decodeFloat32Body(Buffer.alloc(2 * 512 * 4), target))
  t.match(octet, { status: 422, kind: 'unprocessable' })
  t.equal(octet.detail, 'vectors has 4096 bytes, which is not a whole number of rows: a row is 768 float32 values (the dim of space "glove") = 3072 bytes, and 4096 bytes are 1 rows plus 1024 bytes. Send rows x 768 little-endian float32 values, row-major, and nothing else.')
})

t.test('zero columns are a 422; zero rows are allowed', async t => {
  t.equal(problemOf(() => decodeMatrixField([[]], { field: 'vectors' })).detail, 'vectors has 0 columns: every row needs at least one value.')
  t.match(problemOf(() => decodeMatrixField({ dtype: 'float32', shape: [2, 0], data: '' }, { field: 'vectors' })), { status: 422, kind: 'unprocessable' })
  t.same(decodeMatrixField([], { field: 'vectors' }), { rows: 0, cols: 0, data: new Float32Array(0) })
  t.same(decodeMatrixField({ dtype: 'float32', shape: [0, 5], data: '' }, { field: 'vectors', cols: 5 }), { rows: 0, cols: 5, data: new Float32Array(0) })
  t.same(decodeFloat32Body(Buffer.alloc(0), { field: 'body', cols: 5 }), { rows: 0, cols: 5, data: new Float32Array(0) })
})

t.test('more rows than maxRows is a 422 in every form', async t => {
  const m: Matrix = { rows: 3, cols: 2, data: new Float32Array(6) }
  const opts = { field: 'vectors', maxRows: 2 }
  const expected = 'vectors has 3 rows, more than the limit of 2: send at most 2 rows per request and split the rest into further requests.'
  t.equal(problemOf(() => decodeMatrixField(encodeMatrixJson(m, 'float'), opts)).detail, expected)
  t.equal(problemOf(() => decodeMatrixField(encodeMatrixJson(m, 'base64'), opts)).detail, expected)
  t.equal(problemOf(() => decodeFloat32Body(encodeFloat32Body(m), { ...opts, cols: 2 })).detail, expected)
  t.equal(problemOf(() => decodeNpy(encodeNpy(m), opts)).detail, expected)
  t.equal(decodeMatrixField(encodeMatrixJson(m, 'float'), { field: 'vectors', maxRows: 3 }).rows, 3, 'exactly maxRows is fine')
})

t.test('base64 object: malformed fields are 400', async t => {
  const good = encodeMatrixJson({ rows: 2, cols: 2, data: Float32Array.of(1, 2, 3, 4) }, 'base64')
  const cases: Array<[Record<string, unknown>, string, RegExp]> = [
    [{ ...good, dtype: 'float64' }, 'vectors.dtype', /^vectors\.dtype is "float64"; it must be "float32" or "float16"\.$/],
    [{ shape: good.shape, data: good.data }, 'vectors.dtype', /vectors\.dtype is nothing/],
    [{ ...good, shape: [4] }, 'vectors.shape', /^vectors\.shape is \[4\]; it must be \[rows, cols\]/],
    [{ ...good, shape: [-1, 2] }, 'vectors.shape', /\[-1,2\]/],
    [{ ...good, shape: [1.5, 2] }, 'vectors.shape', /\[1\.5,2\]/],
    [{ ...good, shape: '2,2' }, 'vectors.shape', /"2,2"/],
    [{ ...good, data: [1, 2] }, 'vectors.data', /^vectors\.data is an array; it must be a string of base64/]
  ]
  for (const [value, path, detail] of cases) {
    const err = problemOf(() => decodeMatrixField(value, { field: 'vectors' }))
    t.match(err, { status: 400, kind: 'invalid-request' }, `${JSON.stringify(value)}: status and kind`)
    t.match(err.detail, detail, `${JSON.stringify(value)}: detail`)
    t.equal(err.errors?.[0].path, path)
  }
})

t.test('base64 data: bad characters are 400 with their offset', async t => {
  const good = encodeMatrixJson({ rows: 2, cols: 2, data: Float32Array.of(1, 2, 3, 4) }, 'base64')
  const withData = (data: string): unknown => ({ ...good, data })
  const mid = 8
  const insert = (s: string): string => good.data.slice(0, mid) + s + good.data.slice(mid + s.length)
  const cases: Array<[string, RegExp]> = [
    [insert('!'), /^vectors\.data is not valid base64: it has the character "!" \(U\+0021\) at offset 8, outside the base64 alphabet\. Encode/],
    [insert('\n'), /whitespace or a line break at offset 8/],
    [insert('-'), /'-' at offset 8, from the URL-safe alphabet/],
    [insert('é'), /"é" \(U\+00E9\) at offset 8/],
    [insert('='), /'=' padding at offset 8, before the end/],
    [good.data.slice(0, -1), /its length, 23 characters, is not a possible base64 length/],
    [good.data.slice(0, 21), /its length, 21 characters/],
    [good.data + '=', /it ends with 3 '=' padding characters; base64 has at most 2/],
    [good.data.slice(0, 20) + 'AAA===', /ends with 3 '=' padding characters; base64 has at most 2/],
    [good.data.slice(0, 20) + 'AA=A', /'=' padding at offset 22, before the end/],
    [good.data + '\n', /whitespace or a line break at offset 24/],
    [good.data.slice(0, 23) + '\u{1F600}', /"\\ud83d" \(U\+D83D\) at offset 23/]
  ]
  t.equal(good.data.length, 24, 'the 16 bytes take 24 characters, padded')
  for (const [data, detail] of cases) {
    const err = problemOf(() => decodeMatrixField(withData(data), { field: 'vectors' }))
    t.match(err, { status: 400, kind: 'invalid-request' }, `${JSON.stringify(data)}: status and kind`)
    t.match(err.detail, detail, `${JSON.stringify(data)}: detail`)
    t.equal(err.errors?.[0].path, 'vectors.data')
  }
  // Unpadded base64 is unambiguous, so it is accepted.
  const unpadded = good.data.replace(/=+$/, '')
  t.not(unpadded, good.data)
  t.same(decodeMatrixField(withData(unpadded), { field: 'vectors' }).data, Float32Array.of(1, 2, 3, 4))
})

t.test('base64 data that is valid but too short or too long for the shape is a 422 with both sizes', async t => {
  const good = encodeMatrixJson({ rows: 2, cols: 4, data: new Float32Array(8).fill(1) }, 'base64')
  const truncated = problemOf(() => decodeMatrixField({ ...good, data: good.data.slice(0, -8) }, { field: 'vectors' }))
  t.match(truncated, { status: 422, kind: 'unprocessable' })
  t.equal(truncated.detail, 'vectors.data decodes to 27 bytes but shape [2, 4] of float32 needs 2 x 4 x 4 = 32 bytes: make shape match the data, and send every value.')
  t.equal(truncated.errors?.[0].path, 'vectors.data')
  const mismatch = problemOf(() => decodeMatrixField({ ...good, shape: [3, 4] }, { field: 'vectors' }))
  t.match(mismatch, { status: 422, kind: 'unprocessable' })
  t.match(mismatch.detail, /decodes to 32 bytes but shape \[3, 4\] of float32 needs 3 x 4 x 4 = 48 bytes/)
  const half = problemOf(() => decodeMatrixField({ ...good, dtype: 'float16' }, { field: 'vectors' }))
  t.match(half.detail, /decodes to 32 bytes but shape \[2, 4\] of float16 needs 2 x 4 x 2 = 16 bytes/)
})

t.test('npy errors', async t => {
  const file = encodeNpy({ rows: 2, cols: 3, data: Float32Array.of(1, 2, 3, 4, 5, 6) })
  const opts = { field: 'body' }

  const magic = problemOf(() => decodeNpy(Buffer.from('{"vectors": [[1, 2, 3]]}'), opts))
  t.match(magic, { status: 400, kind: 'invalid-request' })
  t.equal(magic.detail, "body is not a valid .npy file: it starts with '{\"vector' instead of the magic string '\\x93NUMPY'. Write it with numpy.save (or numpy.lib.format.write_array) and send the file's bytes unchanged.")
  t.equal(magic.errors?.[0].path, 'body')

  const npz = problemOf(() => decodeNpy(Buffer.from('PK\x03\x04\x14\x00\x00\x00', 'latin1'), opts))
  t.match(npz, { status: 400, kind: 'invalid-request' })
  t.match(npz.detail, /it is a zip archive \(an \.npz from numpy\.savez\?\)/)

  t.match(problemOf(() => decodeNpy(Buffer.alloc(0), opts)).detail, /it has 0 bytes, fewer than the 10-byte preamble/)

  const truncatedData = problemOf(() => decodeNpy(file.subarray(0, file.length - 5), opts))
  t.match(truncatedData, { status: 422, kind: 'unprocessable' })
  t.equal(truncatedData.detail, "body is truncated: its header says shape (2, 3) of '<f4', which needs 24 bytes of data, but 19 bytes follow the header. Send the whole file exactly as numpy.save wrote it.")

  const extra = problemOf(() => decodeNpy(Buffer.concat([file, Buffer.alloc(4)]), opts))
  t.match(extra, { status: 422, kind: 'unprocessable' })
  t.match(extra.detail, /^body has extra bytes after the array: .* needs 24 bytes of data, but 28 bytes follow the header/)

  const truncatedHeader = problemOf(() => decodeNpy(file.subarray(0, 40), opts))
  t.match(truncatedHeader, { status: 400, kind: 'invalid-request' })
  t.match(truncatedHeader.detail, /the header is truncated: it claims 118 bytes but only 30 follow the preamble/)

  const version = Buffer.from(file)
  version[6] = 4
  t.match(problemOf(() => decodeNpy(version, opts)).detail, /format version 4\.0 is not one of 1\.0, 2\.0, 3\.0/)

  const garbled = Buffer.from(file.toString('latin1').replace("'shape': (2, 3)", "'shape': [2, 3)"), 'latin1')
  const garbledErr = problemOf(() => decodeNpy(garbled, opts))
  t.match(garbledErr, { status: 400, kind: 'invalid-request' })
  t.match(garbledErr.detail, /the header is not a Python dict literal \(expected ',' or '\]' at offset \d+\)/)

  const keys = Buffer.from(file.toString('latin1').replace("'descr'", "'dtype'"), 'latin1')
  t.match(problemOf(() => decodeNpy(keys, opts)).detail, /the header has the keys \(dtype, fortran_order, shape\) instead of exactly descr, fortran_order, shape/)

  const nan = problemOf(() => decodeNpy(encodeNpy(bigMatrix(NaN)), { field: 'body' }))
  t.equal(nan.errors?.[0].path, 'body[17][3]')
})
