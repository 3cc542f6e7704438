/*
 * Key layout. Every key starts with one hash tag, `{<prefix>}`, so that all of the store's state
 * lives in a single hash slot. That is what lets every referential check and cascade run as one
 * Lua script, atomically, on a standalone Redis and on Redis Cluster alike. The price: on a
 * cluster the whole store sits on one shard (no sharding of this data, one node's memory and CPU).
 * The store is metadata plus anchor matrices and translator parameters, small enough for that.
 *
 *   {p}:spaces                   HASH   space name → SpaceRecord JSON, ending with revision and createdAt (scripts.ts)
 *   {p}:sets                     HASH   set name → {name, size, description, revision, createdAt} JSON (no ids: listing stays cheap)
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
 * the same slot as the declared key, which is what Redis Cluster needs to run them. The scripts'
 * prelude (scripts.ts) builds the same names in Lua: the two must stay in step.
 */

/** Every key and the channel of one deployment's data, named by its key prefix. */
export interface StoreKeys {
  /** The hash tag `{<prefix>}` every key starts with. */
  tag: string
  /** The pub/sub channel of change notifications. */
  channel: string
  spaces: string
  sets: string
  translators: string
  active: string
  embeddings: (set: string, space: string) => string
  /** The key every script is routed by (all keys share its slot). */
  routing: string
}

/** Throws unless the prefix can be a hash tag: non-empty, without braces. */
export function checkKeyPrefix (keyPrefix: string): void {
  if (keyPrefix === '' || /[{}]/.test(keyPrefix)) {
    throw new Error(`invalid Redis key prefix ${JSON.stringify(keyPrefix)}: must be non-empty, without { or }`)
  }
}

export function storeKeys (keyPrefix: string): StoreKeys {
  const tag = `{${keyPrefix}}`
  const key = (suffix: string): string => `${tag}:${suffix}`
  return {
    tag,
    channel: `${keyPrefix}:changes`,
    spaces: key('spaces'),
    sets: key('sets'),
    translators: key('translators'),
    active: key('active'),
    embeddings: (set, space) => key(`emb:${set}|${space}`),
    routing: key('spaces')
  }
}
