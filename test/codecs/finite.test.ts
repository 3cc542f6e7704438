/**
 * The finite check's bit test: every non-finite float32 (NaN of any payload and sign, ±Inf) is
 * found at every position of a block of eight and of the tail, and no finite value (the largest,
 * subnormals, -0) is mistaken for one.
 */
import t from 'tap'
import { firstNonFinite } from '../../src/codecs/vectors.js'

const bits = (u: number): number => new Float32Array(new Uint32Array([u]).buffer)[0]
const NON_FINITE = [NaN, Infinity, -Infinity, bits(0x7fc00001), bits(0xffffffff), bits(0x7f800001)]
const FINITE = [0, -0, 3.4028234663852886e38, -3.4028234663852886e38, bits(0x00000001), bits(0x807fffff), 1, -1.5]

t.test('finds the first non-finite value wherever it is', async t => {
  for (const length of [1, 7, 8, 9, 16, 21]) {
    for (let at = 0; at < length; at++) {
      for (const bad of NON_FINITE) {
        const data = Float32Array.from({ length }, (_, i) => FINITE[i % FINITE.length])
        data[at] = bad
        if (at + 2 < length) data[at + 2] = NaN
        if (firstNonFinite(data) !== at) t.fail(`length ${length}, ${String(bad)} at ${at}: got ${firstNonFinite(data)}`)
      }
    }
  }
  t.pass('every position and value')
})

t.test('finite values pass, in a view at an offset too', async t => {
  const data = Float32Array.from({ length: 103 }, (_, i) => FINITE[i % FINITE.length])
  t.equal(firstNonFinite(data), -1)
  t.equal(firstNonFinite(new Float32Array(0)), -1)
  const backing = new Float32Array(40).fill(NaN)
  backing.set(FINITE, 16)
  t.equal(firstNonFinite(backing.subarray(16, 16 + FINITE.length)), -1)
  t.equal(firstNonFinite(backing.subarray(16, 17 + FINITE.length)), FINITE.length)
})
