import { availableParallelism } from 'node:os'

/**
 * The measured default thread layout (see tasks.ts): up to 4 intra-op threads per session, and as
 * many workers as that leaves cores for. On 2 cores: 1 worker x 2 threads, which tied with
 * 2 x 1 on throughput and keeps one set of sessions.
 */
export function defaultThreadLayout (cores: number = availableParallelism()): { workers: number, intraOpThreads: number } {
  const n = Math.max(1, cores)
  const intraOpThreads = Math.min(n, 4)
  return { workers: Math.max(1, Math.floor(n / intraOpThreads)), intraOpThreads }
}
