/**
 * Bulk translation: 1,000,000 x 768 → 768 through the CLI (bin/translate-npy.ts → the service on
 * loopback, binary chunks), next to numpy's X @ R on the same data in-process
 * (bench/numpy_bulk.py, numpy at its best). numpy runs before and after the CLI, so both sides
 * see the same machine. Goal (issue 5): the CLI at least 50 % of numpy's rows/s.
 *
 *   npx tsx bench/bulk.ts                       1,000,000 rows (a 3 GB input and output in the temp dir)
 *   npx tsx bench/bulk.ts --rows 200000 --chunk-rows 4096 --concurrency 4
 *
 * The files are written to a fresh folder under the OS temp dir and removed at the end.
 */
import { spawn } from 'node:child_process'
import { open, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { npyHeader } from '../src/codecs/npy.js'
import { fmt } from './lib/load.js'
import { benchMap } from './lib/maps.js'
import { lastJsonLine, runPython } from './lib/python.js'
import { startBenchServer } from './lib/server.js'

const { values: args } = parseArgs({
  options: {
    rows: { type: 'string', default: '1000000' },
    'chunk-rows': { type: 'string', default: '4096' },
    concurrency: { type: 'string', default: '4' }
  }
})
const ROWS = Number(args.rows)
const DIM = 768
const root = fileURLToPath(new URL('..', import.meta.url))

/** Writes ROWS x DIM float32 values to a .npy, chunk by chunk (a fast LCG: data, not statistics). */
async function writeInput (path: string): Promise<void> {
  const file = await open(path, 'w')
  try {
    await file.write(npyHeader(ROWS, DIM))
    const chunkRows = 8192
    const chunk = new Float32Array(chunkRows * DIM)
    let s = 12345
    for (let start = 0; start < ROWS; start += chunkRows) {
      const n = Math.min(chunkRows, ROWS - start) * DIM
      for (let i = 0; i < n; i++) {
        s = (Math.imul(s, 1664525) + 1013904223) >>> 0
        chunk[i] = s / 2 ** 31 - 1
      }
      await file.write(new Uint8Array(chunk.buffer, 0, n * 4))
    }
  } finally {
    await file.close()
  }
}

interface NumpyBulk { rows: number, loadS: number, matmulS: number, chunkedS: number, numpy: string, maxAbsDiff?: number, shapeOk?: boolean }

async function cli (url: string, input: string, output: string): Promise<{ seconds: number, rowsPerSecond: number }> {
  const started = performance.now()
  const out = await new Promise<string>((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'bin/translate-npy.ts', '--quiet', '--url', url, '--source', 'a', '--target', 'b',
      '--chunk-rows', String(args['chunk-rows']), '--concurrency', String(args.concurrency), input, output], { cwd: root, stdio: ['ignore', 'pipe', 'inherit'] })
    let text = ''
    child.stdout.on('data', (d: Buffer) => { text += d.toString() })
    child.on('error', reject)
    child.on('close', code => { code === 0 ? resolve(text) : reject(new Error(`translate-npy exited with ${String(code)}`)) })
  })
  const summary = lastJsonLine<{ rowsPerSecond: number }>(out)
  return { seconds: (performance.now() - started) / 1000, rowsPerSecond: summary.rowsPerSecond }
}

const dir = await mkdtemp(join(tmpdir(), 'bench-bulk-'))
const server = await startBenchServer()
try {
  const input = join(dir, 'x.npy')
  const output = join(dir, 'y.npy')
  const rPath = join(dir, 'r.f32')
  const t0 = performance.now()
  await writeInput(input)
  const w = benchMap(1000).weight.data
  await writeFile(rPath, new Uint8Array(w.buffer, w.byteOffset, w.byteLength))
  console.error(`wrote ${fmt(ROWS)} x ${DIM} float32 (${(ROWS * DIM * 4 / 1e9).toFixed(2)} GB) in ${((performance.now() - t0) / 1000).toFixed(1)} s`)
  const script = fileURLToPath(new URL('./numpy_bulk.py', import.meta.url))
  const before = lastJsonLine<NumpyBulk>(await runPython(script, [input, rPath]))
  const run = await cli(server.url, input, output)
  const after = lastJsonLine<NumpyBulk>(await runPython(script, [input, rPath, output]))

  const rate = (s: number): string => `${fmt(ROWS / s).padStart(11)} rows/s`
  const matmul = Math.min(before.matmulS, after.matmulS)
  console.log(`bulk translate ${fmt(ROWS)} x ${DIM} → ${DIM} (float32), one run; service: default engine config, memory store; CLI chunk ${String(args['chunk-rows'])} rows x ${String(args.concurrency)} in flight`)
  console.log(`  CLI through the service (file to file)       ${run.seconds.toFixed(1).padStart(6)} s ${rate(run.seconds)}  (process start included; CLI's own figure ${fmt(run.rowsPerSecond)} rows/s)`)
  console.log(`  numpy X @ R in memory, before the CLI       ${before.matmulS.toFixed(1).padStart(6)} s ${rate(before.matmulS)}  (np.load of the file ${before.loadS.toFixed(1)} s not counted; numpy ${before.numpy})`)
  console.log(`  numpy X @ R in memory, after the CLI        ${after.matmulS.toFixed(1).padStart(6)} s ${rate(after.matmulS)}`)
  console.log(`  numpy chunked from a memory map, before     ${before.chunkedS.toFixed(1).padStart(6)} s ${rate(before.chunkedS)}`)
  console.log(`  numpy chunked from a memory map, after      ${after.chunkedS.toFixed(1).padStart(6)} s ${rate(after.chunkedS)}`)
  console.log(`  output check: shape ${after.shapeOk === true ? 'ok' : 'WRONG'}, max |CLI − numpy| over 4,096 sampled rows ${after.maxAbsDiff?.toExponential(2)}`)
  const ratio = matmul / run.seconds
  console.log(`  goal, CLI ≥ 50 % of numpy's in-memory rows/s (the faster numpy run): ${(ratio * 100).toFixed(0)} % ${ratio >= 0.5 ? 'met' : 'NOT met'}`)
} finally {
  await server.stop()
  await rm(dir, { recursive: true, force: true })
}
