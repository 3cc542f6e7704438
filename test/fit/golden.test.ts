/**
 * Every method x scaling against float64 numpy references (scripts/golden/fit.py) on a
 * hand-checkable case, seeded random cases (300 anchors, 40 → 30 and 30 → 40), a rank-deficient
 * case (20 anchors in 40 dims) and duplicated anchors (15 distinct items four times, 30 dims).
 *
 * Measure: the largest relative error ‖ŷ_i − y_i‖/‖y_i‖ over translated held-out rows, with the
 * fitted LinearMap evaluated in float64 (applyMap64; its float32 parameters add ~1e-7).
 * Tolerances (all 1e-6, the Procrustes figure, met by every method on these data):
 *   procrustes  float64 polar iteration, ~1e-13 before the float32 parameters;
 *   linear, affine, ridge, inverse-relative: Cholesky on the normal equations, whose error grows
 *               as κ(X̃)²·1e-16 — about 1e-13 on these well-conditioned anchors (κ < 30); on
 *               ill-conditioned real data expect κ²·1e-16 instead.
 * The engine's float32 graph (engine.translate) is held to 2e-6 against the same references
 * (measured ≤ 3e-7: float32 products of 30–40 terms).
 */
import t from 'tap'
import { createEngine } from '../../src/engine/index.js'
import { fitTranslator } from '../../src/fit/index.js'
import { applyMap64 } from '../../src/translators/map.js'
import { golden, load, maxRowError } from './fixtures/golden.js'

const TOLERANCE = 1e-6
const GRAPH_TOLERANCE = 2e-6

const engine = await createEngine({ executionProviders: ['cpu'], strict: true, intraOpThreads: 1, workers: 1, rowBudget: 4096, sessionCacheSize: 8 })
t.teardown(async () => { await engine.close() })

const data = Object.fromEntries(Object.entries(golden.datasets).map(([name, d]) => [name, { x: load(d.x), y: load(d.y), heldOut: load(d.heldOut) }]))

for (const dataset of Object.keys(golden.datasets)) {
  t.test(dataset, async t => {
    const { x, y, heldOut } = data[dataset]
    for (const c of golden.cases.filter(c => c.dataset === dataset)) {
      const result = await fitTranslator(x, y, { method: c.method, scaling: c.scaling, ridge: c.ridge, holdout: 0, folds: 5, seed: 0 }, engine)
      const expected = load(c.output)
      const error = maxRowError(applyMap64(heldOut, result.map), expected)
      t.ok(error <= TOLERANCE, `${c.name}: held-out rows, relative error ${error.toExponential(2)} ≤ ${TOLERANCE}`)
      const anchors = load(c.anchorsOutput)
      const anchorError = maxRowError(applyMap64({ rows: anchors.rows, cols: x.cols, data: x.data.subarray(0, anchors.rows * x.cols) }, result.map), anchors)
      t.ok(anchorError <= TOLERANCE, `${c.name}: anchor rows, relative error ${anchorError.toExponential(2)}`)
      t.equal(result.diagnostics.rank, c.rank, `${c.name}: rank ${c.rank}`)
      const graph = await engine.translate(heldOut, result.map, `golden:${c.name}`)
      const graphError = maxRowError(graph.data, expected)
      t.ok(graphError <= GRAPH_TOLERANCE, `${c.name}: engine.translate, relative error ${graphError.toExponential(2)} ≤ ${GRAPH_TOLERANCE}`)
      await engine.forget(`golden:${c.name}`)
    }
  })
}
