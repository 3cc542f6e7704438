import { readFileSync } from 'node:fs'
import t from 'tap'
import { decodeNpy, encodeNpy } from '../../src/codecs/vectors.js'
import type { Matrix } from '../../src/math/matrix.js'
import { bitsOf, float64Bytes, npyFile, problemOf } from './fixtures/helpers.js'

// Written by scripts/golden/make_npy.py with real NumPy; the values below are the ones it writes.
const golden = (name: string): Buffer => readFileSync(new URL(`../golden/npy/${name}`, import.meta.url))
const decode = (name: string, opts: { cols?: number } = {}): Matrix => decodeNpy(golden(name), { field: 'body', ...opts })

// [[1.5, -0.0, 3.4028235e38], [1e-45, -2.25, 0.1]] as float32.
const F4_2X3 = Float32Array.of(1.5, -0, 3.4028234663852886e38, 1.401298464324817e-45, -2.25, Math.fround(0.1))
const hex = (data: Float32Array): string[] => [...bitsOf(data)].map(b => b.toString(16).padStart(8, '0'))

t.test('float32 and float64 files in every byte order and header version decode to the same float32 bits', async t => {
  const expectedBits = ['3fc00000', '80000000', '7f7fffff', '00000001', 'c0100000', '3dcccccd']
  t.same(hex(F4_2X3), expectedBits, 'the expectation itself')
  for (const name of ['f4_2x3.npy', 'f8_2x3.npy', 'f4be_2x3.npy', 'f8be_2x3.npy', 'f4_v2_2x3.npy', 'f4_v3_2x3.npy']) {
    const m = decode(name, { cols: 3 })
    t.equal(m.rows, 2, `${name}: rows`)
    t.equal(m.cols, 3, `${name}: cols`)
    t.same(hex(m.data), expectedBits, `${name}: bits`)
  }
})

t.test('float16, 1-D and empty files', async t => {
  const half = decode('f2_2x2.npy')
  t.same({ rows: half.rows, cols: half.cols }, { rows: 2, cols: 2 })
  t.same(hex(half.data), hex(Float32Array.of(1, -0, 65504, 2 ** -24)))

  const oneD = decode('f4_1d_4.npy')
  t.same({ rows: oneD.rows, cols: oneD.cols, data: [...oneD.data] }, { rows: 1, cols: 4, data: [0.5, 1, -1.5, 2] }, 'shape (4,) is one row')

  const empty = decode('f4_0x3.npy', { cols: 3 })
  t.same({ rows: empty.rows, cols: empty.cols, length: empty.data.length }, { rows: 0, cols: 3, length: 0 })
})

t.test('encodeNpy writes the bytes numpy.save writes', async t => {
  const reference = golden('encode_ref_12x5.npy')
  const data = Float32Array.from({ length: 60 }, (_, i) => i * 0.25 - 3)
  const ours = encodeNpy({ rows: 12, cols: 5, data })
  t.equal(ours.length, reference.length, 'same length')
  t.ok(ours.equals(reference), 'same bytes (12 x 5)')
  t.equal(ours.subarray(0, 128).toString('latin1').trimEnd(), reference.subarray(0, 128).toString('latin1').trimEnd(), 'same header text')
  for (const name of ['f4_2x3.npy', 'f4_0x3.npy']) {
    t.ok(encodeNpy(decode(name)).equals(golden(name)), `${name}: decode then encode gives NumPy's file back`)
  }
  t.equal(encodeNpy(decode('f4_2x3.npy')).length - 6 * 4, 128, 'the data starts at byte 128, on a 64-byte boundary')
})

t.test('golden files that must be refused', async t => {
  const fortran = problemOf(() => decode('f4_fortran_2x3.npy'))
  t.match(fortran, { status: 422, kind: 'unprocessable' })
  t.equal(fortran.detail, 'body is a .npy array in Fortran (column-major) order; send it in C (row-major) order, e.g. numpy.save(f, numpy.ascontiguousarray(array)).')
  t.equal(fortran.errors?.[0].path, 'body.fortran_order')

  const threeD = problemOf(() => decode('f4_3d_2x2x2.npy'))
  t.match(threeD, { status: 422, kind: 'unprocessable' })
  t.match(threeD.detail, /^body is a \.npy array of shape \(2, 2, 2\), which is 3-D; send a 2-D array/)
  t.equal(threeD.errors?.[0].path, 'body.shape')

  const ints = problemOf(() => decode('i4_2x2.npy'))
  t.match(ints, { status: 422, kind: 'unprocessable' })
  t.match(ints.detail, /^body is a \.npy array of dtype '<i4'; only float16, float32 and float64 arrays .*astype\(numpy\.float32\)/)

  const nan = problemOf(() => decode('f4_nan_at_1_0.npy'))
  t.match(nan, { status: 422, kind: 'unprocessable' })
  t.equal(nan.detail, 'body[1][0] is NaN (row 1, column 0, 0-based): every value must be finite; replace NaN and ±Infinity before sending.')

  const overflow = problemOf(() => decode('f8_overflow_at_1_2.npy'))
  t.match(overflow, { status: 422, kind: 'unprocessable' })
  t.equal(overflow.detail, 'body[1][2] is 1e+39, beyond the float32 range of ±3.4028234663852886e+38 (row 1, column 2, 0-based): every value must be a finite float32; rescale or clip the values.')

  const cols = problemOf(() => decodeNpy(golden('f4_2x3.npy'), { field: 'body', cols: 4, colsLabel: 'space "A"' }))
  t.equal(cols.detail, 'body has 3 columns but space "A" has dim 4: send rows of exactly 4 values.')

  const truncated = problemOf(() => decodeNpy(golden('f8_2x3.npy').subarray(0, 170), { field: 'body' }))
  t.match(truncated, { status: 422, kind: 'unprocessable' })
  t.match(truncated.detail, /needs 48 bytes of data, but 42 bytes follow the header/)
})

t.test('header variants NumPy reads are read too', async t => {
  const values = Float32Array.of(1, 2, 3, 4, 5, 6)
  const le = Buffer.from(values.buffer)
  const variants: Array<[string, Buffer]> = [
    ['Python 2 longs', npyFile("{'descr': '<f4', 'fortran_order': False, 'shape': (2L, 3L), }", le)],
    ['double quotes, no trailing comma, other key order', npyFile('{"shape": (2, 3), "fortran_order": False, "descr": "<f4"}', le)],
    ["'=' native order", npyFile("{'descr': '=f4', 'fortran_order': False, 'shape': (2, 3), }", le)],
    ["'|' order", npyFile("{'descr': '|f4', 'fortran_order': False, 'shape': (2, 3), }", le)],
    ['version 2.0 by hand', npyFile("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }", le, 2)],
    ['version 3.0 by hand', npyFile("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }", le, 3)],
    ['float64 big-endian by hand', npyFile("{'descr': '>f8', 'fortran_order': False, 'shape': (2, 3), }", float64Bytes(values, false))]
  ]
  for (const [name, file] of variants) {
    const m = decodeNpy(file, { field: 'body' })
    t.same({ rows: m.rows, cols: m.cols, data: [...m.data] }, { rows: 2, cols: 3, data: [1, 2, 3, 4, 5, 6] }, name)
  }
  // One row or one column is laid out the same in both orders, so fortran_order does not matter there.
  const column = decodeNpy(npyFile("{'descr': '<f4', 'fortran_order': True, 'shape': (6, 1), }", le), { field: 'body' })
  t.same([column.rows, column.cols, ...column.data], [6, 1, 1, 2, 3, 4, 5, 6], 'Fortran order with one column')

  const structured = problemOf(() => decodeNpy(npyFile("{'descr': [('x', '<f4'), ('y', '<f4')], 'fortran_order': False, 'shape': (3,), }", le), { field: 'body' }))
  t.match(structured, { status: 422, kind: 'unprocessable' })
  t.match(structured.detail, /a structured dtype/)
  const scalar = problemOf(() => decodeNpy(npyFile("{'descr': '<f4', 'fortran_order': False, 'shape': (), }", le.subarray(0, 4)), { field: 'body' }))
  t.match(scalar, { status: 422, kind: 'unprocessable' })
  t.match(scalar.detail, /shape \(\), which is 0-D/)
  const emptyRow = problemOf(() => decodeNpy(npyFile("{'descr': '<f4', 'fortran_order': False, 'shape': (0,), }", Buffer.alloc(0)), { field: 'body' }))
  t.equal(emptyRow.detail, 'body has 0 columns: every row needs at least one value.')
  const deep = problemOf(() => decodeNpy(npyFile(`{'descr': ${'('.repeat(100)}`, le), { field: 'body' }))
  t.match(deep, { status: 400, kind: 'invalid-request' })
  t.match(deep.detail, /nesting is too deep/)
})
