/*
 * The Redis store: one deployment's data in a single Redis, a Sentinel group or a Cluster.
 *   keys.ts        the key layout (every key under one hash tag)
 *   scripts.ts     the Lua scripts that check and write atomically
 *   runner.ts      EVALSHA with the EVAL fallback
 *   replies.ts     decoding replies into records
 *   connection.ts  the connections, tuned for the request path, and what their failures mean
 *   feed.ts        the change feed (pub/sub subscriber)
 *   store.ts       RedisStore, the Store over all of these
 */
export { RedisStore, type RedisStoreOptions, type StoreLogger } from './store.js'
export { redactRedisUrl, type RedisTarget } from './connection.js'
