/**
 * Procrustes fit speed: 2,000 anchors, 1,024 → 1,024, standard scaling, through fitTranslator
 * (the float64 polar iteration in the engine) next to numpy's SVD Procrustes on the same data in
 * the same run (bench/numpy_fit.py, numpy at its best). Prints figures and ratios; times nothing
 * in CI.
 *
 *   npx tsx bench/fit.ts             both spectra below
 *   RUNS=3 npx tsx bench/fit.ts      fewer timed runs
 *
 * Data: Y = X·Q + noise with Q a random orthogonal matrix and X Gaussian with a per-dimension
 * scale (j+1)^-decay: decay 0 is isotropic; decay 0.5 spreads the anchors' spectrum over 1.5
 * decades, so C = X̃ᵀỸ is ill-conditioned and the polar iteration needs its second phase.
 * The engine's W is also compared with numpy's R on the translated anchors (relative error).
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { createEngine, defaultEngineConfig } from '../src/engine/index.js'
import { fitTranslator } from '../src/fit/index.js'
import { polarFactor } from '../src/fit/polar.js'
import { scaleSide } from '../src/fit/scaling.js'
import type { Matrix } from '../src/math/matrix.js'
import { createRng } from '../src/math/random.js'
import { lastJsonLine, runPython } from './lib/python.js'
import { median } from './lib/stats.js'

const ANCHORS = 2000
const DIM = 1024
const RUNS = Number(process.env.RUNS ?? 5)

function gaussianMatrix (rows: number, cols: number, seed: number, columnScale: (j: number) => number = () => 1): Float64Array {
  const rng = createRng(seed)
  const out = new Float64Array(rows * cols)
  for (let i = 0; i < rows; i++) {
    for (let j = 0; j < cols; j++) {
      out[i * cols + j] = columnScale(j) * Math.sqrt(-2 * Math.log(1 - rng.float())) * Math.cos(2 * Math.PI * rng.float())
    }
  }
  return out
}

/** Gram–Schmidt on a Gaussian matrix: a random orthogonal d x d (row-major). */
function randomOrthogonal (d: number, seed: number): Float64Array {
  const q = gaussianMatrix(d, d, seed)
  const col = new Float64Array(d)
  for (let j = 0; j < d; j++) {
    for (let i = 0; i < d; i++) col[i] = q[i * d + j]
    for (let k = 0; k < j; k++) {
      let dot = 0
      for (let i = 0; i < d; i++) dot += col[i] * q[i * d + k]
      for (let i = 0; i < d; i++) col[i] -= dot * q[i * d + k]
    }
    let norm = 0
    for (let i = 0; i < d; i++) norm += col[i] * col[i]
    norm = Math.sqrt(norm)
    for (let i = 0; i < d; i++) q[i * d + j] = col[i] / norm
  }
  return q
}

function anchors (decay: number): { x: Matrix, y: Matrix } {
  const scale = (j: number): number => (j + 1) ** -decay
  const x = gaussianMatrix(ANCHORS, DIM, 1, scale)
  const noise = gaussianMatrix(ANCHORS, DIM, 2, j => 0.3 * scale(j))
  const q = randomOrthogonal(DIM, 3)
  const y = new Float32Array(ANCHORS * DIM)
  for (let i = 0; i < ANCHORS; i++) {
    const row = new Float64Array(DIM)
    for (let k = 0; k < DIM; k++) {
      const v = x[i * DIM + k]
      for (let j = 0; j < DIM; j++) row[j] += v * q[k * DIM + j]
    }
    for (let j = 0; j < DIM; j++) y[i * DIM + j] = row[j] + noise[i * DIM + j] + 0.5
  }
  return { x: { rows: ANCHORS, cols: DIM, data: Float32Array.from(x, v => v + 1) }, y: { rows: ANCHORS, cols: DIM, data: y } }
}


async function numpy (x: Matrix, y: Matrix): Promise<{ medianMs: number, minMs: number, svdMedianMs: number, numpy: string, blas: string, r: Float64Array }> {
  const dir = mkdtempSync(join(tmpdir(), 'bench-fit-'))
  try {
    writeFileSync(join(dir, 'x.f32'), new Uint8Array(x.data.buffer))
    writeFileSync(join(dir, 'y.f32'), new Uint8Array(y.data.buffer))
    const script = fileURLToPath(new URL('./numpy_fit.py', import.meta.url))
    const output = await runPython(script, [join(dir, 'x.f32'), join(dir, 'y.f32'),
      String(x.rows), String(x.cols), String(y.cols), String(RUNS), join(dir, 'r.f64')])
    const bytes = readFileSync(join(dir, 'r.f64'))
    const r = new Float64Array(x.cols * y.cols)
    new Uint8Array(r.buffer).set(bytes)
    return { ...lastJsonLine<{ medianMs: number, minMs: number, svdMedianMs: number, numpy: string, blas: string }>(output), r }
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}

/** ‖X̃(W − R)‖_F / ‖X̃R‖_F on the standard-scaled anchors, in float64. */
function agreement (x: Matrix, w: Float32Array, r: Float64Array): number {
  const { rows, cols } = x
  const mean = new Float64Array(cols)
  const std = new Float64Array(cols)
  for (let i = 0; i < rows; i++) for (let j = 0; j < cols; j++) mean[j] += x.data[i * cols + j] / rows
  for (let i = 0; i < rows; i++) for (let j = 0; j < cols; j++) std[j] += (x.data[i * cols + j] - mean[j]) ** 2 / (rows - 1)
  let diff = 0
  let norm = 0
  const row = new Float64Array(cols)
  for (let i = 0; i < rows; i += 10) {
    for (let j = 0; j < cols; j++) row[j] = (x.data[i * cols + j] - mean[j]) / Math.sqrt(std[j])
    for (let j = 0; j < cols; j++) {
      let a = 0
      let b = 0
      for (let k = 0; k < cols; k++) { a += row[k] * w[k * cols + j]; b += row[k] * r[k * cols + j] }
      diff += (a - b) ** 2
      norm += b * b
    }
  }
  return Math.sqrt(diff / norm)
}

async function main (): Promise<void> {
  const engine = await createEngine(defaultEngineConfig())
  const info = engine.info()
  console.log(`procrustes fit, ${ANCHORS.toLocaleString('en-US')} anchors, ${DIM} → ${DIM}, standard scaling; median of ${RUNS} warm runs`)
  console.log(`engine: ${info.workers} worker(s) x ${info.threads} threads, ${info.executionProvider}`)
  try {
    for (const decay of [0, 0.5]) {
      const { x, y } = anchors(decay)
      const np = await numpy(x, y)
      const opts = { method: 'procrustes', scaling: 'standard', holdout: 0, folds: 5, seed: 0 } as const
      let result = await fitTranslator(x, y, opts, engine)
      const times: number[] = []
      for (let i = 0; i < RUNS; i++) {
        const t0 = performance.now()
        result = await fitTranslator(x, y, opts, engine)
        times.push(performance.now() - t0)
      }
      const ms = median(times)
      // The polar factor alone, next to numpy's svd + U·Vᵀ alone.
      const c = await engine.matmul64(scaleSide(x, undefined, 'standard', false).rows, scaleSide(y, undefined, 'standard', false).rows, { transposeA: true })
      const polarTimes: number[] = []
      let steps = 0
      for (let i = 0; i < RUNS; i++) {
        const t0 = performance.now()
        steps = (await polarFactor(engine, c)).steps
        polarTimes.push(performance.now() - t0)
      }
      console.log(`\nspectrum decay ${decay}: rank ${result.diagnostics.rank}, ${steps} polar steps, fit residual ${result.diagnostics.fitResidual.toFixed(4)}`)
      console.log(`  engine fitTranslator          ${ms.toFixed(0).padStart(6)} ms  (min ${Math.min(...times).toFixed(0)})`)
      console.log(`  numpy scale + svd Procrustes  ${np.medianMs.toFixed(0).padStart(6)} ms  (min ${np.minMs.toFixed(0)}; numpy ${np.numpy} ${np.blas})`)
      console.log(`  ratio engine / numpy          ${(ms / np.medianMs).toFixed(2).padStart(6)}x   (goal: ≤ 2x)`)
      console.log(`  polar factor alone ${median(polarTimes).toFixed(0)} ms vs numpy svd + U·Vᵀ alone ${np.svdMedianMs.toFixed(0)} ms`)
      console.log(`  agreement with numpy's R on the scaled anchors: ${agreement(x, result.map.weight.data, np.r).toExponential(2)} relative`)
    }
  } finally {
    await engine.close()
  }
}

await main()
