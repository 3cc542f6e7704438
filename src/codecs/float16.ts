/**
 * IEEE 754 binary16 <-> binary32 conversions, done on bit patterns so that rounding (to nearest,
 * ties to even), subnormals, ±Inf, NaN and -0 are exact and independent of the JS engine.
 */

// Scratch views for moving between a JS number and its float32 bit pattern.
const scratchF32 = new Float32Array(1)
const scratchU32 = new Uint32Array(scratchF32.buffer)

/** Bit pattern of a float32 (as an unsigned 32-bit integer) -> bit pattern of the nearest float16. */
export function float32BitsToFloat16Bits (bits: number): number {
  const sign = (bits >>> 16) & 0x8000
  const exponent = (bits >>> 23) & 0xff
  const mantissa = bits & 0x7fffff

  if (exponent === 0xff) {
    if (mantissa === 0) return sign | 0x7c00
    // NaN: keep the top payload bits; a payload that would vanish becomes the quiet-NaN bit.
    return sign | 0x7c00 | ((mantissa >>> 13) || 0x200)
  }

  const halfExponent = exponent - 127 + 15
  if (halfExponent >= 0x1f) return sign | 0x7c00

  if (halfExponent <= 0) {
    // Below 2^-25 everything (including a float32 subnormal) rounds to zero.
    if (halfExponent < -10) return sign
    // float16 subnormal: shift the significand (with its implicit bit) into 10 bits and round.
    const significand = mantissa | 0x800000
    const shift = 14 - halfExponent
    const kept = significand >>> shift
    const rest = significand & ((1 << shift) - 1)
    const halfway = 1 << (shift - 1)
    const rounded = rest > halfway || (rest === halfway && (kept & 1) === 1) ? kept + 1 : kept
    // A carry out of the 10 bits lands in the exponent field, which is the correct encoding.
    return sign | rounded
  }

  const truncated = (halfExponent << 10) | (mantissa >>> 13)
  const rest = mantissa & 0x1fff
  // A carry may ripple into the exponent, up to 0x7c00 (Inf): again the correct encoding.
  const rounded = rest > 0x1000 || (rest === 0x1000 && (truncated & 1) === 1) ? truncated + 1 : truncated
  return sign | rounded
}

/** Bit pattern of a float16 -> bit pattern of the (exactly equal) float32, as an unsigned integer. */
export function float16BitsToFloat32Bits (half: number): number {
  const sign = (half & 0x8000) << 16
  const exponent = (half >>> 10) & 0x1f
  let mantissa = half & 0x3ff

  if (exponent === 0x1f) return (sign | 0x7f800000 | (mantissa << 13)) >>> 0
  if (exponent === 0) {
    if (mantissa === 0) return sign >>> 0
    // Subnormal: normalise so the leading 1 becomes the implicit bit of a float32 normal.
    let exponent32 = 127 - 14
    while ((mantissa & 0x400) === 0) {
      mantissa <<= 1
      exponent32--
    }
    return (sign | (exponent32 << 23) | ((mantissa & 0x3ff) << 13)) >>> 0
  }
  return (sign | ((exponent + 127 - 15) << 23) | (mantissa << 13)) >>> 0
}

/**
 * A value -> the float16 bit pattern nearest to it. The value is first rounded to float32 (the
 * function is meant for float32 data; a double that is not a float32 is rounded twice).
 */
export function float32ToFloat16Bits (value: number): number {
  scratchF32[0] = value
  return float32BitsToFloat16Bits(scratchU32[0])
}

/** A float16 bit pattern -> its value (every float16 is exactly representable). */
export function float16BitsToFloat32 (half: number): number {
  scratchU32[0] = float16BitsToFloat32Bits(half & 0xffff)
  return scratchF32[0]
}

// float16 -> float32 bit patterns for all 65,536 inputs (256 KiB), built on first use: bulk decoding
// is then one table load per value.
let halfToSingleBits: Uint32Array | undefined

function halfTable (): Uint32Array {
  if (halfToSingleBits === undefined) {
    halfToSingleBits = new Uint32Array(0x10000)
    for (let h = 0; h < 0x10000; h++) halfToSingleBits[h] = float16BitsToFloat32Bits(h)
  }
  return halfToSingleBits
}

/**
 * `count` little-endian float16 values starting at `bytes[offset]` -> a new Float32Array. Reads
 * bytes one at a time, so neither the alignment of `bytes` nor the host's byte order matters.
 */
export function float16BytesToFloat32 (bytes: Uint8Array, offset: number, count: number, littleEndian = true): Float32Array {
  const table = halfTable()
  const out = new Float32Array(count)
  const outBits = new Uint32Array(out.buffer)
  const lo = littleEndian ? 0 : 1
  const hi = 1 - lo
  for (let i = 0, p = offset; i < count; i++, p += 2) {
    outBits[i] = table[bytes[p + lo] | (bytes[p + hi] << 8)]
  }
  return out
}

/** float32 values -> little-endian float16 bytes (values beyond ±65504 become ±Inf, as IEEE rounding says). */
export function float32ToFloat16Bytes (data: Float32Array): Buffer {
  // A fresh Uint32Array view of the same memory: always aligned, since Float32Array offsets are.
  const bits = new Uint32Array(data.buffer, data.byteOffset, data.length)
  const out = Buffer.allocUnsafe(data.length * 2)
  for (let i = 0, p = 0; i < bits.length; i++, p += 2) {
    const half = float32BitsToFloat16Bits(bits[i])
    out[p] = half & 0xff
    out[p + 1] = half >>> 8
  }
  return out
}
