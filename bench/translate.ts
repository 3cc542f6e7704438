/**
 * Translate throughput: 4,096 x 768 → 768 through engine.translate (the translator graph, the
 * /onnx bytes) next to numpy's float32 `X @ R` on the same data in the same run
 * (bench/numpy_translate.py, numpy at its best). Prints rows/s and ratios; times nothing in CI.
 *
 *   npx tsx bench/translate.ts
 *
 * The map is a standard-scaled Procrustes-shaped LinearMap (mean, scale, 768 x 768 weight, target
 * scale and mean), so the engine row does the whole translation while the first numpy row is the
 * bare product; the second numpy row computes the same standard-scaled map.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { createEngine, defaultEngineConfig } from '../src/engine/index.js'
import type { LinearMap } from '../src/translators/map.js'
import type { Matrix } from '../src/math/matrix.js'
import { createRng } from '../src/math/random.js'
import { lastJsonLine, runPython } from './lib/python.js'
import { median } from './lib/stats.js'

const ROWS = 4096
const DIM = 768
const RUNS = Number(process.env.RUNS ?? 15)

function randomArray (n: number, seed: number, scale = 1, offset = 0): Float32Array {
  const rng = createRng(seed)
  return Float32Array.from({ length: n }, () => offset + scale * (rng.float() * 2 - 1))
}


async function numpy (x: Matrix, r: Matrix): Promise<{ matmulMedianMs: number, matmulMinMs: number, mapMedianMs: number, numpy: string, blas: string }> {
  const dir = mkdtempSync(join(tmpdir(), 'bench-translate-'))
  try {
    writeFileSync(join(dir, 'x.f32'), new Uint8Array(x.data.buffer))
    writeFileSync(join(dir, 'r.f32'), new Uint8Array(r.data.buffer))
    const script = fileURLToPath(new URL('./numpy_translate.py', import.meta.url))
    const output = await runPython(script, [join(dir, 'x.f32'), join(dir, 'r.f32'),
      String(x.rows), String(x.cols), String(r.cols), String(RUNS)])
    return lastJsonLine<{ matmulMedianMs: number, matmulMinMs: number, mapMedianMs: number, numpy: string, blas: string }>(output)
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}

async function main (): Promise<void> {
  const x: Matrix = { rows: ROWS, cols: DIM, data: randomArray(ROWS * DIM, 1) }
  const weight: Matrix = { rows: DIM, cols: DIM, data: randomArray(DIM * DIM, 2, 1 / Math.sqrt(DIM)) }
  const map: LinearMap = {
    sourceDim: DIM,
    targetDim: DIM,
    sourceMean: randomArray(DIM, 3),
    sourceScale: randomArray(DIM, 4, 0.5, 1.5),
    normalizeInput: false,
    weight,
    bias: new Float32Array(DIM),
    normalizeOutput: false,
    outputNorm: 1,
    targetScale: randomArray(DIM, 5, 0.5, 1.5),
    targetMean: randomArray(DIM, 6)
  }
  const config = defaultEngineConfig()
  const engine = await createEngine(config)
  try {
    for (let i = 0; i < 3; i++) await engine.translate(x, map, 'bench')
    // Alternate engine and numpy rounds would need a resident Python; instead numpy runs between
    // two engine series and the engine figure is the median of both.
    const times: number[] = []
    for (let i = 0; i < RUNS; i++) {
      const t0 = performance.now()
      await engine.translate(x, map, 'bench')
      times.push(performance.now() - t0)
    }
    const np = await numpy(x, weight)
    for (let i = 0; i < RUNS; i++) {
      const t0 = performance.now()
      await engine.translate(x, map, 'bench')
      times.push(performance.now() - t0)
    }
    const ms = median(times)
    const rate = (t: number): string => `${Math.round(ROWS / t * 1000).toLocaleString('en-US').padStart(9)} rows/s`
    console.log(`translate ${ROWS.toLocaleString('en-US')} x ${DIM} → ${DIM}; medians of warm runs; engine ${config.workers} worker(s) x ${config.intraOpThreads} threads, rowBudget ${config.rowBudget}`)
    console.log(`  engine.translate (whole map)     ${ms.toFixed(1).padStart(7)} ms ${rate(ms)}  (min ${Math.min(...times).toFixed(1)} ms)`)
    console.log(`  numpy X @ R (float32)            ${np.matmulMedianMs.toFixed(1).padStart(7)} ms ${rate(np.matmulMedianMs)}  (min ${np.matmulMinMs.toFixed(1)} ms; numpy ${np.numpy} ${np.blas})`)
    console.log(`  numpy standard-scaled map        ${np.mapMedianMs.toFixed(1).padStart(7)} ms ${rate(np.mapMedianMs)}`)
    console.log(`  ratio engine / numpy X @ R       ${(np.matmulMedianMs / ms).toFixed(2).padStart(7)}x throughput (goal: ≥ 1)`)
  } finally {
    await engine.close()
  }
}

await main()
