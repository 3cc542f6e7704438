/**
 * The heavy requests as the budget sees them: what the work is called, its cost from the shapes
 * and options, and what a client can send instead when it is over budget.
 */
import { ProblemError } from '../errors.js'
import {
  crossValidations, openFamilies, evaluateCost, reportCost, seq, worst, fitCost, refineCost, selectCost, similarityCost, translatorBytes,
  type Cost, type FitChoice, type ReportDirectionShape, type FitShape, type RefineChoice,
  unsupervisedCost, type UnsupervisedChoice, type UnsupervisedShape
} from './cost.js'
import { mib } from './budget.js'

export interface WorkPlan {
  what: string
  cost: Cost
  instead: string[]
}

/**
 * A fit, with refinement when asked (its cost counted for every method the fit may choose: the
 * chosen one is not known before the fit).
 */
export function fitPlan (shape: FitShape, opts: FitChoice, refine?: RefineChoice): WorkPlan {
  let cost = fitCost(shape, opts)
  if (refine !== undefined) {
    cost = seq(cost, worst(...openFamilies(opts).map(({ method }) => refineCost(shape, method, refine, opts.holdout))))
  }
  const instead: string[] = []
  const cv = crossValidations(opts)
  if (opts.method === 'auto') instead.push(`a named "method" and "scaling" (e.g. "procrustes", "l2") instead of "auto", which cross-validates ${cv} configurations × ${opts.folds} folds`)
  else if (cv > 0 && opts.method === undefined && opts.scaling === undefined) instead.push(`a named "method" and "scaling" (e.g. "procrustes", "l2"), which skips cross-validating ${cv} configurations × ${opts.folds} folds`)
  else if (cv > 0 && opts.scaling === undefined) instead.push(`a named "scaling" (e.g. "l2"), which skips cross-validating ${cv} configurations × ${opts.folds} folds`)
  else if (cv > 0) instead.push(`a "ridge" value instead of the ${cv}-value ridge search`)
  if (cv > 0 && opts.folds > 2) instead.push(`fewer "folds" (${opts.folds} now)`)
  if (refine !== undefined) instead.push(`fewer refine "iterations" (${refine.iterations} now), or no refine`)
  instead.push(`spaces of fewer dimensions (${shape.dx} and ${shape.dy} now; the map alone is ${mib(4 * shape.dx * shape.dy)})`)
  instead.push(`fewer anchors in the set (${shape.anchors} parallel now)`)
  return { what: `this fit (${shape.anchors} anchors, ${shape.dx} → ${shape.dy} dims, ${opts.method === undefined && opts.scaling === undefined ? 'method and scaling chosen by cross-validation' : `method ${opts.method ?? 'procrustes'}${opts.method !== 'auto' && opts.scaling === undefined ? ', scaling chosen by cross-validation' : ''}`})`, cost, instead }
}

/** Refuses a translator whose stored size would exceed MAX_TRANSLATOR_BYTES. */
export function checkTranslatorSize (dx: number, dy: number, sourceRows: number, maxBytes: number): void {
  const bytes = translatorBytes(dx, dy, sourceRows)
  if (bytes > maxBytes) {
    throw new ProblemError('over-budget', `a translator from ${dx} to ${dy} dimensions is ${mib(bytes)} stored (the ${dx} x ${dy} float32 map and its confidence model), over MAX_TRANSLATOR_BYTES=${maxBytes} (${mib(maxBytes)}); nothing was run. ` +
      'Send instead: spaces of fewer dimensions (e.g. reduce them with PCA before uploading), or raise MAX_TRANSLATOR_BYTES.')
  }
}

export function evaluatePlan (rows: number, dx: number, dy: number, k: number, csls: boolean): WorkPlan {
  return {
    what: `this evaluation (${rows} rows, ${dx} → ${dy} dims${csls ? ', csls' : ''})`,
    cost: evaluateCost(rows, dx, dy, k, csls),
    instead: [`fewer rows (${rows} now; retrieval compares every row with every other)`, ...(csls ? ['"retrieval": "cosine" instead of "csls"'] : [])]
  }
}

/** A migration report: each direction's translation, confidence and neighbour searches among `rows` native rows. */
export function reportPlan (rows: number, directions: ReportDirectionShape[]): WorkPlan {
  const dims = directions.map(d => `${d.from} → ${d.to}`).join(' and ')
  return {
    what: `this report (${rows} rows, ${dims} dims)`,
    cost: reportCost(rows, directions),
    instead: [
      `fewer rows (${rows} now; each direction compares every row with every other)`,
      ...(directions.length > 1 ? ['"reverse": false, one direction only'] : [])
    ]
  }
}

export function similarityPlan (rows: number, d1: number, d2: number, k: number): WorkPlan {
  return {
    what: `this similarity (${rows} common anchors, ${d1} and ${d2} dims)`,
    cost: similarityCost(rows, d1, d2, k),
    instead: [`an anchor set with fewer rows (${rows} now; kNN compares every row with every other)`, `spaces of fewer dimensions (CKA's Grams are ${d1} x ${d2})`]
  }
}

export function selectPlan (rows: number, d: number, k: number, strategy: 'fps' | 'kmeans' | 'random'): WorkPlan {
  return {
    what: `this selection (${k} of ${rows} rows, ${d} dims, ${strategy})`,
    cost: selectCost(rows, d, k, strategy),
    instead: [`a smaller "k" (${k} now)`, ...(strategy !== 'random' ? ['"strategy": "random", which costs nothing'] : []), ...(strategy === 'kmeans' ? ['"strategy": "fps", one pass per pick'] : [])]
  }
}

/** A zero-anchor fit ("anchors": "none"): every restart and the null counted at their iteration cap. */
export function unsupervisedPlan (shape: UnsupervisedShape, choice: UnsupervisedChoice): WorkPlan {
  return {
    what: `this zero-anchor fit (${shape.sourceRows} and ${shape.targetRows} rows, ${shape.dx} → ${shape.dy} dims, ${choice.restarts} restarts + 1 null of up to ${choice.maxIterations} iterations)`,
    cost: unsupervisedCost(shape, choice),
    instead: [
      `fewer "unsupervised.restarts" (${choice.restarts} now; on real pools a run finds the map anywhere from every time to one time in six)`,
      `fewer "unsupervised.maxIterations" (${choice.maxIterations} now)`,
      `fewer "unsupervised.inductionRows" (${choice.inductionRows} now; every iteration compares each of those rows of one side with each of the other's)`,
      `smaller pools (${shape.sourceRows} and ${shape.targetRows} rows now; each run's final map compares every row with every other)`,
      'a few parallel anchors and "anchors": "parallel" with "refine"'
    ]
  }
}
