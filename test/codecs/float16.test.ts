import fc from 'fast-check'
import t from 'tap'
import {
  float16BitsToFloat32, float16BitsToFloat32Bits, float16BytesToFloat32, float32BitsToFloat16Bits,
  float32ToFloat16Bits, float32ToFloat16Bytes
} from '../../src/codecs/vectors.js'

/** The value of a float16 bit pattern, straight from the IEEE 754 definition (independent of the code under test). */
function halfValue (h: number): number {
  const sign = (h & 0x8000) !== 0 ? -1 : 1
  const exponent = (h >>> 10) & 0x1f
  const mantissa = h & 0x3ff
  if (exponent === 0x1f) return mantissa === 0 ? sign * Infinity : NaN
  if (exponent === 0) return sign * mantissa * 2 ** -24
  return sign * (1024 + mantissa) * 2 ** (exponent - 25)
}

/** Nearest float16 to a finite value, ties to the even pattern: a binary search over all of them. */
function referenceHalf (x: number): number {
  const sign = x < 0 || Object.is(x, -0) ? 0x8000 : 0
  const a = Math.abs(x)
  // Rounding treats Inf (0x7c00) as the next step after 65504, i.e. 2^16.
  const magnitude = (h: number): number => h === 0x7c00 ? 65536 : halfValue(h)
  if (a >= 65536) return sign | 0x7c00
  let lo = 0
  let hi = 0x7c00
  while (hi - lo > 1) {
    const mid = (lo + hi) >>> 1
    if (magnitude(mid) <= a) lo = mid
    else hi = mid
  }
  const below = a - magnitude(lo)
  const above = magnitude(hi) - a
  if (below === 0) return sign | lo
  if (below < above) return sign | lo
  if (above < below) return sign | hi
  return sign | ((lo & 1) === 0 ? lo : hi)
}

const f32 = new Float32Array(1)
const u32 = new Uint32Array(f32.buffer)
function valueOfBits (bits: number): number {
  u32[0] = bits
  return f32[0]
}

t.test('every float16 pattern converts to its exact value and back to the same pattern', async t => {
  let mismatches = 0
  let nans = 0
  for (let h = 0; h < 0x10000; h++) {
    const expected = halfValue(h)
    const got = float16BitsToFloat32(h)
    if (Number.isNaN(expected)) {
      nans++
      if (!Number.isNaN(got)) mismatches++
      // NaN stays NaN, and keeps its payload through float32 bits.
      if (float32BitsToFloat16Bits(float16BitsToFloat32Bits(h)) !== h) mismatches++
      continue
    }
    if (!Object.is(got, expected)) mismatches++
    if (float32ToFloat16Bits(got) !== h) mismatches++
  }
  t.equal(nans, 2046, 'all NaN patterns seen')
  t.equal(mismatches, 0)
})

t.test('special values', async t => {
  t.equal(float32ToFloat16Bits(0), 0x0000)
  t.equal(float32ToFloat16Bits(-0), 0x8000, '-0 keeps its sign')
  t.equal(float32ToFloat16Bits(Infinity), 0x7c00)
  t.equal(float32ToFloat16Bits(-Infinity), 0xfc00)
  const nan = float32ToFloat16Bits(NaN)
  t.equal(nan & 0x7c00, 0x7c00, 'NaN has an all-ones exponent')
  t.not(nan & 0x3ff, 0, 'and a non-zero mantissa')
  t.ok(Number.isNaN(float16BitsToFloat32(0x7e00)))
  t.ok(Object.is(float16BitsToFloat32(0x8000), -0))
  t.equal(float16BitsToFloat32(0x7c00), Infinity)
  t.equal(float16BitsToFloat32(0xfc00), -Infinity)
  t.equal(float16BitsToFloat32(0x3c00), 1)
  t.equal(float16BitsToFloat32(0x0001), 2 ** -24, 'smallest subnormal')
  t.equal(float16BitsToFloat32(0x03ff), 1023 * 2 ** -24, 'largest subnormal')
  t.equal(float16BitsToFloat32(0x0400), 2 ** -14, 'smallest normal')
  t.equal(float16BitsToFloat32(0x7bff), 65504)
})

t.test('rounding: nearest, ties to even, overflow and underflow', async t => {
  t.equal(float32ToFloat16Bits(65504), 0x7bff)
  t.equal(float32ToFloat16Bits(65519.99), 0x7bff, 'below the midpoint to Inf stays finite')
  t.equal(float32ToFloat16Bits(65520), 0x7c00, 'the midpoint ties to even, which is Inf')
  t.equal(float32ToFloat16Bits(1e6), 0x7c00)
  t.equal(float32ToFloat16Bits(-1e6), 0xfc00)
  t.equal(float32ToFloat16Bits(1 + 2 ** -11), 0x3c00, 'tie between 1 and 1+2^-10 goes to the even 1')
  t.equal(float32ToFloat16Bits(1 + 3 * 2 ** -11), 0x3c02, 'tie between odd 0x3c01 and 0x3c02 goes up')
  t.equal(float32ToFloat16Bits(1 + 2 ** -11 + 2 ** -20), 0x3c01, 'just above the tie rounds up')
  t.equal(float32ToFloat16Bits(2 ** -24), 0x0001)
  t.equal(float32ToFloat16Bits(2 ** -25), 0x0000, 'half the smallest subnormal ties to zero')
  t.equal(float32ToFloat16Bits(-(2 ** -25)), 0x8000, 'to -0 when negative')
  t.equal(float32ToFloat16Bits(2 ** -25 * (1 + 2 ** -23)), 0x0001, 'just above half rounds up')
  t.equal(float32ToFloat16Bits(3 * 2 ** -25), 0x0002, '1.5 subnormal steps tie to even 2')
  t.equal(float32ToFloat16Bits(2 ** -14 - 2 ** -25), 0x0400, 'largest-subnormal tie carries into the smallest normal')
  t.equal(float32ToFloat16Bits(1e-45), 0x0000, 'a float32 subnormal underflows')
  t.equal(float32ToFloat16Bits(Math.fround(0.1)), 0x2e66)
})

// Finite float32 bit patterns, most with exponents near the float16 range so rounding is exercised.
const finiteFloat32Bits = fc.oneof(
  fc.integer({ min: 0, max: 0xffffffff }).filter(b => ((b >>> 23) & 0xff) !== 0xff),
  fc.record({ sign: fc.boolean(), exponent: fc.integer({ min: 97, max: 143 }), mantissa: fc.integer({ min: 0, max: 0x7fffff }) })
    .map(({ sign, exponent, mantissa }) => ((sign ? 0x80000000 : 0) | (exponent << 23) | mantissa) >>> 0),
  // Exactly halfway between two float16 values: the ties.
  fc.record({ sign: fc.boolean(), exponent: fc.integer({ min: 100, max: 142 }), top: fc.integer({ min: 0, max: 0x3ff }) })
    .map(({ sign, exponent, top }) => ((sign ? 0x80000000 : 0) | (exponent << 23) | (top << 13) | 0x1000) >>> 0)
)

t.test('float32 -> float16 matches a nearest-even reference on random values', async t => {
  fc.assert(fc.property(finiteFloat32Bits, bits => {
    const value = valueOfBits(bits)
    return float32BitsToFloat16Bits(bits) === referenceHalf(value) && float32ToFloat16Bits(value) === referenceHalf(value)
  }), { numRuns: 30_000 })
  t.pass('30,000 values agree')
})

t.test('bulk conversions agree with the scalar ones, at any byte offset and in both byte orders', async t => {
  const halves = Uint16Array.from({ length: 4096 }, (_, i) => (i * 40503) & 0xffff)
  const little = Buffer.alloc(halves.length * 2 + 1)
  const big = Buffer.alloc(halves.length * 2 + 1)
  halves.forEach((h, i) => {
    little.writeUInt16LE(h, 1 + i * 2)
    big.writeUInt16BE(h, 1 + i * 2)
  })
  const fromLittle = float16BytesToFloat32(little, 1, halves.length)
  const fromBig = float16BytesToFloat32(big, 1, halves.length, false)
  let bad = 0
  halves.forEach((h, i) => {
    const expected = float16BitsToFloat32Bits(h)
    if (new Uint32Array(fromLittle.buffer)[i] !== expected || new Uint32Array(fromBig.buffer)[i] !== expected) bad++
  })
  t.equal(bad, 0)

  const values = Float32Array.of(1, -0, 65520, 0.1, -(2 ** -24), 3 * 2 ** -25)
  const bytes = float32ToFloat16Bytes(values)
  t.same([...new Uint16Array(bytes.buffer, bytes.byteOffset, values.length)].map(h => h.toString(16)),
    ['3c00', '8000', '7c00', '2e66', '8001', '2'])
})
