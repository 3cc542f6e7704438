/**
 * Cancellation of heavy work: the reason a request's signal is aborted with when its client left
 * (a timeout or a shutdown aborts it with the problem to answer instead).
 */
export class WorkCancelled extends Error {
  constructor (message: string) {
    super(message)
    this.name = 'WorkCancelled'
  }
}

/** The engine products as `mm`, each refused once `signal` is aborted: work stops between products. */
export function cancellable<T extends object> (mm: T, signal: AbortSignal): T {
  return new Proxy(mm, {
    get (target, property, receiver) {
      const value = Reflect.get(target, property, receiver)
      if (typeof value !== 'function') return value
      return (...args: unknown[]) => {
        signal.throwIfAborted()
        return (value as (...a: unknown[]) => unknown).apply(target, args)
      }
    }
  })
}
