/**
 * A small seeded pseudo-random generator: sfc32 (Chris Doty-Humphrey's Small Fast Counting
 * generator, 128-bit state, 32-bit output), its state filled from the seed by a splitmix-style
 * mixer. Only 32-bit integer operations (Math.imul, >>>, |0) are used, so the same seed gives the
 * same sequence on every platform and Node version. Not for cryptography.
 */
export interface Rng {
  /** A uniform integer in [0, 2^32). */
  uint32 (): number
  /** A uniform number in [0, 1) with 53 random bits. */
  float (): number
  /** A uniform integer in [0, n), without modulo bias; n is an integer from 1 to 2^32. */
  int (n: number): number
}

const TWO_POW_32 = 4294967296

/** Murmur3's 32-bit finaliser: every input bit flips about half the output bits. */
function mix32 (value: number): number {
  let z = value | 0
  z = Math.imul(z ^ (z >>> 16), 0x85ebca6b)
  z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35)
  return (z ^ (z >>> 16)) >>> 0
}

/**
 * A generator for a seed: any safe integer, negative ones included (taken as 64-bit two's
 * complement, so every safe integer gives its own sequence).
 */
export function createRng (seed: number): Rng {
  if (!Number.isSafeInteger(seed)) {
    throw new RangeError(`seed must be a safe integer, got ${seed}`)
  }
  const low = seed >>> 0
  const high = Math.floor(seed / TWO_POW_32) >>> 0
  const highMixed = mix32(high ^ 0x6a09e667)
  let seeder = low
  const nextSeedWord = (): number => {
    seeder = (seeder + 0x9e3779b9) >>> 0
    return mix32(seeder ^ highMixed)
  }
  let a = nextSeedWord() | 0
  let b = nextSeedWord() | 0
  let c = nextSeedWord() | 0
  let counter = 1

  const uint32 = (): number => {
    const t = (((a + b) | 0) + counter) | 0
    counter = (counter + 1) | 0
    a = b ^ (b >>> 9)
    b = (c + (c << 3)) | 0
    c = (c << 21) | (c >>> 11)
    c = (c + t) | 0
    return t >>> 0
  }
  // The first outputs after seeding still correlate with the seed words; the reference
  // implementation discards a dozen.
  for (let i = 0; i < 12; i++) uint32()

  return {
    uint32,
    float () {
      const high27 = uint32() >>> 5
      const low26 = uint32() >>> 6
      return (high27 * 67108864 + low26) / 9007199254740992
    },
    int (n: number) {
      if (!Number.isInteger(n) || n < 1 || n > TWO_POW_32) {
        throw new RangeError(`int(n) needs an integer n from 1 to 2^32, got ${n}`)
      }
      // Reject the top partial stretch of [0, 2^32) so that every residue is equally likely.
      const limit = TWO_POW_32 - (TWO_POW_32 % n)
      let value = uint32()
      while (value >= limit) value = uint32()
      return value % n
    }
  }
}

/** Shuffles in place (Fisher–Yates) and returns the same array. */
export function shuffle<T extends { length: number, [index: number]: unknown }> (rng: Rng, items: T): T {
  for (let i = items.length - 1; i > 0; i--) {
    const j = rng.int(i + 1)
    const held = items[i]
    items[i] = items[j]
    items[j] = held
  }
  return items
}

/**
 * k distinct indices from [0, n), uniformly, in the order drawn: a partial Fisher–Yates that
 * stops after k swaps, so the cost is O(n) memory and O(k) draws.
 */
export function sampleIndices (rng: Rng, n: number, k: number): Uint32Array {
  if (!Number.isInteger(n) || n < 0 || n > TWO_POW_32) {
    throw new RangeError(`n must be an integer from 0 to 2^32, got ${n}`)
  }
  if (!Number.isInteger(k) || k < 0 || k > n) {
    throw new RangeError(`cannot draw ${k} distinct indices from ${n}: k must be an integer from 0 to ${n}`)
  }
  const pool = new Uint32Array(n)
  for (let i = 0; i < n; i++) pool[i] = i
  for (let i = 0; i < k; i++) {
    const j = i + rng.int(n - i)
    const held = pool[i]
    pool[i] = pool[j]
    pool[j] = held
  }
  return pool.slice(0, k)
}

/**
 * The positions in [0, n) that a dropout mask keeps, each independently with probability `keep`
 * (0 < keep < 1), written in order to `out` (length ≥ n). Drawn as the geometric gaps between kept
 * positions, ⌊ln u / ln(1 − keep)⌋, so the cost is one draw per kept position rather than one per
 * position. Returns how many were kept and the first position dropped (n when none was).
 */
export function keptPositions (n: number, keep: number, rng: Rng, out: Int32Array): { count: number, firstDropped: number } {
  if (!(keep > 0 && keep < 1)) throw new RangeError(`keep must be in (0, 1), got ${keep}`)
  const logDrop = Math.log1p(-keep)
  let firstDropped = n
  let count = 0
  let j = -1
  for (;;) {
    // u in (0, 1), never 0: the log stays finite.
    const gap = Math.floor(Math.log((rng.uint32() + 0.5) / TWO_POW_32) / logDrop)
    if (gap > 0 && firstDropped === n) firstDropped = Math.min(n, j + 1)
    j += gap + 1
    if (j >= n) return { count, firstDropped }
    out[count++] = j
  }
}
