/**
 * Progress of long work (a fit, a refinement, a report), as the work's own steps report it: the
 * phase it is in and how many of that phase's steps are done. Operations (docs/operations.md)
 * publish it; pure code takes an optional sink and calls it between steps, never more often than
 * it has steps, so a sink may do I/O-free bookkeeping only.
 */
export interface Progress {
  /** What the work is doing, e.g. "cross-validation", "refinement", "confidence". */
  phase: string
  /** Steps of this phase done so far. */
  done: number
  /** Steps this phase has in all (known before it starts). */
  total: number
}

export type ProgressSink = (progress: Progress) => void

/** A sink that ignores progress, for callers that do not track it. */
export const ignoreProgress: ProgressSink = () => {}
