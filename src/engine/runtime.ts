/**
 * The ONNX Runtime side of the engine: session options, the execution-provider probe with its
 * fallback, and a bounded session store. Runs inside each worker thread (or inline).
 */
import ort from 'onnxruntime-node'
import { LruCache } from '../util/lru.js'
import { encodeModel, type GraphSpec } from './onnx.js'
import { checkProbe, probeFeeds, probeGraph } from './ops/probe.js'
import type { TensorOut } from './ops/op.js'

export { tensor } from './ops/op.js'
export type { TensorOut }

export interface ProviderFailure { provider: string, error: string }

export class ProviderError extends Error {
  constructor (message: string, readonly failures: ProviderFailure[]) {
    super(message)
    this.name = 'ProviderError'
  }
}

/**
 * Session options per docs/engine-notes.md §3: explicit thread counts (the default behaves as one thread
 * here), no spinning (idle pools otherwise burn CPU and starve each other), and ORT's own stderr
 * kept to errors. One provider only: ORT itself places nodes a GPU provider lacks on its CPU
 * kernels, and onnxruntime-common silently drops an unknown name from a longer list (['bogus',
 * 'cpu'] "works" on cpu), which would make the probe report a provider that is not in use.
 */
export function sessionOptions (provider: string, intraOpThreads: number): ort.InferenceSession.SessionOptions {
  return {
    executionProviders: [provider],
    intraOpNumThreads: intraOpThreads,
    interOpNumThreads: 1,
    executionMode: 'sequential',
    graphOptimizationLevel: 'all',
    logSeverityLevel: 3,
    extra: { session: { intra_op: { allow_spinning: '0' }, inter_op: { allow_spinning: '0' } } }
  }
}

/** The requested providers, lower-cased and de-duplicated, always ending on 'cpu'. */
export function providerOrder (requested: string[]): string[] {
  const order = [...new Set(requested.map(p => p.trim().toLowerCase()).filter(p => p !== ''))]
  if (!order.includes('cpu')) order.push('cpu')
  return order.slice(0, order.indexOf('cpu') + 1)
}

function errorMessage (error: unknown): string {
  return error instanceof Error ? error.message : String(error)
}

/** Creates and runs the probe op's graph on one provider; throws what ORT throws. */
async function runProbe (provider: string, intraOpThreads: number): Promise<void> {
  const session = await ort.InferenceSession.create(encodeModel({ graph: probeGraph() }), sessionOptions(provider, intraOpThreads))
  try {
    checkProbe(await session.run(probeFeeds()))
  } finally {
    await session.release()
  }
}

/**
 * Tries each provider in order and returns the first that creates and runs a session. ORT has
 * no automatic fallback (['cuda', 'cpu'] throws when CUDA fails to load, docs/engine-notes.md §2), so each
 * is tried alone. With strict, the first failure is fatal.
 */
export async function resolveProvider (requested: string[], strict: boolean, intraOpThreads: number): Promise<{ provider: string, failures: ProviderFailure[] }> {
  const failures: ProviderFailure[] = []
  for (const provider of providerOrder(requested)) {
    try {
      await runProbe(provider, intraOpThreads)
      return { provider, failures }
    } catch (error) {
      failures.push({ provider, error: errorMessage(error) })
      if (strict) throw new ProviderError(`execution provider '${provider}' failed to load: ${errorMessage(error)}`, failures)
    }
  }
  throw new ProviderError('no execution provider could run a session', failures)
}

interface CachedSession {
  session: Promise<ort.InferenceSession>
  users: number
  evicted: boolean
}

function release (entry: CachedSession): void {
  entry.session.then(async s => { await s.release() }, () => {}).catch(() => {})
}

/**
 * Sessions by key, in a bounded LRU. An evicted or forgotten session is released once no run is
 * using it (inline mode can interleave runs; a worker runs one task at a time).
 */
export class SessionStore {
  private readonly cache: LruCache<string, CachedSession>
  created = 0

  constructor (readonly provider: string, readonly intraOpThreads: number, capacity: number) {
    this.cache = new LruCache<string, CachedSession>(capacity, entry => {
      entry.evicted = true
      if (entry.users === 0) release(entry)
    })
  }

  get size (): number {
    return this.cache.size
  }

  has (key: string): boolean {
    return this.cache.has(key)
  }

  keys (): string[] {
    return this.cache.keys()
  }

  /**
   * Calls `use` with the key's session, created from the bytes `model()` returns when the key has
   * none. Undefined when the key has none and no `model` is given (the caller holds the model).
   */
  async withSession<T> (key: string, model: (() => Uint8Array) | undefined, use: (session: ort.InferenceSession) => Promise<T>): Promise<T | undefined> {
    let entry = this.cache.get(key)
    if (entry === undefined) {
      if (model === undefined) return undefined
      const session = ort.InferenceSession.create(model(), sessionOptions(this.provider, this.intraOpThreads))
      entry = { session, users: 0, evicted: false }
      this.created++
      this.cache.set(key, entry)
      // A model that fails to load must not stay cached.
      const created = entry
      session.catch(() => { if (this.cache.peek(key) === created) this.cache.delete(key) })
    }
    entry.users++
    try {
      return await use(await entry.session)
    } finally {
      entry.users--
      if (entry.evicted && entry.users === 0) release(entry)
    }
  }

  /** Runs the graph `build` describes (built and cached under `key` on first use). */
  async run (key: string, build: () => GraphSpec, feeds: Record<string, ort.Tensor>): Promise<Record<string, TensorOut>> {
    const out = await this.withSession(key, () => encodeModel({ graph: build() }), async session => {
      const result = await session.run(feeds)
      const tensors: Record<string, TensorOut> = {}
      for (const [name, tensor] of Object.entries(result)) {
        tensors[name] = { data: tensor.data as Float32Array, dims: tensor.dims.map(Number) }
      }
      return tensors
    })
    if (out === undefined) throw new Error('unreachable: a model was given')
    return out
  }

  /** Drops the key's session (released once no run uses it). */
  forget (key: string): void {
    const entry = this.cache.peek(key)
    if (entry === undefined) return
    this.cache.delete(key)
    entry.evicted = true
    if (entry.users === 0) release(entry)
  }

  close (): void {
    this.cache.clear()
  }
}
