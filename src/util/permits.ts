/**
 * A bounded count of units in use (rows in the compute queue, bytes of working memory), taken with
 * a try-acquire: a caller that finds too few free is refused at once instead of queueing without
 * bound, as text-embeddings-inference bounds its queue (docs/operations.md §2.4 "The compute
 * queue"). Release is idempotent.
 */
export class Permits {
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
   * Takes `units`, or none when fewer are free. Returns the release function (idempotent:
   * a second call does nothing), or undefined when refused.
   */
  tryAcquire (units: number): (() => void) | undefined {
    if (!Number.isSafeInteger(units) || units < 0) throw new RangeError(`units must be a non-negative integer, got ${units}`)
    if (units > this.capacity - this.used) return undefined
    this.used += units
    let released = false
    return () => {
      if (released) return
      released = true
      this.used -= units
    }
  }
}
