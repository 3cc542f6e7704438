import type { Engine } from '../engine/types.js'
import { OPS } from '../engine/ops/index.js'
import type { Store } from '../store/types.js'
import type { Metrics } from './metrics.js'

/**
 * Metrics decorators for the engine and the store: each wraps the object in a Proxy that times (or
 * counts the failures of) its calls and otherwise passes everything through, so the engine and
 * store implementations know nothing about Prometheus. app.ts registers the wrapped objects, so
 * every route, the translator cache and the readiness probe go through them.
 */

/**
 * The engine's timed methods and how to read the batch size (input rows) from their arguments:
 * one entry per engine op (src/engine/ops), labelled with the method's name.
 */
const ENGINE_OPS: Record<string, ((args: any[]) => number | undefined) | undefined> =
  Object.fromEntries(Object.values(OPS).map(op => [op.method.name, op.method.rows]))

export function instrumentEngine<E extends Engine> (engine: E, metrics: Metrics): E {
  const wrapped = new Map<PropertyKey, unknown>()
  return new Proxy(engine, {
    get (target, prop) {
      const value = Reflect.get(target, prop)
      if (typeof value !== 'function') return value
      if (wrapped.has(prop)) return wrapped.get(prop)
      const rowsOf = typeof prop === 'string' && Object.hasOwn(ENGINE_OPS, prop) ? ENGINE_OPS[prop] : undefined
      let fn: unknown
      if (rowsOf === undefined) {
        fn = value.bind(target)
      } else {
        const op = prop as string
        fn = async (...args: unknown[]) => {
          const rows = rowsOf(args)
          if (typeof rows === 'number' && Number.isFinite(rows)) metrics.engineBatchRows.observe({ op }, rows)
          metrics.engineInFlight.inc({ op })
          const end = metrics.engineDuration.startTimer({ op })
          try {
            const result = await (value as (...a: unknown[]) => Promise<unknown>).apply(target, args)
            end({ outcome: 'ok' })
            return result
          } catch (err) {
            end({ outcome: 'error' })
            throw err
          } finally {
            metrics.engineInFlight.dec({ op })
          }
        }
      }
      wrapped.set(prop, fn)
      return fn
    }
  })
}

/** Store methods that never fail or return no promise: not counted. */
const STORE_UNCOUNTED = new Set<PropertyKey>(['onChange'])

export function instrumentStore<S extends Store> (store: S, metrics: Metrics): S {
  const wrapped = new Map<PropertyKey, unknown>()
  return new Proxy(store, {
    get (target, prop) {
      const value = Reflect.get(target, prop)
      if (typeof value !== 'function') return value
      if (wrapped.has(prop)) return wrapped.get(prop)
      let fn: unknown
      if (STORE_UNCOUNTED.has(prop) || typeof prop !== 'string') {
        fn = value.bind(target)
      } else {
        fn = (...args: unknown[]) => {
          let result: unknown
          try {
            result = (value as (...a: unknown[]) => unknown).apply(target, args)
          } catch (err) {
            metrics.storeErrors.inc({ op: prop })
            throw err
          }
          if (result instanceof Promise) {
            return result.catch((err: unknown) => {
              metrics.storeErrors.inc({ op: prop })
              throw err
            })
          }
          return result
        }
      }
      wrapped.set(prop, fn)
      return fn
    }
  })
}
