/**
 * A bounded count of units in use (rows in the compute queue, bytes of working memory), taken with
 * a try-acquire: a caller that finds too few free is refused at once instead of queueing without
 * bound, as text-embeddings-inference bounds its queue (docs/operations.md §2.4 "The compute
 * queue"). Release is idempotent. Work that may wait its turn (an operation's job) takes them with
 * `acquire`: waiters are served in order as units are released.
 */
export class Permits {
  private used = 0
  private readonly waiting: Array<{ units: number, grant: (release: () => void) => void }> = []

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
      this.serveWaiting()
    }
  }

  /**
   * Takes `units` once they are free, after the callers already waiting; rejects with the
   * signal's reason if it fires first (then nothing is taken). Returns the release function.
   */
  async acquire (units: number, signal: AbortSignal): Promise<() => void> {
    if (units > this.capacity) throw new RangeError(`units (${units}) exceed the capacity (${this.capacity}): they would never be free`)
    signal.throwIfAborted()
    if (this.waiting.length === 0) {
      const release = this.tryAcquire(units)
      if (release !== undefined) return release
    }
    return await new Promise((resolve, reject) => {
      const onAbort = (): void => {
        const at = this.waiting.indexOf(waiter)
        if (at >= 0) this.waiting.splice(at, 1)
        reject(signal.reason)
        // The head may have been all that held back smaller waiters behind it.
        this.serveWaiting()
      }
      const waiter = {
        units,
        grant: (release: () => void) => {
          signal.removeEventListener('abort', onAbort)
          resolve(release)
        }
      }
      this.waiting.push(waiter)
      signal.addEventListener('abort', onAbort, { once: true })
    })
  }

  /** Grants waiters in order while the first one's units are free. */
  private serveWaiting (): void {
    while (this.waiting.length > 0) {
      const release = this.tryAcquire(this.waiting[0].units)
      if (release === undefined) return
      this.waiting.shift()?.grant(release)
    }
  }
}
