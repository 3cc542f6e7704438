/**
 * Against a Python service of the kind a team would otherwise write: Flask + numpy taking JSON
 * arrays (bench/flask_translate.py). Same translator (the same 768 x 768 matrix), same data,
 * same load (the same node:http keep-alive closed loop, same connections and time: autocannon's
 * client stalls against Flask's server, see bench/lib/load.ts), for batches of 1, 32 and 256
 * rows: Flask in JSON, ours in JSON and in binary (octet-stream in and out). Each batch size's
 * three rows are loaded in alternating slices. Goal (issue 5): ours ahead in every row.
 *
 * Flask runs with OPENBLAS_NUM_THREADS=1 (--flask-blas-threads): with OpenBLAS's default two
 * threads, 16 request threads calling numpy at once collapse to about 10 req/s (the BLAS threads
 * spin against each other), against about 500 with one; one is Flask at its best here.
 *
 *   npx tsx bench/vs-flask.ts
 *   npx tsx bench/vs-flask.ts --seconds 8 --connections 16 --slices 2
 *
 * Skips with a message (exit 0) when python3 with Flask and numpy is missing.
 */
import { spawn, spawnSync } from 'node:child_process'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { fmt, runHttpLoad, settle, summarize, type LoadSample, type LoadSpec } from './lib/load.js'
import { benchMap, randomArray } from './lib/maps.js'
import { startBenchServer } from './lib/server.js'
import { freePort } from './lib/net.js'

const { values: args } = parseArgs({
  options: {
    seconds: { type: 'string', default: '8' },
    connections: { type: 'string', default: '16' },
    slices: { type: 'string', default: '2' },
    'flask-blas-threads': { type: 'string', default: '1' }
  }
})
const SECONDS = Number(args.seconds)
const CONNECTIONS = Number(args.connections)
const SLICES = Number(args.slices)
const DIM = 768
const BATCHES = [1, 32, 256]

const check = spawnSync('python3', ['-c', 'import flask, numpy'], { encoding: 'utf8' })
if (check.status !== 0) {
  console.log(`skipped: python3 with Flask and numpy is needed (${(check.stderr ?? check.error?.message ?? '').trim().split('\n').pop() ?? 'python3 not found'})`)
  process.exit(0)
}


const dir = await mkdtemp(join(tmpdir(), 'bench-flask-'))
const rPath = join(dir, 'r.f32')
const w = benchMap(1000).weight.data
await writeFile(rPath, new Uint8Array(w.buffer, w.byteOffset, w.byteLength))
const port = await freePort()
const env = { ...process.env }
delete env.OPENBLAS_CORETYPE
delete env.OPENBLAS_L2_SIZE
env.OPENBLAS_NUM_THREADS = String(args['flask-blas-threads'])
const flask = spawn('python3', [fileURLToPath(new URL('./flask_translate.py', import.meta.url)), rPath, String(DIM), String(port)], { env, stdio: ['ignore', 'pipe', 'inherit'] })
const killFlask = (): void => { flask.kill('SIGKILL') }
process.once('exit', killFlask)
await new Promise<void>((resolve, reject) => {
  flask.stdout.on('data', (d: Buffer) => { if (d.toString().includes('ready')) resolve() })
  flask.once('exit', code => reject(new Error(`flask exited with ${String(code)}`)))
})
const flaskUrl = `http://127.0.0.1:${port}`
// Flask prints "ready" before its socket listens: wait for it to answer.
for (let i = 0; i < 100; i++) {
  try {
    await fetch(`${flaskUrl}/v1/translate`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ vectors: [Array.from(randomArray(DIM, 1))] }) })
    break
  } catch {
    await new Promise(resolve => setTimeout(resolve, 100))
  }
}
const ours = await startBenchServer()

try {
  console.log(`translate ${DIM} → ${DIM}, same matrix and data; ${CONNECTIONS} connections, ${SECONDS} s per row in ${SLICES} interleaved slices; one node:http keep-alive closed loop in this process`)
  console.log(`  Flask: ${spawnSync('python3', ['-c', 'import flask, numpy; from importlib.metadata import version; print("Flask", version("flask"), "numpy", numpy.__version__)'], { encoding: 'utf8' }).stdout.trim()}, its threaded server, OPENBLAS_NUM_THREADS=${String(args['flask-blas-threads'])}; ours: one process, default engine config`)
  console.log(`  ${'batch'.padStart(5)}  ${'service'.padEnd(22)} ${'req/s'.padStart(8)} ${'rows/s'.padStart(10)} ${'p50 ms'.padStart(8)} ${'p99 ms'.padStart(8)} ${'failed'.padStart(6)}  vs Flask JSON`)
  const verdicts: string[] = []
  for (const batch of BATCHES) {
    const x = randomArray(batch * DIM, 7 + batch)
    const rows = Array.from({ length: batch }, (_, i) => Array.from(x.subarray(i * DIM, (i + 1) * DIM)))
    const specs: Array<{ name: string, spec: Omit<LoadSpec, 'seconds' | 'connections'>, samples: LoadSample[] }> = [
      { name: 'Flask + numpy, JSON', spec: { url: `${flaskUrl}/v1/translate`, headers: { 'content-type': 'application/json' }, body: JSON.stringify({ vectors: rows }) }, samples: [] },
      { name: 'latentbridge, JSON', spec: { url: `${ours.url}/v1/translate`, headers: { 'content-type': 'application/json' }, body: JSON.stringify({ source: 'a', target: 'b', vectors: rows }) }, samples: [] },
      { name: 'latentbridge, binary', spec: { url: `${ours.url}/v1/translate?source=a&target=b`, headers: { 'content-type': 'application/octet-stream', accept: 'application/octet-stream' }, body: Buffer.from(x.buffer) }, samples: [] }
    ]
    // The two services agree on the answer (different BLAS: last bits may differ).
    const a = (await (await fetch(specs[0].spec.url, { method: 'POST', headers: specs[0].spec.headers, body: specs[0].spec.body as string })).json()) as { vectors: number[][] }
    const b = (await (await fetch(specs[1].spec.url, { method: 'POST', headers: specs[1].spec.headers, body: specs[1].spec.body as string })).json()) as { vectors: number[][] }
    let diff = 0
    a.vectors.forEach((row, i) => row.forEach((v, j) => { diff = Math.max(diff, Math.abs(v - b.vectors[i][j])) }))
    const pids = [flask.pid as number, ours.pid]
    for (const s of specs) {
      await runHttpLoad({ ...s.spec, connections: CONNECTIONS, seconds: 1 })
      await settle(pids)
    }
    for (let slice = 0; slice < SLICES; slice++) {
      for (const s of specs) {
        s.samples.push(await runHttpLoad({ ...s.spec, connections: CONNECTIONS, seconds: SECONDS / SLICES }))
        // A server still working through requests queued in this slice would slow the next one.
        await settle(pids)
      }
    }
    const flaskSummary = summarize(specs[0].samples)
    for (const s of specs) {
      const r = summarize(s.samples)
      const vs = s === specs[0] ? '' : `${(r.reqPerS / flaskSummary.reqPerS).toFixed(2)}x`
      console.log(`  ${String(batch).padStart(5)}  ${s.name.padEnd(22)} ${fmt(r.reqPerS).padStart(8)} ${fmt(r.reqPerS * batch).padStart(10)} ${r.p50.toFixed(2).padStart(8)} ${r.p99.toFixed(2).padStart(8)} ${String(r.failed).padStart(6)}  ${vs}`)
      if (s !== specs[0]) verdicts.push(`batch ${batch} ${s.name.split(', ')[1]}: ${r.reqPerS > flaskSummary.reqPerS ? 'ahead' : 'NOT ahead'}`)
    }
    console.log(`         (answers agree: max |Flask − ours| ${diff.toExponential(2)})`)
  }
  console.log(`  goal, ahead in every row: ${verdicts.every(v => v.endsWith(': ahead')) ? 'met' : 'NOT met'} (${verdicts.join('; ')})`)
} finally {
  await settle([flask.pid as number, ours.pid])
  await ours.stop()
  process.off('exit', killFlask)
  flask.kill('SIGTERM')
  await rm(dir, { recursive: true, force: true })
}
