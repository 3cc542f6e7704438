import { ProblemError } from '../errors.js'

/**
 * A bound on large JSON bodies in flight. Reading, parsing (JSON.parse and the matrix decoding that
 * follows) and holding a large JSON body are main-thread work and heap that grow with its size:
 * forty 64 MiB bodies at once kept the event loop busy long enough for /healthz to miss the
 * liveness timeout. A body admitted here holds its permit until its response is out; the others
 * wait, unread (TCP holds the rest of their bytes), in a queue of bounded length, and a body that
 * finds the queue full is refused at once with a 503 and Retry-After. Waiting instead of refusing
 * at the first excess keeps a client's few concurrent large requests working; the queue bound
 * keeps the waiting itself bounded, and REQUEST_TIMEOUT_MS bounds how long any one waits.
 */

interface Waiter {
  resolve: (release: () => void) => void
  reject: (err: Error) => void
}

export class LargeBodyPermits {
  private active = 0
  private readonly waiters: Waiter[] = []
  /** The most permits ever held at once (the bound is honoured when this ≤ concurrency). */
  peakActive = 0
  /** Bodies admitted so far, and bodies refused because the queue was full. */
  admitted = 0
  refused = 0

  constructor (readonly concurrency: number, readonly queueLength: number, readonly retryAfterSeconds: number) {
    if (!Number.isSafeInteger(concurrency) || concurrency < 1) throw new RangeError(`concurrency must be an integer ≥ 1, got ${concurrency}`)
    if (!Number.isSafeInteger(queueLength) || queueLength < 0) throw new RangeError(`queueLength must be an integer ≥ 0, got ${queueLength}`)
  }

  get inUse (): number {
    return this.active
  }

  get waiting (): number {
    return this.waiters.length
  }

  /**
   * Resolves with the release function (idempotent) once a permit is free. Rejects with a 503
   * `overloaded` problem when the queue is full, and with the signal's reason when it aborts
   * while waiting (the client went away).
   */
  async acquire (signal?: AbortSignal): Promise<() => void> {
    if (this.active < this.concurrency) return this.grant()
    if (this.waiters.length >= this.queueLength) {
      this.refused++
      throw new ProblemError('overloaded', `${this.active} large JSON bodies are being parsed and ${this.waiters.length} more are waiting, the most this server takes (LARGE_JSON_CONCURRENCY, LARGE_JSON_QUEUE); retry after ${this.retryAfterSeconds} s, or send matrices as application/octet-stream or application/x-npy, which need no parsing.`,
        { headers: { 'retry-after': String(this.retryAfterSeconds) } })
    }
    return await new Promise((resolve, reject) => {
      const waiter: Waiter = { resolve, reject }
      this.waiters.push(waiter)
      signal?.addEventListener('abort', () => {
        const at = this.waiters.indexOf(waiter)
        if (at === -1) return
        this.waiters.splice(at, 1)
        reject(signal.reason instanceof Error ? signal.reason : new Error('aborted'))
      }, { once: true })
    })
  }

  private grant (): () => void {
    this.active++
    this.admitted++
    if (this.active > this.peakActive) this.peakActive = this.active
    let released = false
    return () => {
      if (released) return
      released = true
      this.active--
      const next = this.waiters.shift()
      if (next !== undefined) next.resolve(this.grant())
    }
  }
}
