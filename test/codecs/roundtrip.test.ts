import fc from 'fast-check'
import t from 'tap'
import {
  decodeFloat32Body, decodeMatrixField, decodeNpy, encodeFloat32Body, encodeMatrixJson, encodeNpy,
  float16BitsToFloat32Bits, npyHeader, shapeHeader
} from '../../src/codecs/vectors.js'
import type { Matrix } from '../../src/math/matrix.js'
import { atOffset, bitsOf, float64Bytes, sameBits, sameMatrix } from './fixtures/helpers.js'

const RUNS = 300

const f32 = new Float32Array(1)
const u32 = new Uint32Array(f32.buffer)
function valueOfBits (bits: number): number {
  u32[0] = bits
  return f32[0]
}

// Finite float32 values: arbitrary bit patterns (subnormals and extremes included), fast-check's
// own float32 generator, and the edge cases spelled out.
const finiteFloat32 = fc.oneof(
  fc.integer({ min: 0, max: 0xffffffff }).filter(b => ((b >>> 23) & 0xff) !== 0xff).map(valueOfBits),
  fc.float({ noNaN: true, noDefaultInfinity: true }),
  fc.constantFrom(0, -0, 1, -1, 3.4028234663852886e38, -3.4028234663852886e38, 1.401298464324817e-45, 1.1754943508222875e-38)
)

const shapes = fc.oneof(
  fc.record({ rows: fc.integer({ min: 0, max: 6 }), cols: fc.integer({ min: 1, max: 9 }) }),
  fc.constantFrom({ rows: 1, cols: 1 }, { rows: 0, cols: 3 }, { rows: 1, cols: 64 })
)

const matrices = (values: fc.Arbitrary<number>): fc.Arbitrary<Matrix> => shapes.chain(({ rows, cols }) =>
  fc.array(values, { minLength: rows * cols, maxLength: rows * cols })
    .map(list => ({ rows, cols, data: Float32Array.from(list) })))

const float32Matrices = matrices(finiteFloat32)

t.test('JSON number[][]: exact, except that JSON text turns -0 into 0', async t => {
  fc.assert(fc.property(float32Matrices, m => {
    const json = encodeMatrixJson(m, 'float')
    // In memory (no text) every bit survives, -0 included.
    const direct = decodeMatrixField(json, { field: 'vectors', cols: m.cols })
    // Through JSON text, -0 is written "0": expect the same bits with -0 replaced by +0.
    const viaText = decodeMatrixField(JSON.parse(JSON.stringify(json)), { field: 'vectors', cols: m.cols })
    const expected = m.data.map(v => Object.is(v, -0) ? 0 : v)
    return sameMatrix(direct, m) && sameMatrix(viaText, { ...m, data: expected })
  }), { numRuns: RUNS })
  t.equal(JSON.stringify(encodeMatrixJson({ rows: 1, cols: 2, data: Float32Array.of(-0, 1) }, 'float')), '[[0,1]]', 'JSON cannot carry -0')
  t.same(decodeMatrixField([], { field: 'vectors', cols: 4 }), { rows: 0, cols: 4, data: new Float32Array(0) }, 'zero rows keep the expected cols')
})

t.test('base64 float32: bit-exact, -0 included', async t => {
  fc.assert(fc.property(float32Matrices, m => {
    const wire = JSON.parse(JSON.stringify(encodeMatrixJson(m, 'base64')))
    const back = decodeMatrixField(wire, { field: 'vectors' })
    return wire.dtype === 'float32' && wire.shape[0] === m.rows && wire.shape[1] === m.cols && sameMatrix(back, m)
  }), { numRuns: RUNS })
  const one = encodeMatrixJson({ rows: 1, cols: 2, data: Float32Array.of(1, -2) }, 'base64')
  t.same(one, { dtype: 'float32', shape: [1, 2], data: Buffer.from([0, 0, 0x80, 0x3f, 0, 0, 0, 0xc0]).toString('base64') })
})

t.test('base64 float16: every finite float16 pattern decodes exactly and re-encodes to the same bytes', async t => {
  const finiteHalf = fc.integer({ min: 0, max: 0xffff }).filter(h => ((h >>> 10) & 0x1f) !== 0x1f)
  fc.assert(fc.property(shapes.chain(({ rows, cols }) =>
    fc.array(finiteHalf, { minLength: rows * cols, maxLength: rows * cols }).map(halves => ({ rows, cols, halves }))),
  ({ rows, cols, halves }) => {
    const bytes = Buffer.alloc(halves.length * 2)
    halves.forEach((h, i) => bytes.writeUInt16LE(h, i * 2))
    const wire = { dtype: 'float16', shape: [rows, cols], data: bytes.toString('base64') }
    const m = decodeMatrixField(wire, { field: 'vectors', cols })
    const bits = bitsOf(m.data)
    const exact = halves.every((h, i) => bits[i] === float16BitsToFloat32Bits(h))
    const again = encodeMatrixJson(m, 'base64', 'float16')
    return m.rows === rows && exact && again.dtype === 'float16' && again.data === wire.data
  }), { numRuns: RUNS })
  t.pass('every generated matrix round-trips')
})

t.test('octet-stream: bit-exact, from any byte offset', async t => {
  fc.assert(fc.property(float32Matrices, fc.integer({ min: 0, max: 7 }), (m, offset) => {
    const body = encodeFloat32Body(m)
    const back = decodeFloat32Body(atOffset(body, offset), { field: 'body', cols: m.cols })
    return body.length === m.rows * m.cols * 4 && sameMatrix(back, m) && shapeHeader(back) === `${m.rows},${m.cols}`
  }), { numRuns: RUNS })
  const m: Matrix = { rows: 2, cols: 2, data: Float32Array.of(1, 2, 3, 4) }
  const body = encodeFloat32Body(m)
  t.equal(body.buffer, m.data.buffer, 'encoding is a view of the matrix memory, not a copy')
  t.same([...body.subarray(0, 4)], [0, 0, 0x80, 0x3f], 'little-endian')
  const decoded = decodeFloat32Body(atOffset(body, 1), { field: 'body', cols: 2 })
  t.equal(decoded.data.byteOffset % 4, 0, 'decoded from an unaligned slice into aligned memory')
})

t.test('npy float32 written by encodeNpy: bit-exact, from any byte offset', async t => {
  fc.assert(fc.property(float32Matrices, fc.integer({ min: 0, max: 7 }), (m, offset) => {
    const file = encodeNpy(m)
    const back = decodeNpy(atOffset(file, offset), { field: 'body' })
    return sameMatrix(back, m)
  }), { numRuns: RUNS })
  t.pass('every generated matrix round-trips')
})

// encodeNpy's header with another dtype of the same length: '<f4' -> '<f8' or '>f4'.
const headerWith = (rows: number, cols: number, descr: string): Buffer =>
  Buffer.from(npyHeader(rows, cols).toString('latin1').replace("'<f4'", `'${descr}'`), 'latin1')

t.test('npy float64 holding float32 values: exact, both byte orders', async t => {
  fc.assert(fc.property(float32Matrices, fc.boolean(), fc.integer({ min: 0, max: 7 }), (m, little, offset) => {
    const file = Buffer.concat([headerWith(m.rows, m.cols, little ? '<f8' : '>f8'), float64Bytes(m.data, little)])
    return sameMatrix(decodeNpy(atOffset(file, offset), { field: 'body' }), m)
  }), { numRuns: RUNS })
  t.pass('every generated matrix round-trips')
})

t.test('npy big-endian float32: exact', async t => {
  fc.assert(fc.property(float32Matrices, m => {
    const data = Buffer.from(encodeFloat32Body(m)).swap32()
    const file = Buffer.concat([headerWith(m.rows, m.cols, '>f4'), data])
    return sameMatrix(decodeNpy(file, { field: 'body' }), m)
  }), { numRuns: RUNS })
  t.pass('every generated matrix round-trips')
})

t.test('float64 values round to nearest float32', async t => {
  // The last is one float64 step below float32's overflow threshold (FLT_MAX + half an ulp).
  const values = [0.1, 1 + 2 ** -24, 1 + 3 * 2 ** -24, 1e-46, 2 ** 128 - 2 ** 103 - 2 ** 75]
  const file = Buffer.concat([headerWith(1, values.length, '<f8'), float64Bytes(values)])
  const m = decodeNpy(file, { field: 'body' })
  t.ok(sameBits(m.data, Float32Array.from(values.map(Math.fround))), 'same as Math.fround, ties to even')
  t.equal(m.data[1], 1, '1 + 2^-24 ties down to the even 1')
  t.equal(m.data[2], 1 + 2 ** -22, '1 + 3*2^-24 ties up to the even 1 + 2^-22')
  t.equal(m.data[3], 0, 'below half the smallest subnormal underflows to 0')
  t.equal(m.data[4], 3.4028234663852886e38, 'just under the overflow threshold rounds to the largest float32')
  // Exactly the threshold ties to even, which is Infinity: a finite float64 that overflows float32.
  const overflow = Buffer.concat([headerWith(1, 1, '<f8'), float64Bytes([2 ** 128 - 2 ** 103])])
  t.throws(() => decodeNpy(overflow, { field: 'body' }), { status: 422, kind: 'unprocessable', errors: [{ path: 'body[0][0]' }] })
})
