import type { LinearMap } from '../translators/map.js'

export type FitMethod = 'procrustes' | 'linear' | 'affine' | 'ridge' | 'inverse-relative'
export type Scaling = 'standard' | 'center' | 'l2' | 'none'

export interface HeldOutScores {
  count: number
  meanCosine: number
  top1: number
  top5: number
  mrr: number
}

export interface FitOptions {
  method: FitMethod | 'auto'
  scaling: Scaling
  /** Ridge strength for 'ridge' and 'inverse-relative'; chosen by a held-out search when absent. */
  ridge?: number
  /** Fraction of the parallel anchors held out to score the fit (the stored map is refitted on all). */
  holdout: number
  /** Cross-validation folds for 'auto'. */
  folds: number
  seed: number
}

export interface FitCandidate {
  method: FitMethod
  scaling: Scaling
  ridge?: number
  top1: number
  meanCosine: number
  mrr: number
  fitMs: number
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
    heldOut: HeldOutScores | null
    /** 'auto': every candidate with its cross-validated scores. */
    candidates?: FitCandidate[]
    /** Ridge strengths tried and their held-out top-1, when the strength was searched. */
    ridgeSearch?: Array<{ ridge: number, top1: number, meanCosine: number }>
    fitMs: number
  }
}
