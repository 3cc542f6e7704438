/**
 * Translate throughput: 4,096 x 768 → 768 through engine.translate (the translator graph, the
 * /onnx bytes) next to ORT's own Gemm run bare in this process (one session, one Gemm node, the
 * same session options, no worker) and numpy's float32 `X @ R` on the same data in the same run
 * (bench/numpy_translate.py, numpy at its best). Prints rows/s and ratios; times nothing in CI.
 *
 *   npx tsx bench/translate.ts
 *
 * The map is a standard-scaled Procrustes-shaped LinearMap (mean, scale, 768 x 768 weight, target
 * scale and mean), so the engine row does the whole translation while the first numpy row is the
 * bare product; the second numpy row computes the same standard-scaled map. The bare-ORT row is
 * the limit the engine can reach on ORT: the engine against it is the cost of everything around
 * the product (the hand-off to the worker, the mean subtraction, the output's memory).
 * Engine, inline engine and bare ORT run in alternating rounds, so drift of a shared machine
 * hits them alike.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import ort from 'onnxruntime-node'
import { createEngine, defaultEngineConfig } from '../src/engine/index.js'
import { encodeModel } from '../src/engine/onnx.js'
import { GraphBuilder } from '../src/engine/graph-builder.js'
import { sessionOptions } from '../src/engine/runtime.js'
import type { LinearMap } from '../src/translators/map.js'
import type { Matrix } from '../src/math/matrix.js'
import { createRng } from '../src/math/random.js'
import { lastJsonLine, runPython } from './lib/python.js'
import { median } from './lib/stats.js'

const ROWS = 4096
const DIM = 768
const RUNS = Number(process.env.RUNS ?? 15)
const SMALL_ROWS = 256

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
  // The same weight with no mean and no scales: the translator graph is then one Gemm, so against
  // the bare Gemm it shows the hand-off alone, and against the scaled map the mean's Sub node.
  const plain: LinearMap = { ...map, sourceMean: new Float32Array(DIM), sourceScale: new Float32Array(DIM).fill(1), targetScale: new Float32Array(DIM).fill(1), targetMean: new Float32Array(DIM) }
  const config = defaultEngineConfig()
  const engine = await createEngine(config)
  const inline = await createEngine({ ...config, workers: 0 })
  const bare = await bareGemm(weight, config.intraOpThreads)
  try {
    const sides: Side[] = [
      { name: `engine.translate (${config.workers} worker(s))`, run: async () => await engine.translate(x, map, 'bench'), times: [] },
      { name: 'engine.translate inline', run: async () => await inline.translate(x, map, 'bench'), times: [] },
      { name: 'engine.translate, plain map (1 Gemm)', run: async () => await engine.translate(x, plain, 'plain'), times: [] },
      { name: 'ORT Gemm bare (same session opts)', run: async () => await bare.run(x), times: [] }
    ]
    for (const side of sides) for (let i = 0; i < 3; i++) await side.run()
    // numpy runs between two series of alternating rounds (a resident Python would be needed to
    // interleave it too); each figure is the median over both series.
    await rounds(sides, RUNS)
    const np = await numpy(x, weight)
    await rounds(sides, RUNS)
    const rate = (t: number): string => `${Math.round(ROWS / t * 1000).toLocaleString('en-US').padStart(9)} rows/s`
    console.log(`translate ${ROWS.toLocaleString('en-US')} x ${DIM} → ${DIM}; medians of warm runs; engine ${config.workers} worker(s) x ${config.intraOpThreads} threads, rowBudget ${config.rowBudget}`)
    for (const side of sides) {
      const ms = median(side.times)
      console.log(`  ${side.name.padEnd(36)} ${ms.toFixed(1).padStart(7)} ms ${rate(ms)}  (min ${Math.min(...side.times).toFixed(1)} ms)`)
    }
    console.log(`  ${'numpy X @ R (float32)'.padEnd(36)} ${np.matmulMedianMs.toFixed(1).padStart(7)} ms ${rate(np.matmulMedianMs)}  (min ${np.matmulMinMs.toFixed(1)} ms; numpy ${np.numpy} ${np.blas})`)
    console.log(`  ${'numpy standard-scaled map'.padEnd(36)} ${np.mapMedianMs.toFixed(1).padStart(7)} ms ${rate(np.mapMedianMs)}`)
    const [worker, inlineMs, plainMs, bareMs] = sides.map(side => median(side.times))
    const verdict = (ratio: number, goal: number): string => ratio >= goal ? 'met' : 'not met'
    console.log(`  ratio engine / ORT Gemm bare          ${(bareMs / worker).toFixed(2).padStart(7)}x throughput (goal ≥ 0.95: ${verdict(bareMs / worker, 0.95)}; inline ${(bareMs / inlineMs).toFixed(2)}x)`)
    console.log(`  ratio engine / numpy X @ R            ${(np.matmulMedianMs / worker).toFixed(2).padStart(7)}x throughput (goal ≥ 0.8: ${verdict(np.matmulMedianMs / worker, 0.8)}; ORT Gemm bare ${(np.matmulMedianMs / bareMs).toFixed(2)}x)`)
    console.log(`  where the engine's time goes: mean subtraction (Sub node) ${(worker - plainMs).toFixed(1)} ms, hand-off to the worker and back ${(plainMs - bareMs).toFixed(1)} ms (medians' differences)`)

    // Calls of the bulk row's size: the per-call cost of the hand-off, next to a product of ~1 ms.
    const small: Matrix = { rows: SMALL_ROWS, cols: DIM, data: x.data.slice(0, SMALL_ROWS * DIM) }
    const smallSides: Side[] = [
      { name: `engine.translate (${config.workers} worker(s))`, run: async () => await engine.translate(small, plain, 'plain'), times: [] },
      { name: 'engine.translate inline', run: async () => await inline.translate(small, plain, 'plain'), times: [] },
      { name: 'ORT Gemm bare (same session opts)', run: async () => await bare.run(small), times: [] }
    ]
    for (const side of smallSides) for (let i = 0; i < 10; i++) await side.run()
    await rounds(smallSides, RUNS * 8)
    console.log(`\ntranslate ${SMALL_ROWS} x ${DIM} → ${DIM}, plain map; medians of ${RUNS * 8} alternating rounds`)
    for (const side of smallSides) {
      const ms = median(side.times)
      console.log(`  ${side.name.padEnd(36)} ${ms.toFixed(2).padStart(7)} ms ${Math.round(SMALL_ROWS / ms * 1000).toLocaleString('en-US').padStart(9)} rows/s  (min ${Math.min(...side.times).toFixed(2)} ms)`)
    }
    const [smallWorker, , smallBare] = smallSides.map(side => median(side.times))
    console.log(`  ratio engine / ORT Gemm bare          ${(smallBare / smallWorker).toFixed(2).padStart(7)}x throughput`)
    // For bench/limits.ts, which reads the last JSON line.
    console.log(JSON.stringify({ engineMs: worker, inlineMs, bareMs, numpyMs: np.matmulMedianMs, engineVsBare: bareMs / worker, engineVsNumpy: np.matmulMedianMs / worker }))
  } finally {
    await bare.release()
    await inline.close()
    await engine.close()
  }
}

interface Side { name: string, run: () => Promise<unknown>, times: number[] }

/** `count` rounds in which every side runs once, in turn: drift of a shared machine hits them alike. */
async function rounds (sides: Side[], count: number): Promise<void> {
  for (let i = 0; i < count; i++) {
    for (const side of sides) {
      const t0 = performance.now()
      await side.run()
      side.times.push(performance.now() - t0)
    }
  }
}

/** One Gemm node (x · weight + 0) in a session of its own, on this thread: ORT's product, bare. */
async function bareGemm (weight: Matrix, intraOpThreads: number): Promise<{ run: (x: Matrix) => Promise<unknown>, release: () => Promise<void> }> {
  const g = new GraphBuilder()
  g.named('Gemm', ['x', g.initializer('weight', [weight.rows, weight.cols], weight.data), g.initializer('bias', [weight.cols], new Float32Array(weight.cols))], 'y')
  const graph = g.build('gemm', [{ name: 'x', type: 'float32', shape: ['N', weight.rows] }], [{ name: 'y', type: 'float32', shape: ['N', weight.cols] }])
  const session = await ort.InferenceSession.create(encodeModel({ graph }), sessionOptions('cpu', intraOpThreads))
  return {
    run: async x => await session.run({ x: new ort.Tensor('float32', x.data, [x.rows, x.cols]) }),
    release: async () => { await session.release() }
  }
}

await main()
