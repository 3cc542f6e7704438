/**
 * A migration report from a request to its figures, in one place that a route (and a job runner)
 * calls. Two steps, as a fit's (translators/pipeline.ts): `prepareReport` loads the translators
 * and checks the shapes, and returns the work's plan (its estimated memory and time, for the
 * budgets) with `run`, which translates and searches under the caller's cancellation signal.
 * Failures are ProblemErrors (not-found, unprocessable).
 */
import { cancellable } from '../budget/cancel.js'
import { reportPlan, type WorkPlan } from '../budget/work.js'
import type { Engine } from '../engine/types.js'
import { notFound, unprocessable } from '../errors.js'
import { confidenceOf } from '../fit/confidence.js'
import type { Matrix } from '../math/matrix.js'
import type { Store } from '../store/types.js'
import type { LoadedTranslator } from '../translators/cache.js'
import type { ProgressSink } from '../util/progress.js'
import { REPORT_DEPTH, directionFigures, type MigrationReport, type ReportDirection } from './report.js'

export interface ReportRequest {
  /** The translator reported on (its direction is "forward"). */
  translator: string
  /** Held-out items embedded by the translator's source model. */
  vectors: Matrix
  /** The same items embedded by its target model, row for row. */
  targetVectors: Matrix
  /** Reverse direction: undefined when the reverse pair has an active translator, true required, false never. */
  reverse?: boolean
}

export interface ReportDeps {
  store: Pick<Store, 'getActiveTranslatorId'>
  engine: Engine
  translators: { get: (id: string) => Promise<LoadedTranslator | null> }
}

export interface PreparedReport {
  plan: WorkPlan
  run: (signal: AbortSignal, progress?: ProgressSink) => Promise<MigrationReport>
}

interface Leg {
  direction: 'forward' | 'reverse'
  loaded: LoadedTranslator
  queries: Matrix
  native: Matrix
}

/** Steps of one direction, for progress: translation, confidence, two neighbour searches. */
const STEPS_PER_DIRECTION = 4

export async function prepareReport (deps: ReportDeps, request: ReportRequest): Promise<PreparedReport> {
  const forward = await deps.translators.get(request.translator)
  if (forward === null) throw notFound(`translator "${request.translator}" does not exist`)
  const { meta } = forward
  const x = request.vectors
  const y = request.targetVectors
  if (x.cols !== meta.sourceDim) throw unprocessable(`vectors has rows of ${x.cols} values, but translator "${meta.id}" translates from space "${meta.source}" of ${meta.sourceDim} dimensions; send the items as "${meta.source}" embeds them`)
  if (y.cols !== meta.targetDim) throw unprocessable(`targetVectors has rows of ${y.cols} values, but translator "${meta.id}" translates into space "${meta.target}" of ${meta.targetDim} dimensions; send the items as "${meta.target}" embeds them`)
  if (x.rows !== y.rows) throw unprocessable(`vectors has ${x.rows} rows but targetVectors has ${y.rows}; send each item embedded by both models, row for row`)
  if (x.rows < REPORT_DEPTH) throw unprocessable(`a report needs at least ${REPORT_DEPTH} held-out items (recall@10 compares 10 neighbours), got ${x.rows}; send more items (hundreds to thousands give figures worth deciding on)`)

  const legs: Leg[] = [{ direction: 'forward', loaded: forward, queries: x, native: y }]
  let reverse: MigrationReport['reverse']
  if (request.reverse === false) {
    reverse = { included: false, reason: 'not asked for ("reverse": false)' }
  } else {
    const reverseId = await deps.store.getActiveTranslatorId(meta.target, meta.source)
    const loaded = reverseId === null ? null : await deps.translators.get(reverseId)
    if (loaded === null) {
      if (request.reverse === true) {
        throw notFound(`"reverse": true, but no translator from "${meta.target}" to "${meta.source}" is active; fit one with POST /v1/translators { "source": "${meta.target}", "target": "${meta.source}", "anchorSet": "${meta.anchorSet}" }, or drop "reverse"`)
      }
      reverse = { included: false, reason: `no translator from "${meta.target}" to "${meta.source}" is active` }
    } else {
      legs.push({ direction: 'reverse', loaded, queries: y, native: x })
      reverse = { included: true, reason: `the active translator from "${meta.target}" to "${meta.source}"` }
    }
  }

  const plan = reportPlan(x.rows, legs.map(leg => ({
    from: leg.loaded.meta.sourceDim, to: leg.loaded.meta.targetDim, support: leg.loaded.confidence?.support.rows ?? 0
  })))

  const run = async (signal: AbortSignal, progress: ProgressSink = () => {}): Promise<MigrationReport> => {
    const engine = cancellable(deps.engine, signal)
    const total = STEPS_PER_DIRECTION * legs.length
    const directions: ReportDirection[] = []
    for (const [n, leg] of legs.entries()) {
      const base = n * STEPS_PER_DIRECTION
      const step = (done: number): void => progress({ phase: 'report', done: base + done, total })
      const { meta: m, map, confidence: model } = leg.loaded
      // A direction's start is its predecessor's end: reported once.
      if (n === 0) step(0)
      const translated = await engine.translate(leg.queries, map, m.id)
      step(1)
      const confidence = model === null ? null : await confidenceOf(leg.queries, model, engine)
      signal.throwIfAborted()
      step(2)
      const figures = await directionFigures(translated, leg.native, engine, {
        confidence, signal, progress: p => { if (p.done > 0) step(2 + p.done) }
      })
      directions.push({
        direction: leg.direction,
        source: m.source,
        target: m.target,
        translator: { id: m.id, version: m.version, name: m.name, method: m.method, scaling: m.scaling },
        ...figures,
        ...(model === null ? { coverageNote: `translator "${m.id}" was fitted before per-vector confidence existed; fit it again to get the curve` } : {})
      })
    }
    return { count: x.rows, directions, reverse }
  }
  return { plan, run }
}
