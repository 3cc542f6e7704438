/**
 * The fit with `"anchors": "none"`: both spaces' rows of the set are unpaired pools (even where
 * ids coincide), aligned by fit/unsupervised.ts; the stored map is the orthogonal map fitted on the
 * kept run's mutual pairs. The verdict (`diagnostics.unsupervised`) decides whether it may become
 * active: an unreliable map is stored inactive whatever `activate` says, even as its pair's first.
 * Ids that both pools hold are not used by the fit; when there are enough, they check the verdict.
 *
 * Same shape as `prepareFit`: cheap checks and the plan first, the heavy work in `run`.
 */
import type { HeldRows } from '../anchors/parallel.js'
import { cancellable } from '../budget/cancel.js'
import { checkTranslatorSize, unsupervisedPlan } from '../budget/work.js'
import { unprocessable } from '../errors.js'
import { buildConfidence } from '../fit/confidence.js'
import { fitConfig, residual } from '../fit/fit.js'
import { buildGallery, emptyTally, scoresOf, tallyRows } from '../fit/score.js'
import { alignUnsupervised, judge, MIN_POOL_ROWS, UNSUPERVISED_DEFAULTS, type UnsupervisedOptions } from '../fit/unsupervised.js'
import { MAX_INIT_ROWS } from '../fit/unsupervised-init.js'
import { Ticker } from '../math/linalg.js'
import { takeRows } from '../math/matrix.js'
import type { SpaceRecord, Store, TranslatorListing } from '../store/types.js'
import type { Engine } from '../engine/types.js'
import type { Scaling } from '../fit/types.js'
import type { WorkPlan } from '../budget/work.js'
import type { ProgressSink } from '../util/progress.js'
import { applyMap } from './map.js'
import { translatorToStored } from './record.js'
import { storeFitted } from './store-fitted.js'

/** The fit request's fields this fit reads (pipeline.ts's FitRequest has them all). */
export interface UnsupervisedFitRequest {
  source: string
  target: string
  anchorSet: string
  method?: string
  scaling?: Scaling
  seed: number
  name?: string
  activate?: boolean
  refine?: unknown
  unsupervised?: Partial<Omit<UnsupervisedOptions, 'seed'>>
}

/** pipeline.ts's PipelineDeps and PreparedFit, by shape (that module imports this one). */
export interface UnsupervisedFitDeps { store: Store, engine: Engine, maxTranslatorBytes: number }
export interface PreparedUnsupervisedFit { plan: WorkPlan, rows: number, run: (signal: AbortSignal, progress?: ProgressSink) => Promise<TranslatorListing> }

/** Ids both pools hold that the anchor check translates at most (a bound on its cost). */
const MAX_CHECKED = 2000

/** The request's alignment options with the defaults filled in. */
export function unsupervisedOptions (request: UnsupervisedFitRequest): UnsupervisedOptions {
  return { ...UNSUPERVISED_DEFAULTS, ...request.unsupervised, seed: request.seed }
}

/** 422s for options that mean nothing without parallel anchors, and pools too small to align. */
function checkRequest (request: UnsupervisedFitRequest, sourceRows: number, targetRows: number): void {
  if (request.refine !== undefined) {
    throw unprocessable('"refine" learns from parallel anchors plus unpaired rows; with "anchors": "none" self-learning is already how the map is found. Remove "refine", or fit on parallel anchors ("anchors": "parallel")')
  }
  if (request.method !== undefined && request.method !== 'procrustes' && request.method !== 'auto') {
    throw unprocessable(`"anchors": "none" fits an orthogonal map (method "procrustes"); method "${request.method}" needs parallel anchors. Send "method": "procrustes", or fit on parallel anchors`)
  }
  const opts = unsupervisedOptions(request)
  const init = Math.min(sourceRows, targetRows, opts.initRows)
  if (sourceRows < MIN_POOL_ROWS || targetRows < MIN_POOL_ROWS) {
    throw unprocessable(`"anchors": "none" aligns the two spaces' pools of rows, which need at least ${MIN_POOL_ROWS} rows each; set "${request.anchorSet}" holds ${sourceRows} rows of "${request.source}" and ${targetRows} of "${request.target}". Upload more embeddings of each space to the set`)
  }
  if (init > MAX_INIT_ROWS) throw unprocessable(`unsupervised.initRows must be at most ${MAX_INIT_ROWS}`)
}

export function prepareUnsupervisedFit (deps: UnsupervisedFitDeps, request: UnsupervisedFitRequest, source: SpaceRecord, target: SpaceRecord, held: [HeldRows, HeldRows], translatorId?: string): PreparedUnsupervisedFit {
  const [x, z] = [held[0].matrix, held[1].matrix]
  checkRequest(request, x.rows, z.rows)
  const opts = unsupervisedOptions(request)
  const plan = unsupervisedPlan({ sourceRows: x.rows, targetRows: z.rows, dx: source.dim, dy: target.dim }, opts)
  // Not cross-validated here (there are no pairs to score): centred, as VecMap's normalisation is.
  const scaling = request.scaling ?? 'center'

  const run = async (signal: AbortSignal, progress?: ProgressSink): Promise<TranslatorListing> => {
    checkTranslatorSize(source.dim, target.dim, x.rows, deps.maxTranslatorBytes)
    const engine = cancellable(deps.engine, signal)
    const started = performance.now()
    const aligned = await alignUnsupervised(x, z, opts, engine, signal, progress)
    const ticker = new Ticker(undefined, signal)
    const px = takeRows(x, aligned.pairs.source)
    const pz = takeRows(z, aligned.pairs.target)
    const fitted = await fitConfig(engine, px, pz, undefined, { method: 'procrustes', scaling, ridge: 0 }, true, ticker)
    const map = fitted.map

    // Ids both pools hold: never used by the fit, they check it.
    const targetRow = new Map<string, number>()
    held[1].ids.forEach((id, j) => targetRow.set(id, j))
    const checkX: number[] = []
    const checkZ: number[] = []
    for (let i = 0; i < held[0].ids.length && checkX.length < MAX_CHECKED; i++) {
      const j = targetRow.get(held[0].ids[i])
      if (j !== undefined) { checkX.push(i); checkZ.push(j) }
    }
    let anchorCheck: { count: number, top1: number } | undefined
    if (checkX.length > 0) {
      const tally = emptyTally()
      await tallyRows(await applyMap(takeRows(x, checkX), map, engine), checkZ, buildGallery(z), engine, tally)
      anchorCheck = { count: checkX.length, top1: scoresOf(tally).top1 }
    }
    const verdict = judge({ ...aligned.evidence, ...(anchorCheck !== undefined ? { anchorCheck } : {}) })
    const setPath = `/v1/anchor-sets/${encodeURIComponent(request.anchorSet)}`
    const advice = verdict.reliable
      ? undefined
      : `stored inactive: the alignment is not reliable (${verdict.reasons.filter(r => r !== '').join('; ')}). A few parallel anchors fix this: POST ${setPath}/select with {"space": "${request.source}", "k": 20} chooses well-spread items; embed them with "${request.target}" too, upload under the same ids, and fit with "anchors": "parallel" (and "refine" to use the remaining rows)`

    const confidence = await buildConfidence(x, z, map, engine, { seed: request.seed, signal })
    const { params, settings } = translatorToStored(map, confidence)
    signal.throwIfAborted()
    const diagnostics: Record<string, unknown> = {
      rank: fitted.rank,
      fitResidual: await residual(px, pz, map, engine),
      heldOut: null,
      fitMs: performance.now() - started,
      unsupervised: {
        reliable: verdict.reliable,
        reasons: verdict.reasons,
        ...(advice !== undefined ? { advice } : {}),
        pairs: aligned.pairs.source.length,
        pools: { source: x.rows, target: z.rows },
        options: { restarts: opts.restarts, initRows: opts.initRows, inductionRows: opts.inductionRows, k: opts.k, patience: opts.patience, maxIterations: opts.maxIterations },
        best: verdict.best,
        agreement: verdict.agreement,
        runs: verdict.runs,
        null: verdict.null,
        ...(anchorCheck !== undefined ? { anchorCheck } : {})
      }
    }
    return await storeFitted(deps.store, {
      id: translatorId,
      name: request.name,
      source: request.source,
      target: request.target,
      anchorSet: request.anchorSet,
      method: 'procrustes',
      scaling,
      anchorsUsed: 0,
      sourceDim: source.dim,
      targetDim: target.dim,
      diagnostics,
      settings: { ...settings }
    }, params, { activate: verdict.reliable && (request.activate ?? false), neverActivate: !verdict.reliable })
  }
  return { plan, rows: x.rows + z.rows, run }
}
