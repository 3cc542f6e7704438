import { createHash } from 'node:crypto'
import { endianness } from 'node:os'
import {
  createCommandClient,
  createSubscriberConnection,
  describeTarget,
  requestPathMode,
  unavailable,
  type RedisClient,
  type RedisTarget
} from './connection.js'
import { ChangeFeed } from './feed.js'
import type {
  AnchorSetRecord,
  AnchorSetSummary,
  CreateTranslatorOutcome,
  DeleteOutcome,
  Dependents,
  EmbeddingsRecord,
  EmbeddingsSummary,
  PutEmbeddingsOutcome,
  PutOutcome,
  SpaceRecord,
  Store,
  StoreChange,
  StoreStats,
  TranslatorListing,
  TranslatorMeta,
  TranslatorRecord
} from './types.js'
import { checkEmbeddingsShape, summaryOf } from './records.js'

/*
 * Key layout. Every key starts with one hash tag, `{<prefix>}`, so that all of the store's state
 * lives in a single hash slot. That is what lets every referential check and cascade run as one
 * Lua script, atomically, on a standalone Redis and on Redis Cluster alike. The price: on a
 * cluster the whole store sits on one shard (no sharding of this data, one node's memory and CPU).
 * The store is metadata plus anchor matrices and translator parameters, small enough for that.
 *
 *   {p}:spaces                   HASH   space name → SpaceRecord JSON
 *   {p}:sets                     HASH   set name → {name, size, description, createdAt} JSON (no ids: listing stays cheap)
 *   {p}:set-ids:<set>            STRING JSON array of the set's ids
 *   {p}:set-spaces:<set>         HASH   space → EmbeddingsSummary JSON: the index of the spaces the set holds
 *   {p}:emb:<set>|<space>        HASH   ids (JSON), data (float32 LE, rows*cols*4 bytes), meta (EmbeddingsSummary JSON)
 *   {p}:translators              HASH   translator id → TranslatorMeta JSON (without parameters, for listing)
 *   {p}:tr-refs                  HASH   translator id → JSON [source, target, anchorSet]: what scripts scan for dependents
 *   {p}:tr-params:<id>           HASH   parameter name → float32 LE bytes
 *   {p}:active                   HASH   `source|target` → active translator id
 *   {p}:versions                 HASH   `source|target` → last version handed out (never decremented or deleted)
 *
 * Change notifications go to the pub/sub channel `<prefix>:changes` as StoreChange JSON, published
 * by the same script that writes, so a notification never arrives before its write is visible.
 * On Redis Cluster a plain PUBLISH reaches the subscribers on every node (over the cluster bus), so
 * the feed's subscriber may sit on any node. Messages published while it is disconnected are lost:
 * when it subscribes again the store reports a `resync` change, and caches start afresh.
 * Names never contain `|` (the API's name pattern excludes it), which keeps `set|space` unambiguous.
 *
 * Scripts also touch keys they build from the tag (per-set and per-translator keys). They are in
 * the same slot as the declared key, which is what Redis Cluster needs to run them.
 */

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

export { redactRedisUrl } from './connection.js'

// Lua helpers shared by every script. ARGV[1] is the hash tag `{prefix}`, ARGV[2] the channel.
const luaPrelude = `
local tag, channel = ARGV[1], ARGV[2]
local spacesKey, setsKey = tag .. ':spaces', tag .. ':sets'
local translatorsKey, refsKey = tag .. ':translators', tag .. ':tr-refs'
local activeKey, versionsKey = tag .. ':active', tag .. ':versions'
local function setIdsKey (set) return tag .. ':set-ids:' .. set end
local function setSpacesKey (set) return tag .. ':set-spaces:' .. set end
local function embKey (set, space) return tag .. ':emb:' .. set .. '|' .. space end
local function paramsKey (id) return tag .. ':tr-params:' .. id end
local function spaceHasDim (name, dim)
  local record = redis.call('HGET', spacesKey, name)
  return record and cjson.decode(record).dim == tonumber(dim)
end

local function notify (kind, key)
  redis.call('PUBLISH', channel, cjson.encode({ kind = kind, key = key }))
end

-- Records are stored as <body>,"createdAt":"<iso>"} so that a script can keep the original
-- createdAt without re-encoding the body (cjson would turn {} into [] and round floats).
local function splitRecord (json)
  return string.match(json, '^(.*),"createdAt":("[^"]*")}$')
end

local function joinRecord (body, createdAt)
  return body .. ',"createdAt":' .. createdAt .. '}'
end

-- Ids of the translators whose (source, target, anchorSet) satisfy the predicate, sorted.
local function translatorsWhere (predicate)
  local flat = redis.call('HGETALL', refsKey)
  local ids = {}
  for i = 1, #flat, 2 do
    local refs = cjson.decode(flat[i + 1])
    if predicate(refs[1], refs[2], refs[3]) then ids[#ids + 1] = flat[i] end
  end
  table.sort(ids)
  return ids
end

local function removeTranslator (id)
  local refs = redis.call('HGET', refsKey, id)
  if not refs then return false end
  local r = cjson.decode(refs)
  local pair = r[1] .. '|' .. r[2]
  redis.call('HDEL', translatorsKey, id)
  redis.call('HDEL', refsKey, id)
  redis.call('DEL', paramsKey(id))
  notify('translator', id)
  if redis.call('HGET', activeKey, pair) == id then
    redis.call('HDEL', activeKey, pair)
    notify('active', pair)
  end
  return true
end

local function removeEmbeddings (set, space)
  redis.call('DEL', embKey(set, space))
  redis.call('HDEL', setSpacesKey(set), space)
  notify('embeddings', set .. '|' .. space)
end
`

// ARGV: tag, channel, name, dim, body, createdAt JSON → {status, record JSON}
const putSpaceLua = `
local name, dim, body, createdAt = ARGV[3], tonumber(ARGV[4]), ARGV[5], ARGV[6]
local existing = redis.call('HGET', spacesKey, name)
if not existing then
  local record = joinRecord(body, createdAt)
  redis.call('HSET', spacesKey, name, record)
  notify('space', name)
  return { 'created', record }
end
if cjson.decode(existing).dim ~= dim then return { 'conflict', existing } end
local oldBody, oldCreatedAt = splitRecord(existing)
if oldBody == body then return { 'unchanged', existing } end
local record = joinRecord(body, oldCreatedAt)
redis.call('HSET', spacesKey, name, record)
notify('space', name)
return { 'updated', record }
`

// ARGV: tag, channel, name, ids JSON, body, createdAt JSON → {status, record JSON, ids JSON}
const putAnchorSetLua = `
local name, ids, body, createdAt = ARGV[3], ARGV[4], ARGV[5], ARGV[6]
local existing = redis.call('HGET', setsKey, name)
if not existing then
  local record = joinRecord(body, createdAt)
  redis.call('HSET', setsKey, name, record)
  redis.call('SET', setIdsKey(name), ids)
  notify('anchorSet', name)
  return { 'created', record, ids }
end
local oldIds = redis.call('GET', setIdsKey(name))
if oldIds ~= ids then return { 'conflict', existing, oldIds } end
local oldBody, oldCreatedAt = splitRecord(existing)
if oldBody == body then return { 'unchanged', existing, oldIds } end
local record = joinRecord(body, oldCreatedAt)
redis.call('HSET', setsKey, name, record)
notify('anchorSet', name)
return { 'updated', record, oldIds }
`

// ARGV: tag, channel, set, space, ids JSON, float32 bytes, summary JSON, dim → {status, replaced}
// A space recreated with another dim since the caller checked it counts as missing.
const putEmbeddingsLua = `
local set, space = ARGV[3], ARGV[4]
if redis.call('HEXISTS', setsKey, set) == 0 then return { 'missing-set' } end
if not spaceHasDim(space, ARGV[8]) then return { 'missing-space' } end
local key = embKey(set, space)
local replaced = redis.call('EXISTS', key)
redis.call('HSET', key, 'ids', ARGV[5], 'data', ARGV[6], 'meta', ARGV[7])
redis.call('HSET', setSpacesKey(set), space, ARGV[7])
notify('embeddings', set .. '|' .. space)
return { 'stored', replaced }
`

// Delete scripts answer {status, {set, space, set, space, ...}, {translator id, ...}}.

// ARGV: tag, channel, name, cascade ('1' | '0')
const deleteSpaceLua = `
local name, cascade = ARGV[3], ARGV[4] == '1'
if redis.call('HEXISTS', spacesKey, name) == 0 then return { 'not-found' } end
local embeddings = {}
local sets = redis.call('HKEYS', setsKey)
table.sort(sets)
for _, set in ipairs(sets) do
  if redis.call('HEXISTS', setSpacesKey(set), name) == 1 then
    embeddings[#embeddings + 1] = set
    embeddings[#embeddings + 1] = name
  end
end
local translators = translatorsWhere(function (source, target) return source == name or target == name end)
if not cascade and (#embeddings > 0 or #translators > 0) then return { 'conflict', embeddings, translators } end
for _, id in ipairs(translators) do removeTranslator(id) end
for i = 1, #embeddings, 2 do removeEmbeddings(embeddings[i], name) end
redis.call('HDEL', spacesKey, name)
notify('space', name)
return { 'deleted', embeddings, translators }
`

// ARGV: tag, channel, name, cascade. The set's own embeddings go with it and never block.
const deleteAnchorSetLua = `
local name, cascade = ARGV[3], ARGV[4] == '1'
if redis.call('HEXISTS', setsKey, name) == 0 then return { 'not-found' } end
local translators = translatorsWhere(function (_, _, anchorSet) return anchorSet == name end)
if not cascade and #translators > 0 then return { 'conflict', {}, translators } end
local spaces = redis.call('HKEYS', setSpacesKey(name))
table.sort(spaces)
local embeddings = {}
for _, id in ipairs(translators) do removeTranslator(id) end
for _, space in ipairs(spaces) do
  removeEmbeddings(name, space)
  embeddings[#embeddings + 1] = name
  embeddings[#embeddings + 1] = space
end
redis.call('DEL', setIdsKey(name), setSpacesKey(name))
redis.call('HDEL', setsKey, name)
notify('anchorSet', name)
return { 'deleted', embeddings, translators }
`

// ARGV: tag, channel, set, space, cascade
const deleteEmbeddingsLua = `
local set, space, cascade = ARGV[3], ARGV[4], ARGV[5] == '1'
if redis.call('EXISTS', embKey(set, space)) == 0 then return { 'not-found' } end
local translators = translatorsWhere(function (source, target, anchorSet)
  return anchorSet == set and (source == space or target == space)
end)
if not cascade and #translators > 0 then return { 'conflict', {}, translators } end
for _, id in ipairs(translators) do removeTranslator(id) end
removeEmbeddings(set, space)
return { 'deleted', {}, translators }
`

// ARGV: tag, channel, id, source, target, anchorSet, meta body (no version, no closing brace),
// refs JSON, activate ('1' | '0'), source dim, target dim, then parameter name/bytes pairs
// → {status, version | what, active}. A space recreated with another dim counts as missing.
const createTranslatorLua = `
local id, source, target, anchorSet = ARGV[3], ARGV[4], ARGV[5], ARGV[6]
if not spaceHasDim(source, ARGV[10]) then return { 'missing', 'source' } end
if not spaceHasDim(target, ARGV[11]) then return { 'missing', 'target' } end
if redis.call('HEXISTS', setsKey, anchorSet) == 0 then return { 'missing', 'anchorSet' } end
if redis.call('HEXISTS', translatorsKey, id) == 1 then
  return redis.error_reply('translator id already exists: ' .. id)
end
local pair = source .. '|' .. target
local version = redis.call('HINCRBY', versionsKey, pair, 1)
redis.call('HSET', translatorsKey, id, ARGV[7] .. ',"version":' .. version .. '}')
redis.call('HSET', refsKey, id, ARGV[8])
for i = 12, #ARGV, 2 do redis.call('HSET', paramsKey(id), ARGV[i], ARGV[i + 1]) end
notify('translator', id)
local active = 0
if ARGV[9] == '1' or redis.call('HEXISTS', activeKey, pair) == 0 then
  redis.call('HSET', activeKey, pair, id)
  active = 1
  notify('active', pair)
end
return { 'created', version, active }
`

// ARGV: tag, channel, id → meta JSON or nil
const activateTranslatorLua = `
local id = ARGV[3]
local refs = redis.call('HGET', refsKey, id)
if not refs then return false end
local r = cjson.decode(refs)
local pair = r[1] .. '|' .. r[2]
redis.call('HSET', activeKey, pair, id)
notify('active', pair)
return redis.call('HGET', translatorsKey, id)
`

// ARGV: tag, channel, id → 1 | 0
const deleteTranslatorLua = `
if removeTranslator(ARGV[3]) then return 1 end
return 0
`

// Reads that span keys also run as scripts, so they see one consistent state.

// ARGV: tag, channel, name → {record JSON, ids JSON} or nil
const readAnchorSetLua = `
local record = redis.call('HGET', setsKey, ARGV[3])
if not record then return false end
return { record, redis.call('GET', setIdsKey(ARGV[3])) }
`

// ARGV: tag, channel, name or none → {record JSON, {space, summary JSON, ...}, ...}
const readSetSummariesLua = `
local names
if ARGV[3] then names = { ARGV[3] } else names = redis.call('HKEYS', setsKey) end
local out = {}
for _, name in ipairs(names) do
  local record = redis.call('HGET', setsKey, name)
  if record then
    out[#out + 1] = record
    out[#out + 1] = redis.call('HGETALL', setSpacesKey(name))
  end
end
return out
`

// ARGV: tag, channel, id, with params ('1' | '0') → {meta JSON, active id or '', {name, bytes, ...}} or nil
const readTranslatorLua = `
local id = ARGV[3]
local meta = redis.call('HGET', translatorsKey, id)
if not meta then return false end
local r = cjson.decode(redis.call('HGET', refsKey, id))
local active = redis.call('HGET', activeKey, r[1] .. '|' .. r[2]) or ''
local params = {}
if ARGV[4] == '1' then params = redis.call('HGETALL', paramsKey(id)) end
return { meta, active, params }
`

// ARGV: tag, channel → {{id, meta JSON, ...}, {pair, id, ...}}
const readTranslatorsLua = `
return { redis.call('HGETALL', translatorsKey), redis.call('HGETALL', activeKey) }
`

/** A Lua script run by EVALSHA, falling back to EVAL (which also caches it) when Redis lacks it. */
class LuaScript {
  private readonly source: string
  private readonly sha: string

  constructor (body: string) {
    this.source = luaPrelude + body
    this.sha = createHash('sha1').update(this.source).digest('hex')
  }

  /** Bulk replies come back as Buffers: binary data survives, text is decoded by the caller. */
  async run (redis: RedisClient, routingKey: string, args: Array<string | Buffer | number>): Promise<unknown> {
    try {
      return await redis.callBuffer('EVALSHA', this.sha, 1, routingKey, ...args)
    } catch (err) {
      if (!(err instanceof Error) || !err.message.startsWith('NOSCRIPT')) throw err
      return await redis.callBuffer('EVAL', this.source, 1, routingKey, ...args)
    }
  }
}

const scripts = {
  putSpace: new LuaScript(putSpaceLua),
  putAnchorSet: new LuaScript(putAnchorSetLua),
  putEmbeddings: new LuaScript(putEmbeddingsLua),
  deleteSpace: new LuaScript(deleteSpaceLua),
  deleteAnchorSet: new LuaScript(deleteAnchorSetLua),
  deleteEmbeddings: new LuaScript(deleteEmbeddingsLua),
  createTranslator: new LuaScript(createTranslatorLua),
  activateTranslator: new LuaScript(activateTranslatorLua),
  deleteTranslator: new LuaScript(deleteTranslatorLua),
  readAnchorSet: new LuaScript(readAnchorSetLua),
  readSetSummaries: new LuaScript(readSetSummariesLua),
  readTranslator: new LuaScript(readTranslatorLua),
  readTranslators: new LuaScript(readTranslatorsLua)
}

const littleEndian = endianness() === 'LE'

/** float32 values as little-endian bytes; on little-endian hosts a view, not a copy. */
export function float32ToBytes (values: Float32Array): Buffer {
  const view = Buffer.from(values.buffer, values.byteOffset, values.byteLength)
  return littleEndian ? view : Buffer.from(view).swap32()
}

/**
 * Little-endian bytes as a fresh Float32Array. Always copies: ioredis hands out Buffers that are
 * often unaligned slices of its receive buffer, which a Float32Array cannot view directly.
 */
export function bytesToFloat32 (bytes: Buffer): Float32Array {
  if (bytes.length % 4 !== 0) throw new Error(`float32 data has ${bytes.length} bytes, not a multiple of 4`)
  const out = new Float32Array(bytes.length / 4)
  const outBytes = new Uint8Array(out.buffer)
  outBytes.set(bytes)
  if (!littleEndian) Buffer.from(out.buffer).swap32()
  return out
}

/** JSON with object keys sorted at every level, so equal values serialize to equal strings. */
function stableJson (value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) => {
    if (v === null || typeof v !== 'object' || Array.isArray(v)) return v
    const sorted: Record<string, unknown> = {}
    for (const k of Object.keys(v).sort()) sorted[k] = (v as Record<string, unknown>)[k]
    return sorted
  })
}

/** The JSON of an object without its closing brace, for a script to complete. */
function openJson (json: string): string {
  return json.slice(0, -1)
}

function text (reply: unknown): string {
  if (Buffer.isBuffer(reply)) return reply.toString('utf8')
  if (typeof reply === 'string') return reply
  throw new TypeError(`unexpected Redis reply: ${typeof reply}`)
}

function list (reply: unknown): unknown[] {
  if (!Array.isArray(reply)) throw new TypeError(`unexpected Redis reply: expected an array, got ${typeof reply}`)
  return reply
}

function json<T> (reply: unknown): T {
  return JSON.parse(text(reply)) as T
}

/** Pairs of a flat [field, value, field, value, ...] reply. */
function pairs (reply: unknown): Array<[string, unknown]> {
  const flat = list(reply)
  const out: Array<[string, unknown]> = []
  for (let i = 0; i < flat.length; i += 2) out.push([text(flat[i]), flat[i + 1]])
  return out
}

function compare (a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0
}

function dependentsFrom (embeddings: unknown, translators: unknown): Dependents {
  return {
    embeddings: pairs(embeddings).map(([set, space]) => ({ set, space: text(space) })),
    translators: list(translators).map(text)
  }
}

function deleteOutcome (reply: unknown): DeleteOutcome {
  const [status, embeddings, translators] = list(reply)
  switch (text(status)) {
    case 'not-found': return { status: 'not-found' }
    case 'conflict': return { status: 'conflict', dependents: dependentsFrom(embeddings, translators) }
    case 'deleted': return { status: 'deleted', cascaded: dependentsFrom(embeddings, translators) }
    default: throw new Error(`unexpected delete status ${text(status)}`)
  }
}

function putOutcome<T> (status: string, value: T): PutOutcome<T> {
  switch (status) {
    case 'created': return { status, value }
    case 'unchanged': return { status, value }
    case 'updated': return { status, value }
    case 'conflict': return { status, existing: value }
    default: throw new Error(`unexpected put status ${status}`)
  }
}

interface StoredSetRecord {
  name: string
  size: number
  description: string | null
  createdAt: string
}

function withTimeout<T> (promise: Promise<T>, ms: number, message: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const timeout = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => reject(new Error(message)), ms)
  })
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer))
}

/** Ends a connection: QUIT when it is up (so pending replies arrive), else drop it at once. */
async function closeConnection (redis: RedisClient): Promise<void> {
  if (redis.status === 'ready') {
    try {
      await withTimeout(redis.quit(), 1000, 'QUIT timed out')
    } catch {}
  }
  // Also after QUIT: only disconnect() releases a Sentinel client's failover-detector connections.
  redis.disconnect()
}

export class RedisStore implements Store {
  readonly kind = 'redis' as const

  private readonly redis: RedisClient
  private readonly tag: string
  private readonly channel: string
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
    if (opts.keyPrefix === '' || /[{}]/.test(opts.keyPrefix)) {
      throw new Error(`invalid Redis key prefix ${JSON.stringify(opts.keyPrefix)}: must be non-empty, without { or }`)
    }
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
    this.tag = `{${keyPrefix}}`
    this.channel = `${keyPrefix}:changes`
    this.logger = logger
    this.pingTimeoutMs = pingTimeoutMs
    this.feed = new ChangeFeed(openSubscriber, this.channel, {
      message: message => this.dispatch(message),
      resync: () => this.emit({ kind: 'resync', key: '' })
    }, logger)
  }

  /** The key every script is routed by (all keys share its slot). */
  private get routingKey (): string {
    return `${this.tag}:spaces`
  }

  private key (suffix: string): string {
    return `${this.tag}:${suffix}`
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
    return await this.io(script.run(this.redis, this.routingKey, [this.tag, this.channel, ...args]))
  }

  /** Whether the node that holds the store's slot answers (on a cluster, that slot's primary). */
  async ping (): Promise<void> {
    await withTimeout(this.io(this.redis.exists(this.routingKey)), this.pingTimeoutMs, `Redis did not answer within ${this.pingTimeoutMs} ms`)
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
      .hlen(this.key('spaces'))
      .hlen(this.key('sets'))
      .hlen(this.key('translators'))
      .exec())
    const counts = (replies ?? []).map(([err, value]) => {
      if (err !== null) throw err
      return Number(value)
    })
    return { spaces: counts[0], anchorSets: counts[1], translators: counts[2] }
  }

  // Spaces

  async putSpace (space: SpaceRecord): Promise<PutOutcome<SpaceRecord>> {
    const body = openJson(stableJson({
      name: space.name,
      dim: space.dim,
      description: space.description,
      metadata: space.metadata
    }))
    const [status, record] = list(await this.script(scripts.putSpace, [
      space.name, space.dim, body, JSON.stringify(space.createdAt)
    ]))
    return putOutcome(text(status), json<SpaceRecord>(record))
  }

  async getSpace (name: string): Promise<SpaceRecord | null> {
    const record = await this.io(this.redis.hget(this.key('spaces'), name))
    return record === null ? null : JSON.parse(record) as SpaceRecord
  }

  async listSpaces (): Promise<SpaceRecord[]> {
    const records = await this.io(this.redis.hvals(this.key('spaces')))
    return records.map(r => JSON.parse(r) as SpaceRecord).sort((a, b) => compare(a.name, b.name))
  }

  async deleteSpace (name: string, opts: { cascade: boolean }): Promise<DeleteOutcome> {
    return deleteOutcome(await this.script(scripts.deleteSpace, [name, opts.cascade ? '1' : '0']))
  }

  // Anchor sets

  async putAnchorSet (set: AnchorSetRecord): Promise<PutOutcome<AnchorSetRecord>> {
    const body = openJson(JSON.stringify({ name: set.name, size: set.ids.length, description: set.description }))
    const [status, record, ids] = list(await this.script(scripts.putAnchorSet, [
      set.name, JSON.stringify(set.ids), body, JSON.stringify(set.createdAt)
    ]))
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

  async deleteAnchorSet (name: string, opts: { cascade: boolean }): Promise<DeleteOutcome> {
    return deleteOutcome(await this.script(scripts.deleteAnchorSet, [name, opts.cascade ? '1' : '0']))
  }

  // Embeddings

  async putEmbeddings (rec: EmbeddingsRecord): Promise<PutEmbeddingsOutcome> {
    checkEmbeddingsShape(rec)
    const summary = summaryOf(rec)
    const [status, replaced] = list(await this.script(scripts.putEmbeddings, [
      rec.set, rec.space, JSON.stringify(rec.ids), float32ToBytes(rec.matrix.data), JSON.stringify(summary), String(rec.dim)
    ]))
    switch (text(status)) {
      case 'missing-set': return { status: 'missing-set' }
      case 'missing-space': return { status: 'missing-space' }
      case 'stored': return { status: 'stored', value: summary, replaced: replaced === 1 }
      default: throw new Error(`unexpected putEmbeddings status ${text(status)}`)
    }
  }

  async getEmbeddings (set: string, space: string): Promise<EmbeddingsRecord | null> {
    // One HGETALL of one hash: ids, matrix and summary always belong together.
    const fields = await this.io(this.redis.hgetallBuffer(this.key(`emb:${set}|${space}`)))
    if (fields.ids === undefined || fields.data === undefined || fields.meta === undefined) return null
    const summary = json<EmbeddingsSummary>(fields.meta)
    const data = bytesToFloat32(fields.data)
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

  async deleteEmbeddings (set: string, space: string, opts: { cascade: boolean }): Promise<DeleteOutcome> {
    return deleteOutcome(await this.script(scripts.deleteEmbeddings, [set, space, opts.cascade ? '1' : '0']))
  }

  // Translators

  async createTranslator (rec: TranslatorRecord, opts: { activate: boolean }): Promise<CreateTranslatorOutcome> {
    // The script appends the version it assigns; the caller's version is dropped.
    const { version: _callersVersion, ...meta } = rec.meta
    const metaJson = JSON.stringify(meta)
    const params: Array<string | Buffer> = []
    for (const [name, values] of Object.entries(rec.params)) params.push(name, float32ToBytes(values))
    const reply = list(await this.script(scripts.createTranslator, [
      meta.id, meta.source, meta.target, meta.anchorSet,
      openJson(metaJson),
      JSON.stringify([meta.source, meta.target, meta.anchorSet]),
      opts.activate ? '1' : '0',
      String(meta.sourceDim), String(meta.targetDim),
      ...params
    ]))
    const status = text(reply[0])
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
      params[name] = bytesToFloat32(bytes)
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
    return (await this.io(this.redis.hexists(this.key('translators'), id))) === 1
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
    return await this.io(this.redis.hget(this.key('active'), `${source}|${target}`))
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

function anchorSetFrom (record: unknown, ids: unknown): AnchorSetRecord {
  const { name, description, createdAt } = json<StoredSetRecord>(record)
  return { name, ids: json<string[]>(ids), description, createdAt }
}

function setSummariesFrom (reply: unknown): AnchorSetSummary[] {
  return pairs(reply).map(([record, index]) => {
    const { name, size, description, createdAt } = JSON.parse(record) as StoredSetRecord
    const spaces: Record<string, EmbeddingsSummary> = {}
    for (const [space, summary] of pairs(index).sort((a, b) => compare(a[0], b[0]))) {
      spaces[space] = json<EmbeddingsSummary>(summary)
    }
    return { name, size, description, createdAt, spaces }
  })
}


