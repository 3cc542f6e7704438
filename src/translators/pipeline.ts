/**
 * The translator's lifecycle from a fit request to a stored translator, in one place that a route
 * (and a job runner) calls: load both spaces and their embeddings in the anchor set, split the
 * rows into parallel anchors and unpaired rows, estimate the work, fit, refine, rebuild the
 * residual, build the confidence model, encode the record and store it.
 *
 * Two steps, because the caller decides how the work runs: `prepareFit` reads and checks
 * everything cheap and returns the work's plan (its estimated memory and time, for the budgets)
 * with `run`, which does the heavy part under the caller's cancellation signal and stores the
 * translator, or stores nothing when the signal fires first. Failures are ProblemErrors whose
 * kind says what went wrong (not-found, unprocessable, conflict, over-budget).
 */
import { splitRows } from '../anchors/parallel.js'
import { cancellable } from '../budget/cancel.js'
import { checkTranslatorSize, fitPlan, type WorkPlan } from '../budget/work.js'
import type { Engine } from '../engine/types.js'
import { conflict, notFound, unprocessable } from '../errors.js'
import { buildConfidence } from '../fit/confidence.js'
import { FitError, fitTranslator, ranksFor } from '../fit/index.js'
import { residual } from '../fit/fit.js'
import { refineTranslator } from '../fit/refine.js'
import type { FitOptions, SelectionSpace } from '../fit/types.js'
import type { UnsupervisedOptions } from '../fit/unsupervised.js'
import { requireEmbeddings } from '../store/require.js'
import type { Store, TranslatorListing } from '../store/types.js'
import type { ProgressSink } from '../util/progress.js'
import { translatorToStored } from './record.js'
import { storeFitted } from './store-fitted.js'
import { prepareUnsupervisedFit } from './pipeline-unsupervised.js'

/** What to fit: the fit's options (fit/types.ts) and where its anchors are, how to store it. */
export interface FitRequest extends Omit<FitOptions, 'selection'> {
  /** The schema checked the metric's form (fitTranslator checks it again). */
  selection?: { space?: SelectionSpace, metric?: string }
  source: string
  target: string
  anchorSet: string
  name?: string
  activate?: boolean
  refine?: { iterations: number, k: number }
  /** 'none': the set's rows of each space are unpaired pools (pipeline-unsupervised.ts). */
  anchors?: 'parallel' | 'none'
  unsupervised?: Partial<Omit<UnsupervisedOptions, 'seed'>>
}

export interface PipelineDeps {
  store: Store
  engine: Engine
  /** The largest record a translator may have (MAX_TRANSLATOR_BYTES). */
  maxTranslatorBytes: number
}

export interface PreparedFit {
  plan: WorkPlan
  /** Rows of the set both spaces hold (for the request log). */
  rows: number
  /**
   * Fits and stores. `progress` hears the fit's steps (cross-validation folds, refinement rounds,
   * confidence). Run again with the same `translatorId`, it stores nothing new: it returns the
   * translator the first run stored.
   */
  run: (signal: AbortSignal, progress?: ProgressSink) => Promise<TranslatorListing>
}

export interface PrepareOptions {
  /**
   * The id to store the translator under (an operation's own id, so that a job run again after
   * its replica died finds its translator instead of storing a second); a random one without.
   */
  translatorId?: string
}

const enc = encodeURIComponent

export async function prepareFit (deps: PipelineDeps, request: FitRequest, opts: PrepareOptions = {}): Promise<PreparedFit> {
  const { store } = deps
  if (request.source === request.target) throw unprocessable('source and target are the same space; a translator maps one space into another')
  const [source, target] = await Promise.all([store.getSpace(request.source), store.getSpace(request.target)])
  if (source === null) throw notFound(`space "${request.source}" does not exist`)
  if (target === null) throw notFound(`space "${request.target}" does not exist`)
  const held = await Promise.all([requireEmbeddings(store, request.anchorSet, request.source), requireEmbeddings(store, request.anchorSet, request.target)])
  if (request.anchors === 'none') return prepareUnsupervisedFit(deps, request, source, target, held, opts.translatorId)
  if (request.unsupervised !== undefined) throw unprocessable('"unsupervised" tunes the zero-anchor alignment; send it with "anchors": "none", or leave it out')
  const { ids, x, y, unpairedX, unpairedY } = splitRows(held[0], held[1])
  if (ids.length < 2) {
    throw unprocessable(`spaces "${request.source}" and "${request.target}" hold ${ids.length} anchor${ids.length === 1 ? '' : 's'} in common in set "${request.anchorSet}"; a translator needs at least 2 parallel anchors (and about as many as the larger dimension to be well determined)`)
  }
  if (request.refine !== undefined && (unpairedX.rows === 0 || unpairedY.rows === 0)) {
    const setPath = `/v1/anchor-sets/${enc(request.anchorSet)}/embeddings/`
    throw unprocessable(`refine learns from unpaired rows (ids of set "${request.anchorSet}" that only one of the two spaces holds), but "${request.source}" holds ${unpairedX.rows} such ids and "${request.target}" ${unpairedY.rows}; ` +
      `upload embeddings of items only one model has embedded to both sides (PUT ${setPath}${enc(request.source)} and ${setPath}${enc(request.target)} with "ids"), or fit without refine`)
  }
  const [sourceRows, targetRows] = [held[0].matrix, held[1].matrix]
  const shape = { anchors: ids.length, dx: source.dim, dy: target.dim, sourceRows: sourceRows.rows, targetRows: targetRows.rows }
  const selection = request.selection as FitOptions['selection']
  const ranks = ranksFor(selection?.metric)
  const plan = fitPlan(shape, { method: request.method, scaling: request.scaling, ridge: request.ridge, holdout: request.holdout, folds: request.folds, ranks }, request.refine)

  const run = async (signal: AbortSignal, progress?: ProgressSink): Promise<TranslatorListing> => {
    checkTranslatorSize(source.dim, target.dim, sourceRows.rows, deps.maxTranslatorBytes)
    const engine = cancellable(deps.engine, signal)
    let result
    try {
      result = await fitTranslator(x, y, {
        method: request.method, scaling: request.scaling, ridge: request.ridge, holdout: request.holdout, folds: request.folds, seed: request.seed, selection
      }, engine, signal, progress)
    } catch (err) {
      if (err instanceof FitError) throw unprocessable(err.message)
      throw err
    }
    let map = result.map
    let diagnostics: Record<string, unknown> = { ...result.diagnostics }
    if (request.refine !== undefined) {
      const refined = await refineTranslator(x, y, unpairedX, unpairedY,
        { method: result.method, scaling: result.scaling, ridge: result.ridge ?? 0 }, { map: result.map, rank: result.diagnostics.rank },
        { iterations: request.refine.iterations, k: request.refine.k, holdout: request.holdout, seed: request.seed }, engine, signal, progress)
      const report = refined.report
      map = refined.map
      diagnostics = {
        ...diagnostics,
        // rank and residual describe the stored map, refined or not.
        ...(report.kept === 'refined' ? { rank: refined.rank, fitResidual: await residual(x, y, map, engine) } : {}),
        refinement: report,
        fitMs: result.diagnostics.fitMs + report.ms
      }
    }
    // Confidence support: every source row of the set; margins among every target row.
    progress?.({ phase: 'confidence', done: 0, total: 1 })
    const confidence = await buildConfidence(sourceRows, targetRows, map, engine, { seed: request.seed, signal })
    progress?.({ phase: 'confidence', done: 1, total: 1 })
    const { params, settings } = translatorToStored(map, confidence)
    // Work whose client left or whose time ran out stores nothing.
    signal.throwIfAborted()
    return await storeFitted(store, {
      id: opts.translatorId,
      name: request.name,
      source: request.source,
      target: request.target,
      anchorSet: request.anchorSet,
      method: result.method,
      scaling: result.scaling,
      anchorsUsed: ids.length,
      sourceDim: source.dim,
      targetDim: target.dim,
      diagnostics,
      settings: { ...settings, ...(result.ridge !== undefined ? { ridge: result.ridge } : {}) }
    }, params, { activate: request.activate ?? false })
  }
  return { plan, rows: held[0].ids.length + held[1].ids.length, run }
}
