import { ProblemError } from '../errors.js'
import type {
  AnchorSetRecord,
  AnchorSetSummary,
  CreateTranslatorOutcome,
  DeleteOutcome,
  EmbeddingsRecord,
  PutEmbeddingsOutcome,
  PutOutcome,
  RevisionPrecondition,
  SpaceRecord,
  Store,
  StoreBreakerStatus,
  StoreChange,
  StoreStats,
  TranslatorListing,
  TranslatorRecord,
  WritePreconditions
} from './types.js'

export interface BreakerOptions {
  /** While open, how long between two probes (a ping) for the store's return. */
  probeIntervalMs: number
  logger?: { info: Function, warn: Function }
}

/**
 * A circuit breaker around a store whose backend can fail slowly (a stalled Redis holds each
 * command for the whole command timeout). Closed, calls pass through. A call that fails because
 * the store cannot be reached (an `unavailable` problem: a timeout, a lost connection, a node down)
 * or a failed ping (the readiness probe) opens it: from then on every call is refused at once with
 * a 503 `unavailable` problem and Retry-After, instead of each waiting for its own timeout. Open,
 * it pings the store every probeIntervalMs (half-open while a ping is in flight) and closes on the
 * first answer, so service resumes without anyone's action. ping() while open is such a probe, so
 * /readyz says what the breaker says. Calls already sent when it opens keep their own timeouts: a
 * slow but working command is not cut short.
 *
 * A refused call was never sent, so it changed nothing; a call that failed may or may not have been
 * applied (its reply was lost), which a client learns by reading again, as before.
 */
export class BreakerStore implements Store {
  private current: StoreBreakerStatus['state'] = 'closed'
  private tripCount = 0
  private refusals = 0
  /** Counts closings: a failure of a call sent before the last closing does not open the breaker again. */
  private epoch = 0
  private reason = ''
  private openedAt = 0
  private timer: NodeJS.Timeout | undefined
  private probing: Promise<void> | null = null
  private closed = false
  private readonly retryAfter: string

  constructor (private readonly inner: Store, private readonly opts: BreakerOptions) {
    this.retryAfter = String(Math.max(1, Math.ceil(opts.probeIntervalMs / 1000)))
  }

  get kind (): Store['kind'] {
    return this.inner.kind
  }

  get breaker (): StoreBreakerStatus {
    return { state: this.current, trips: this.tripCount, refused: this.refusals }
  }

  /** Runs a call unless the breaker is open; opens it when the call finds the store unreachable. */
  private async guard<T> (call: () => Promise<T>): Promise<T> {
    if (this.current !== 'closed') {
      this.refusals++
      throw this.refusal()
    }
    const epoch = this.epoch
    try {
      return await call()
    } catch (err) {
      if (err instanceof ProblemError && err.kind === 'unavailable') this.trip(err, epoch)
      throw err
    }
  }

  private refusal (): ProblemError {
    const since = ((Date.now() - this.openedAt) / 1000).toFixed(1)
    return new ProblemError('unavailable',
      `the store is unavailable (${this.reason}, ${since} s ago); requests that need it are refused until it answers again; retry in a moment`,
      { headers: { 'retry-after': this.retryAfter } })
  }

  private trip (err: unknown, epoch: number): void {
    if (this.closed || this.current !== 'closed' || epoch !== this.epoch) return
    this.current = 'open'
    this.tripCount++
    this.openedAt = Date.now()
    this.reason = describe(err)
    this.opts.logger?.warn({ reason: this.reason }, 'store breaker open: refusing store calls until the store answers again')
    this.schedule()
  }

  private schedule (): void {
    clearTimeout(this.timer)
    if (this.closed) return
    this.timer = setTimeout(() => { this.probe().catch(() => {}) }, this.opts.probeIntervalMs)
    this.timer.unref()
  }

  /** One ping for the store's return, shared by whoever asks meanwhile; closes the breaker when it answers. */
  private async probe (): Promise<void> {
    if (this.probing !== null) return await this.probing
    clearTimeout(this.timer)
    this.current = 'half-open'
    this.probing = (async () => {
      try {
        await this.inner.ping()
        if (this.current === 'half-open') {
          this.current = 'closed'
          this.epoch++
          this.opts.logger?.info({ openMs: Date.now() - this.openedAt }, 'store breaker closed: the store answers again')
        }
      } catch (err) {
        if (this.current === 'half-open') {
          this.current = 'open'
          this.reason = describe(err)
          this.schedule()
        }
        throw this.refusal()
      } finally {
        this.probing = null
      }
    })()
    return await this.probing
  }

  async ping (): Promise<void> {
    if (this.current !== 'closed') return await this.probe()
    const epoch = this.epoch
    try {
      await this.inner.ping()
    } catch (err) {
      this.trip(err, epoch)
      throw err
    }
  }

  async close (): Promise<void> {
    this.closed = true
    clearTimeout(this.timer)
    await this.inner.close()
  }

  onChange (listener: (change: StoreChange) => void): () => void {
    return this.inner.onChange(listener)
  }

  async stats (): Promise<StoreStats> { return await this.guard(async () => await this.inner.stats()) }
  async putSpace (space: SpaceRecord, opts?: WritePreconditions): Promise<PutOutcome<SpaceRecord>> { return await this.guard(async () => await this.inner.putSpace(space, opts)) }
  async getSpace (name: string): Promise<SpaceRecord | null> { return await this.guard(async () => await this.inner.getSpace(name)) }
  async listSpaces (): Promise<SpaceRecord[]> { return await this.guard(async () => await this.inner.listSpaces()) }
  async deleteSpace (name: string, opts: { cascade: boolean, ifRevision?: RevisionPrecondition }): Promise<DeleteOutcome> { return await this.guard(async () => await this.inner.deleteSpace(name, opts)) }
  async putAnchorSet (set: AnchorSetRecord, opts?: WritePreconditions): Promise<PutOutcome<AnchorSetRecord>> { return await this.guard(async () => await this.inner.putAnchorSet(set, opts)) }
  async getAnchorSet (name: string): Promise<AnchorSetRecord | null> { return await this.guard(async () => await this.inner.getAnchorSet(name)) }
  async getAnchorSetSummary (name: string): Promise<AnchorSetSummary | null> { return await this.guard(async () => await this.inner.getAnchorSetSummary(name)) }
  async listAnchorSets (): Promise<AnchorSetSummary[]> { return await this.guard(async () => await this.inner.listAnchorSets()) }
  async deleteAnchorSet (name: string, opts: { cascade: boolean, ifRevision?: RevisionPrecondition }): Promise<DeleteOutcome> { return await this.guard(async () => await this.inner.deleteAnchorSet(name, opts)) }
  async putEmbeddings (rec: EmbeddingsRecord, opts?: WritePreconditions): Promise<PutEmbeddingsOutcome> { return await this.guard(async () => await this.inner.putEmbeddings(rec, opts)) }
  async getEmbeddings (set: string, space: string): Promise<EmbeddingsRecord | null> { return await this.guard(async () => await this.inner.getEmbeddings(set, space)) }
  async deleteEmbeddings (set: string, space: string, opts: { cascade: boolean, ifRevision?: RevisionPrecondition }): Promise<DeleteOutcome> { return await this.guard(async () => await this.inner.deleteEmbeddings(set, space, opts)) }
  async createTranslator (rec: TranslatorRecord, opts: { activate: boolean }): Promise<CreateTranslatorOutcome> { return await this.guard(async () => await this.inner.createTranslator(rec, opts)) }
  async getTranslator (id: string): Promise<TranslatorRecord | null> { return await this.guard(async () => await this.inner.getTranslator(id)) }
  async getTranslatorMeta (id: string): Promise<TranslatorListing | null> { return await this.guard(async () => await this.inner.getTranslatorMeta(id)) }
  async translatorExists (id: string): Promise<boolean> { return await this.guard(async () => await this.inner.translatorExists(id)) }
  async listTranslators (filter: { source?: string, target?: string }): Promise<TranslatorListing[]> { return await this.guard(async () => await this.inner.listTranslators(filter)) }
  async getActiveTranslatorId (source: string, target: string): Promise<string | null> { return await this.guard(async () => await this.inner.getActiveTranslatorId(source, target)) }
  async activateTranslator (id: string): Promise<TranslatorListing | null> { return await this.guard(async () => await this.inner.activateTranslator(id)) }
  async deleteTranslator (id: string): Promise<boolean> { return await this.guard(async () => await this.inner.deleteTranslator(id)) }
}

/** Why the store counts as down, for refusals and the log: the problem's detail names the Redis failure. */
function describe (err: unknown): string {
  if (err instanceof ProblemError) return /^the store is unavailable \((.*)\); retry in a moment$/.exec(err.detail)?.[1] ?? err.detail
  return err instanceof Error ? err.message : String(err)
}
