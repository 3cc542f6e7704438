import type { Redis } from 'ioredis'
import { closeConnection, reconnectDelay } from './connection.js'

export interface FeedLogger {
  info: Function
  warn: Function
}

export interface FeedHandlers {
  message: (message: string) => void
  /** The feed was down and is subscribed again: messages published meanwhile are lost. */
  resync: () => void
}

/**
 * The subscriber side of the change feed: one connection subscribed to one channel, reopened for
 * ever (with a backoff) when it ends. Pub/sub is fire and forget, so every subscription after the
 * first is reported as a resync: whoever caches what the feed invalidates must drop it, because
 * changes published while the feed was down are lost.
 */
export class ChangeFeed {
  private connection: Redis | null = null
  private attempts = 0
  private subscribedOnce = false
  private timer: NodeJS.Timeout | null = null
  private closed = false

  constructor (
    private readonly open: (attempt: number) => Redis,
    private readonly channel: string,
    private readonly handlers: FeedHandlers,
    private readonly logger: FeedLogger
  ) {}

  start (): void {
    if (this.connection === null && this.timer === null && !this.closed) this.connect()
  }

  private connect (): void {
    if (this.closed) return
    let connection: Redis
    try {
      connection = this.open(this.attempts)
    } catch (err) {
      this.logger.warn({ err: (err as Error).message, channel: this.channel }, 'redis change feed could not open a connection')
      this.retry()
      return
    }
    this.connection = connection
    connection.on('error', (err: Error) => this.logger.warn({ err: err.message }, 'redis change feed error'))
    connection.on('message', (channel: string, message: string) => {
      if (channel === this.channel && this.connection === connection) this.handlers.message(message)
    })
    connection.once('ready', () => {
      connection.subscribe(this.channel).then(() => {
        if (this.connection !== connection || this.closed) return
        this.attempts = 0
        if (this.subscribedOnce) {
          this.logger.info({ channel: this.channel }, 'redis change feed subscribed again: caches resync')
          this.handlers.resync()
        }
        this.subscribedOnce = true
      }, (err: Error) => {
        this.logger.warn({ err: err.message, channel: this.channel }, 'redis change feed could not subscribe')
        connection.disconnect()
      })
    })
    connection.once('end', () => {
      // Releases what the connection's connector holds (a Sentinel client's failover detector).
      connection.disconnect()
      if (this.connection !== connection || this.closed) return
      this.connection = null
      this.retry()
    })
  }

  private retry (): void {
    const delay = reconnectDelay(++this.attempts)
    if (this.attempts === 1) this.logger.warn({ channel: this.channel }, 'redis change feed lost; reconnecting')
    this.timer = setTimeout(() => {
      this.timer = null
      this.connect()
    }, delay)
  }

  async close (): Promise<void> {
    this.closed = true
    if (this.timer !== null) clearTimeout(this.timer)
    this.timer = null
    const connection = this.connection
    this.connection = null
    if (connection === null) return
    await closeConnection(connection)
  }
}
