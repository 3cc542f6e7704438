import { availableParallelism } from 'node:os'

/**
 * The default thread layout: intra-op threads up to 4 per worker, workers filling the remaining cores, so
 * workers × threads = cores (no oversubscription). On this 2-vCPU VM that is 1 worker × 2
 * threads. Measured there (cosine, 1,024 x 768 against 1,000 anchors; eight alternating rounds,
 * median of the per-round medians; a shared, noisy VM, rounds vary by ±30 %):
 *   1 worker × 2 threads:   one request 10.7 ms; 16 concurrent requests ≈ 93,000 rows/s
 *   2 workers × 1 thread:   one request 10.9 ms (spread over both idle workers, 18 ms unspread);
 *                           16 concurrent ≈ 96,000 rows/s
 *   2 workers × 2 threads:  oversubscribed, no better (bench/relative.ts --all)
 * A tie within the noise; one worker keeps a single set of sessions and suits a GPU provider
 * (one device context), so it is the default. Beyond 2 cores the split is not measured.
 */
export function defaultThreadLayout (cores: number = availableParallelism()): { workers: number, intraOpThreads: number } {
  const n = Math.max(1, cores)
  const intraOpThreads = Math.min(n, 4)
  return { workers: Math.max(1, Math.floor(n / intraOpThreads)), intraOpThreads }
}
