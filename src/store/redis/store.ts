import { randomUUID } from 'node:crypto'
import { float32FromLittleEndian, float32ToBytes } from '../../codecs/bytes.js'
import { checkEmbeddingsShape, summaryOf } from '../records.js'
import {
  closeConnection,
  createCommandClient,
  createSubscriberConnection,
  describeTarget,
  requestPathMode,
  unavailable,
  withTimeout,
  type RedisClient,
  type RedisTarget
} from './connection.js'
import { ChangeFeed } from './feed.js'
import { checkKeyPrefix, storeKeys, type StoreKeys } from './keys.js'
import { anchorSetFrom, compare, deleteOutcome, json, list, pairs, putOutcome, setSummariesFrom, spaceFrom, text } from './replies.js'
import { openJson, scripts, stableJson } from './scripts.js'
import type { LuaScript } from './runner.js'
import type {
  AnchorSetRecord,
  AnchorSetSummary,
  CreateTranslatorOutcome,
  DeleteOutcome,
  EmbeddingsRecord,
  EmbeddingsSummary,
  PutEmbeddingsOutcome,
  PutOutcome,
  RevisionPrecondition,
  SpaceRecord,
  Store,
  StoreChange,
  StoreStats,
  TranslatorListing,
  TranslatorMeta,
  TranslatorRecord,
  WritePreconditions
} from '../types.js'

export interface StoreLogger {
  info: Function
  warn: Function
  error: Function
}

export interface RedisStoreOptions {
  /** A single Redis (redis:// or rediss://). Give this or `target`. */
  url?: string
  /** Where the data lives: a single Redis, a Sentinel group or a Cluster. Overrides `url`. */
  target?: RedisTarget
  /** Names this deployment's data; becomes the hash tag `{keyPrefix}` of every key. */
  keyPrefix: string
  logger?: StoreLogger
  /** How long connect() waits for the first ready connection. Default 5000 ms. */
  connectTimeoutMs?: number
  /** Upper bound for any command on the request path. Default 5000 ms. */
  commandTimeoutMs?: number
  /** How long ping() waits for an answer. Default 1000 ms. */
  pingTimeoutMs?: number
  /** CLIENT SETNAME of the connections (the change feed's gets `:changes` appended). Default "latentbridge". */
  connectionName?: string
}

const quietLogger: StoreLogger = { info () {}, warn () {}, error () {} }

export class RedisStore implements Store {
  readonly kind = 'redis' as const

  private readonly redis: RedisClient
  private readonly keys: StoreKeys
  private readonly logger: StoreLogger
  private readonly pingTimeoutMs: number
  private readonly listeners = new Set<(change: StoreChange) => void>()
  private readonly feed: ChangeFeed
  private closed = false

  /**
   * Connects and resolves once Redis answers; rejects after connectTimeoutMs (default 5 s) with a
   * message that names the target without credentials.
   */
  static async connect (opts: RedisStoreOptions): Promise<RedisStore> {
    checkKeyPrefix(opts.keyPrefix)
    const target: RedisTarget | undefined = opts.target ?? (opts.url !== undefined ? { mode: 'standalone', url: opts.url } : undefined)
    if (target === undefined) throw new Error('RedisStore.connect needs a url or a target')
    const logger = opts.logger ?? quietLogger
    const where = describeTarget(target)
    const connectTimeoutMs = opts.connectTimeoutMs ?? 5000
    const tuning = {
      connectTimeoutMs,
      commandTimeoutMs: opts.commandTimeoutMs ?? 5000,
      connectionName: opts.connectionName ?? 'latentbridge'
    }
    const redis = createCommandClient(target, tuning)
    let lastError: Error | null = null
    redis.on('error', (err: Error) => {
      lastError = err
      logger.warn({ err: err.message, redis: where }, 'redis connection error')
    })
    try {
      await withTimeout((async () => {
        await new Promise<void>(resolve => {
          redis.once('ready', () => resolve())
          // connect() rejects on the first failed attempt; reconnection goes on, and 'ready' decides.
          redis.connect().catch(() => {})
        })
        await requestPathMode(redis)
      })(), connectTimeoutMs, 'timeout')
    } catch {
      redis.disconnect()
      const cause = lastError === null ? '' : `: ${(lastError as Error).message}`
      throw new Error(`could not connect to Redis at ${where} within ${connectTimeoutMs} ms${cause}`)
    }
    redis.on('ready', () => logger.info({ redis: where }, 'redis connection ready'))
    redis.on('reconnecting', () => logger.warn({ redis: where }, 'redis reconnecting'))
    if (target.mode === 'cluster') {
      redis.on('node error', (err: Error, node: string) => logger.warn({ err: err.message, node }, 'redis cluster node error'))
    }
    logger.info({ redis: where, mode: target.mode, keyPrefix: opts.keyPrefix }, 'redis store connected')
    const open = (attempt: number): ReturnType<typeof createSubscriberConnection> =>
      createSubscriberConnection(target, tuning, attempt, redis)
    return new RedisStore(redis, open, opts.keyPrefix, logger, opts.pingTimeoutMs ?? 1000)
  }

  private constructor (redis: RedisClient, openSubscriber: (attempt: number) => ReturnType<typeof createSubscriberConnection>,
    keyPrefix: string, logger: StoreLogger, pingTimeoutMs: number) {
    this.redis = redis
    this.keys = storeKeys(keyPrefix)
    this.logger = logger
    this.pingTimeoutMs = pingTimeoutMs
    this.feed = new ChangeFeed(openSubscriber, this.keys.channel, {
      message: message => this.dispatch(message),
      resync: () => this.emit({ kind: 'resync', key: '' })
    }, logger)
  }

  /** Awaits a Redis command; failures to reach Redis become 503 problems (see `unavailable`). */
  private async io<T> (command: Promise<T>): Promise<T> {
    try {
      return await command
    } catch (err) {
      throw unavailable(err)
    }
  }

  private async script (script: LuaScript, args: Array<string | Buffer | number>): Promise<unknown> {
    return await this.io(script.run(this.redis, this.keys.routing, [this.keys.tag, this.keys.channel, ...args]))
  }

  /** Whether the node that holds the store's slot answers (on a cluster, that slot's primary). */
  async ping (): Promise<void> {
    await withTimeout(this.io(this.redis.exists(this.keys.routing)), this.pingTimeoutMs, `Redis did not answer within ${this.pingTimeoutMs} ms`)
  }

  async close (): Promise<void> {
    if (this.closed) return
    this.closed = true
    this.listeners.clear()
    await Promise.all([closeConnection(this.redis), this.feed.close()])
    this.logger.info('redis store closed')
  }

  async stats (): Promise<StoreStats> {
    const replies = await this.io(this.redis.multi()
      .hlen(this.keys.spaces)
      .hlen(this.keys.sets)
      .hlen(this.keys.translators)
      .exec())
    const counts = (replies ?? []).map(([err, value]) => {
      if (err !== null) throw err
      return Number(value)
    })
    return { spaces: counts[0], anchorSets: counts[1], translators: counts[2] }
  }

  // Spaces

  async putSpace (space: SpaceRecord, opts: WritePreconditions = {}): Promise<PutOutcome<SpaceRecord>> {
    const body = openJson(stableJson({
      name: space.name,
      dim: space.dim,
      description: space.description,
      metadata: space.metadata
    }))
    const [status, record] = list(await this.script(scripts.putSpace, [
      space.name, space.dim, body, JSON.stringify(space.createdAt), JSON.stringify(space.revision),
      preconditionArg(opts.ifRevision), preconditionArg(opts.ifNoneRevision)
    ]))
    if (text(status) === 'precondition-failed') return { status: 'precondition-failed' }
    return putOutcome(text(status), spaceFrom(record))
  }

  async getSpace (name: string): Promise<SpaceRecord | null> {
    const record = await this.io(this.redis.hget(this.keys.spaces, name))
    return record === null ? null : spaceFrom(record)
  }

  async listSpaces (): Promise<SpaceRecord[]> {
    const records = await this.io(this.redis.hvals(this.keys.spaces))
    return records.map(spaceFrom).sort((a, b) => compare(a.name, b.name))
  }

  async deleteSpace (name: string, opts: { cascade: boolean, ifRevision?: RevisionPrecondition }): Promise<DeleteOutcome> {
    return deleteOutcome(await this.script(scripts.deleteSpace, [
      name, opts.cascade ? '1' : '0', preconditionArg(opts.ifRevision), JSON.stringify(randomUUID())
    ]))
  }

  // Anchor sets

  async putAnchorSet (set: AnchorSetRecord, opts: WritePreconditions = {}): Promise<PutOutcome<AnchorSetRecord>> {
    const body = openJson(JSON.stringify({ name: set.name, size: set.ids.length, description: set.description }))
    const [status, record, ids] = list(await this.script(scripts.putAnchorSet, [
      set.name, JSON.stringify(set.ids), body, JSON.stringify(set.createdAt), JSON.stringify(set.revision),
      preconditionArg(opts.ifRevision), preconditionArg(opts.ifNoneRevision)
    ]))
    if (text(status) === 'precondition-failed') return { status: 'precondition-failed' }
    return putOutcome(text(status), anchorSetFrom(record, ids))
  }

  async getAnchorSet (name: string): Promise<AnchorSetRecord | null> {
    const reply = await this.script(scripts.readAnchorSet, [name])
    if (reply === null) return null
    const [record, ids] = list(reply)
    return anchorSetFrom(record, ids)
  }

  async getAnchorSetSummary (name: string): Promise<AnchorSetSummary | null> {
    const summaries = setSummariesFrom(await this.script(scripts.readSetSummaries, [name]))
    return summaries[0] ?? null
  }

  async listAnchorSets (): Promise<AnchorSetSummary[]> {
    const summaries = setSummariesFrom(await this.script(scripts.readSetSummaries, []))
    return summaries.sort((a, b) => compare(a.name, b.name))
  }

  async deleteAnchorSet (name: string, opts: { cascade: boolean, ifRevision?: RevisionPrecondition }): Promise<DeleteOutcome> {
    return deleteOutcome(await this.script(scripts.deleteAnchorSet, [name, opts.cascade ? '1' : '0', preconditionArg(opts.ifRevision)]))
  }

  // Embeddings

  async putEmbeddings (rec: EmbeddingsRecord, opts: WritePreconditions = {}): Promise<PutEmbeddingsOutcome> {
    checkEmbeddingsShape(rec)
    const summary = summaryOf(rec)
    const [status, replaced] = list(await this.script(scripts.putEmbeddings, [
      rec.set, rec.space, JSON.stringify(rec.ids), float32ToBytes(rec.matrix.data), JSON.stringify(summary), String(rec.dim), preconditionArg(opts.ifRevision),
      JSON.stringify(randomUUID()), preconditionArg(opts.ifNoneRevision)
    ]))
    switch (text(status)) {
      case 'missing-set': return { status: 'missing-set' }
      case 'missing-space': return { status: 'missing-space' }
      case 'precondition-failed': return { status: 'precondition-failed' }
      case 'stored': return { status: 'stored', value: summary, replaced: replaced === 1 }
      default: throw new Error(`unexpected putEmbeddings status ${text(status)}`)
    }
  }

  async getEmbeddings (set: string, space: string): Promise<EmbeddingsRecord | null> {
    // One HGETALL of one hash: ids, matrix and summary always belong together.
    const fields = await this.io(this.redis.hgetallBuffer(this.keys.embeddings(set, space)))
    if (fields.ids === undefined || fields.data === undefined || fields.meta === undefined) return null
    const summary = json<EmbeddingsSummary>(fields.meta)
    const data = float32FromLittleEndian(fields.data)
    if (data.length !== summary.rows * summary.dim) {
      throw new Error(`stored embeddings ${set}|${space} hold ${data.length} values, expected ${summary.rows} x ${summary.dim}`)
    }
    return {
      ...summary,
      set,
      ids: json<string[]>(fields.ids),
      matrix: { rows: summary.rows, cols: summary.dim, data }
    }
  }

  async deleteEmbeddings (set: string, space: string, opts: { cascade: boolean, ifRevision?: RevisionPrecondition }): Promise<DeleteOutcome> {
    return deleteOutcome(await this.script(scripts.deleteEmbeddings, [
      set, space, opts.cascade ? '1' : '0', preconditionArg(opts.ifRevision), JSON.stringify(randomUUID())
    ]))
  }

  // Translators

  async createTranslator (rec: TranslatorRecord, opts: { activate: boolean, neverActivate?: boolean }): Promise<CreateTranslatorOutcome> {
    // The script appends the version it assigns; the caller's version is dropped.
    const { version: _callersVersion, ...meta } = rec.meta
    const metaJson = JSON.stringify(meta)
    const params: Array<string | Buffer> = []
    for (const [name, values] of Object.entries(rec.params)) params.push(name, float32ToBytes(values))
    const reply = list(await this.script(scripts.createTranslator, [
      meta.id, meta.source, meta.target, meta.anchorSet,
      openJson(metaJson),
      JSON.stringify([meta.source, meta.target, meta.anchorSet]),
      opts.neverActivate === true ? 'never' : opts.activate ? '1' : '0',
      String(meta.sourceDim), String(meta.targetDim),
      ...params
    ]))
    const status = text(reply[0])
    if (status === 'exists') return { status: 'exists', value: { ...json<TranslatorMeta>(reply[1]), active: text(reply[2]) === meta.id } }
    if (status === 'missing') {
      const what = text(reply[1])
      if (what !== 'source' && what !== 'target' && what !== 'anchorSet') throw new Error(`unexpected missing ${what}`)
      return { status: 'missing', what }
    }
    if (status !== 'created') throw new Error(`unexpected createTranslator status ${status}`)
    return {
      status: 'created',
      value: { ...JSON.parse(metaJson) as TranslatorMeta, version: Number(reply[1]), active: reply[2] === 1 }
    }
  }

  async getTranslator (id: string): Promise<TranslatorRecord | null> {
    const reply = await this.script(scripts.readTranslator, [id, '1'])
    if (reply === null) return null
    const [meta, , flatParams] = list(reply)
    const params: Record<string, Float32Array> = {}
    for (const [name, bytes] of pairs(flatParams)) {
      if (!Buffer.isBuffer(bytes)) throw new TypeError(`parameter ${name} of translator ${id} is not binary`)
      params[name] = float32FromLittleEndian(bytes)
    }
    return { meta: json<TranslatorMeta>(meta), params }
  }

  async getTranslatorMeta (id: string): Promise<TranslatorListing | null> {
    const reply = await this.script(scripts.readTranslator, [id, '0'])
    if (reply === null) return null
    const [meta, activeId] = list(reply)
    return { ...json<TranslatorMeta>(meta), active: text(activeId) === id }
  }

  async translatorExists (id: string): Promise<boolean> {
    return (await this.io(this.redis.hexists(this.keys.translators, id))) === 1
  }

  async listTranslators (filter: { source?: string, target?: string }): Promise<TranslatorListing[]> {
    const [metas, actives] = list(await this.script(scripts.readTranslators, []))
    const active = new Map(pairs(actives).map(([pair, id]) => [pair, text(id)]))
    return pairs(metas)
      .map(([, meta]) => json<TranslatorMeta>(meta))
      .filter(meta => (filter.source === undefined || meta.source === filter.source) &&
        (filter.target === undefined || meta.target === filter.target))
      .map(meta => ({ ...meta, active: active.get(`${meta.source}|${meta.target}`) === meta.id }))
      .sort((a, b) => compare(a.source, b.source) || compare(a.target, b.target) || a.version - b.version)
  }

  async getActiveTranslatorId (source: string, target: string): Promise<string | null> {
    return await this.io(this.redis.hget(this.keys.active, `${source}|${target}`))
  }

  async activateTranslator (id: string): Promise<TranslatorListing | null> {
    const meta = await this.script(scripts.activateTranslator, [id])
    return meta === null ? null : { ...json<TranslatorMeta>(meta), active: true }
  }

  async deleteTranslator (id: string): Promise<boolean> {
    return (await this.script(scripts.deleteTranslator, [id])) === 1
  }

  // Changes

  /**
   * Hears every replica's changes, this one's included, through pub/sub. Pub/sub is fire and
   * forget: changes published while the subscriber connection is down are lost, so when it is
   * subscribed again listeners hear `{ kind: 'resync' }` and should drop what they cached.
   */
  onChange (listener: (change: StoreChange) => void): () => void {
    const subscription = (change: StoreChange): void => listener(change)
    this.listeners.add(subscription)
    if (!this.closed) this.feed.start()
    return () => { this.listeners.delete(subscription) }
  }

  private dispatch (message: string): void {
    let change: StoreChange
    try {
      const parsed = JSON.parse(message) as { kind?: unknown, key?: unknown }
      if (typeof parsed.kind !== 'string' || typeof parsed.key !== 'string') throw new Error('not a StoreChange')
      change = { kind: parsed.kind as StoreChange['kind'], key: parsed.key }
    } catch (err) {
      this.logger.warn({ err: (err as Error).message, message }, 'ignored malformed store change')
      return
    }
    this.emit(change)
  }

  private emit (change: StoreChange): void {
    for (const listener of [...this.listeners]) {
      try {
        listener({ ...change })
      } catch (err) {
        this.logger.error({ err, change }, 'store change listener failed')
      }
    }
  }
}

/** A precondition as a script argument: '' for none, '*', or the JSON array of revisions. */
function preconditionArg (expected: RevisionPrecondition | undefined): string {
  if (expected === undefined) return ''
  return expected === '*' ? '*' : JSON.stringify(expected)
}
