/**
 * Budgets for heavy work: a request whose estimate alone exceeds WORK_MEMORY_BYTES or
 * WORK_TIME_MS is refused before it starts (422 over-budget); one that fits reserves its
 * estimated memory from a process-wide pool while it runs, so that several big requests at once
 * cannot together exceed it (503 busy at once when the pool is taken, never a queue).
 */
import { ProblemError } from '../errors.js'
import type { Permits } from '../util/permits.js'
import { toEstimate, type Cost, type Estimate } from './cost.js'

export interface Budgets {
  /** WORK_MEMORY_BYTES: the pool, and the most one request may be estimated to need. */
  memoryBytes: number
  /** WORK_TIME_MS: the longest estimated time of one synchronous request. */
  timeMs: number
  /** Retry-After of the 503 busy answer, seconds. */
  retryAfterSeconds: number
}

const MiB = 1024 * 1024

export function mib (bytes: number): string {
  return `${Math.ceil(bytes / MiB).toLocaleString('en-US')} MiB`
}

export function seconds (ms: number): string {
  if (ms < 1000) return `${Math.ceil(ms)} ms`
  return ms < 10_000 ? `${(ms / 1000).toFixed(1)} s` : `${Math.ceil(ms / 1000).toLocaleString('en-US')} s`
}

/**
 * The over-budget problem for `what` (e.g. "this fit"), or null when the estimate is within both
 * budgets. `instead` lists what the client can send instead, most effective first.
 */
export function overBudget (what: string, estimate: Estimate, budgets: Budgets, instead: string[]): ProblemError | null {
  const over: string[] = []
  if (estimate.bytes > budgets.memoryBytes) over.push(`WORK_MEMORY_BYTES=${budgets.memoryBytes} (${mib(budgets.memoryBytes)})`)
  if (estimate.ms > budgets.timeMs) over.push(`WORK_TIME_MS=${budgets.timeMs} (${seconds(budgets.timeMs)})`)
  if (over.length === 0) return null
  return new ProblemError('over-budget',
    `${what} is estimated to need ${mib(estimate.bytes)} of working memory and ${seconds(estimate.ms)}, over ${over.join(' and ')}; nothing was run. ` +
    `Send instead: ${instead.join('; ')}.`)
}

/**
 * Checks `cost` against the budgets and reserves its memory in `pool` (bytes of WORK_MEMORY_BYTES): the release function, or throws
 * over-budget (422) or busy (503 with Retry-After).
 */
export function reserve (pool: Permits, what: string, cost: Cost, budgets: Budgets, instead: string[]): () => void {
  const estimate = toEstimate(cost)
  const refused = overBudget(what, estimate, budgets, instead)
  if (refused !== null) throw refused
  const release = pool.tryAcquire(estimate.bytes)
  if (release === undefined) {
    const retryAfter = String(budgets.retryAfterSeconds)
    throw new ProblemError('busy', `${what} is estimated to need ${mib(estimate.bytes)} of working memory, and other requests hold ${mib(pool.inUse)} of the ${mib(pool.capacity)} pool (WORK_MEMORY_BYTES) right now; retry after ${retryAfter} s`, { headers: { 'retry-after': retryAfter } })
  }
  return release
}
