/**
 * Typed arrays to and from bytes, with the byte order made explicit. Every wire form, the .npy
 * container and the Redis store convert through these, so the endianness handling exists once.
 */

/** Every platform Node runs on in practice is little-endian; the byte swaps below keep others correct. */
export const HOST_LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1

/** float32 values as little-endian bytes: a view of `values` (no copy) on little-endian hosts. */
export function float32ToBytes (values: Float32Array): Buffer {
  const view = Buffer.from(values.buffer, values.byteOffset, values.byteLength)
  return HOST_LITTLE_ENDIAN ? view : Buffer.from(view).swap32()
}

/**
 * `count` float32 values at `bytes[offset]` -> a Float32Array. How far it may share `bytes`:
 * - 'copy': its own memory, always (e.g. for ioredis replies, often unaligned slices of its
 *   receive buffer);
 * - 'own': a view only when `bytes` owns its whole ArrayBuffer (never a pool slice, whose
 *   ArrayBuffer other Buffers share and which must not be handed on as if it were the matrix's);
 * - 'aligned': a view whenever the values start on a 4-byte boundary, pool slice or not. For
 *   request bodies: nothing writes into them or transfers their memory, and the body of a large
 *   binary request is then read in place instead of copied (tens of MB for a bulk chunk).
 */
export function float32FromBytes (bytes: Buffer, offset: number, count: number, littleEndian: boolean, share: 'copy' | 'own' | 'aligned'): Float32Array {
  const swap = littleEndian !== HOST_LITTLE_ENDIAN
  if (!swap && share === 'own' && offset === 0 && bytes.byteOffset === 0 && bytes.byteLength === bytes.buffer.byteLength && bytes.byteLength === count * 4) {
    return new Float32Array(bytes.buffer, 0, count)
  }
  if (!swap && share === 'aligned' && (bytes.byteOffset + offset) % 4 === 0) {
    return new Float32Array(bytes.buffer, bytes.byteOffset + offset, count)
  }
  const out = new Float32Array(count)
  const outBytes = Buffer.from(out.buffer)
  outBytes.set(bytes.subarray(offset, offset + count * 4))
  if (swap) outBytes.swap32()
  return out
}

/** All of `bytes`, little-endian float32, as a fresh Float32Array; throws unless a whole number of values. */
export function float32FromLittleEndian (bytes: Buffer): Float32Array {
  if (bytes.length % 4 !== 0) throw new Error(`float32 data has ${bytes.length} bytes, not a multiple of 4`)
  return float32FromBytes(bytes, 0, bytes.length / 4, true, 'copy')
}

/** float64 values -> float32 (round to nearest even), reading through a DataView: no alignment needed. */
export function float64FromBytes (bytes: Buffer, offset: number, count: number, littleEndian: boolean): { data: Float32Array, sourceAt: (index: number) => number } {
  const view = new DataView(bytes.buffer, bytes.byteOffset + offset, count * 8)
  const data = new Float32Array(count)
  for (let i = 0; i < count; i++) data[i] = view.getFloat64(i * 8, littleEndian)
  return { data, sourceAt: i => view.getFloat64(i * 8, littleEndian) }
}
