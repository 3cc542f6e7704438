/** The part of autocannon's API the benches use (the package ships no types). */
declare module 'autocannon' {
  import type { EventEmitter } from 'node:events'

  interface Options {
    url: string
    method?: string
    headers?: Record<string, string>
    body?: string | Buffer
    connections?: number
    duration?: number
    pipelining?: number
    timeout?: number
  }

  interface Result {
    requests: { total: number, average: number }
    latency: { p50: number, p99: number }
    non2xx: number
    errors: number
    timeouts: number
    duration: number
  }

  interface Instance extends EventEmitter {
    on: (event: 'response', listener: (client: unknown, statusCode: number, resBytes: number, responseTime: number) => void) => this
  }

  function autocannon (opts: Options, cb: (err: Error | null, result: Result) => void): Instance
  export default autocannon
}
