import { createHash } from 'node:crypto'
import type { RedisClient } from './connection.js'

/**
 * A Lua script run by EVALSHA, falling back to EVAL (which also caches it) when Redis lacks it:
 * after a restart, a failover or SCRIPT FLUSH, and on each cluster node the first time.
 */
export class LuaScript {
  private readonly source: string
  private readonly sha: string

  constructor (source: string) {
    this.source = source
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
