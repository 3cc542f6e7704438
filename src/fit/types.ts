import type { LinearMap } from '../translators/map.js'
import type { ProgressSink } from '../util/progress.js'

export type FitMethod = 'procrustes' | 'linear' | 'affine' | 'ridge' | 'inverse-relative'
export type Scaling = 'standard' | 'center' | 'l2' | 'none'

/** Where candidates are retrieved when scored: among the raw target vectors, or centred ones. */
export type SelectionSpace = 'raw' | 'centered'
/** What ranks candidates: top-1, MRR@5, or the share of rows whose own target is among their k nearest. */
export type SelectionMetric = 'top1' | 'mrr' | `recall@${number}`

export interface Selection {
  space: SelectionSpace
  metric: SelectionMetric
}

export interface HeldOutScores {
  count: number
  meanCosine: number
  top1: number
  top5: number
  mrr: number
}

export interface FitOptions {
  /** Procrustes when absent. */
  method?: FitMethod | 'auto'
  /** Chosen among every scaling by cross-validation when absent (the default); ignored by 'auto'. */
  scaling?: Scaling
  /** Ridge strength for 'ridge' and 'inverse-relative'; chosen by a held-out search when absent. */
  ridge?: number
  /** Fraction of the parallel anchors held out to score the fit (the stored map is refitted on all). */
  holdout: number
  /** Cross-validation folds for 'auto'. */
  folds: number
  seed: number
  /** How candidates are scored; raw top-1 when absent. */
  selection?: Partial<Selection>
  /**
   * How cross-validated candidates are ranked: 'paired' (the rule: each fold among its own targets,
   * statistical ties broken among every pool row's targets), 'fold' (own targets only) or 'pool'
   * (every pool row's targets only). Not part of the API: it lets the quality bench compare rules.
   */
  galleryRule?: 'paired' | 'fold' | 'pool'
  /** Told after each candidate x fold of the cross-validation (phase "cross-validation"). */
  progress?: ProgressSink
}

export interface FitCandidate {
  method: FitMethod
  scaling: Scaling
  ridge?: number
  /** The selection metric's cross-validated value. */
  score: number
  top1: number
  meanCosine: number
  mrr: number
  fitMs: number
  /** The tie-break (MRR@5, or recall@k for that metric) with each fold retrieved among every anchor's target. */
  poolScore?: number
  /** Its score is within SELECTION_TIE_Z standard errors of the leader's, so poolScore ranked it. */
  tied?: true
  /** Stopped before its last fold: it could no longer reach a rival's score (scores cover the folds run). */
  pruned?: true
}

/** What cross-validation chose and how it scored. */
export interface SelectionReport extends Selection {
  /** What the options left open: the method (auto), the scaling (the default), the ridge strength. */
  chose: Array<'method' | 'scaling' | 'ridge'>
  folds: number
  /** The chosen configuration's cross-validated value of `metric`. */
  score: number
}

export interface FitResult {
  map: LinearMap
  method: FitMethod
  scaling: Scaling
  ridge?: number
  diagnostics: {
    /** Numerical rank of the problem the map was solved from (at most min(anchors, dims)). */
    rank: number
    /** Relative residual ‖X̂ − Y‖_F / ‖Y‖_F of the fitted map on all the anchors, in the target space. */
    fitResidual: number
    /** Held-out scores in the selection space. */
    heldOut: HeldOutScores | null
    /** The same held-out rows scored in both spaces. */
    heldOutBySpace: { raw: HeldOutScores, centered: HeldOutScores } | null
    /** Present when anything was chosen by cross-validation. */
    selection?: SelectionReport
    /** 'auto', or a scaling left to the default: every candidate with its cross-validated scores. */
    candidates?: FitCandidate[]
    /** Ridge strengths tried and their held-out top-1, when the strength was searched. */
    ridgeSearch?: Array<{ ridge: number, score: number, top1: number, meanCosine: number, pruned?: true }>
    fitMs: number
  }
}
