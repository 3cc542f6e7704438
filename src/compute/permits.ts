/**
 * Per-row permits bounding the compute queue, as text-embeddings-inference does (docs/operations.md §2.4 "The compute queue"):
 * a request takes one permit per input row with a try-acquire, so the bound is on rows in flight,
 * not on connections, and a request that finds too few free is refused at once instead of queueing
 * without bound.
 */
export class RowPermits {
  private used = 0

  constructor (readonly capacity: number) {
    if (!Number.isSafeInteger(capacity) || capacity < 1) throw new RangeError(`capacity must be an integer ≥ 1, got ${capacity}`)
  }

  get inUse (): number {
    return this.used
  }

  get available (): number {
    return this.capacity - this.used
  }

  /**
   * Takes `rows` permits, or none when fewer are free. Returns the release function (idempotent:
   * a second call does nothing), or undefined when refused.
   */
  tryAcquire (rows: number): (() => void) | undefined {
    if (!Number.isSafeInteger(rows) || rows < 0) throw new RangeError(`rows must be a non-negative integer, got ${rows}`)
    if (rows > this.capacity - this.used) return undefined
    this.used += rows
    let released = false
    return () => {
      if (released) return
      released = true
      this.used -= rows
    }
  }
}
