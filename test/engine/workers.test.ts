/**
 * The worker pool: the event loop stays responsive while a large batch computes, the worker
 * entry loads from the TypeScript sources (here, under tap) and from compiled JavaScript (as in
 * dist/), and a launcher that cannot start a worker is skipped.
 */
import t from 'tap'
import { spawn } from 'node:child_process'
import { mkdtempSync, mkdirSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { Worker } from 'node:worker_threads'
import ts from 'typescript'
import { createEngine } from '../../src/engine/index.js'
import { defaultLaunchers } from '../../src/engine/pool.js'
import { maxScaledError, randomMatrix, relativeReference, rng } from './fixtures/reference.js'

const root = fileURLToPath(new URL('../../', import.meta.url))

t.test('the event loop stays responsive while a large batch computes in the workers', async t => {
  const engine = await createEngine({ executionProviders: ['cpu'], strict: true, intraOpThreads: 1, workers: 2, rowBudget: 1024, sessionCacheSize: 4 })
  t.teardown(async () => { await engine.close() })
  const random = rng(21)
  // l1 is N·k·d work: 3,000 x 256 against 500 anchors takes of the order of a second here, in
  // ~90 chunks that each pass through the main thread.
  const x = randomMatrix(3000, 256, random)
  const a = randomMatrix(500, 256, random)
  const opts = { projections: ['l1' as const], center: false, normalize: 'none' as const }
  await engine.relative(randomMatrix(4, 256, random), a, opts) // warm: sessions built

  const ticks: number[] = []
  let last = performance.now()
  let worstDelay = 0
  const timer = setInterval(() => {
    const now = performance.now()
    worstDelay = Math.max(worstDelay, now - last - 5)
    last = now
    ticks.push(now)
  }, 5)
  const started = performance.now()
  const result = await engine.relative(x, a, opts)
  const finished = performance.now()
  clearInterval(timer)

  t.equal(result.matrix.rows, 3000)
  const during = ticks.filter(tick => tick > started && tick < finished).length
  t.ok(during >= 3, `a 5 ms timer fired ${during} times during the ${Math.round(finished - started)} ms batch`)
  // The worst lateness depends on the machine's load as much as on the engine: reported, not asserted.
  t.comment(`worst timer lateness ${worstDelay.toFixed(1)} ms`)
})

t.test('workers load from the TypeScript sources under a test runner', async t => {
  const engine = await createEngine({ executionProviders: ['cpu'], strict: true, intraOpThreads: 1, workers: 1, rowBudget: 64, sessionCacheSize: 4 })
  t.teardown(async () => { await engine.close() })
  t.not(engine.launcher, 'inline')
  t.comment(`launcher: ${engine.launcher}`)
  await engine.probe()
})

t.test('a launcher that cannot start a worker is skipped; the inherited loader works too', async t => {
  const broken = {
    name: 'broken',
    spawn: (init: unknown) => new Worker(new URL('file:///nonexistent/worker.js'), { workerData: init })
  }
  const engine = await createEngine({
    executionProviders: ['cpu'], strict: true, intraOpThreads: 1, workers: 1, rowBudget: 64, sessionCacheSize: 4,
    // 'direct' on the .ts entry relies on the runner's loader reaching the worker (tap's does).
    launchers: [broken, ...defaultLaunchers(new URL('../../src/engine/pool.ts', import.meta.url).href).filter(l => l.name === 'direct')]
  })
  t.teardown(async () => { await engine.close() })
  t.equal(engine.launcher, 'direct')
  await engine.probe()
})

t.test('workers load from compiled JavaScript, as under dist/', async t => {
  // Emit src/engine (with ops/), src/math and src/util as tsc does for this "type": "module" package (ES modules, one
  // file at a time, no type check) into a temporary package that resolves the repository's
  // node_modules. transpileModule cannot see package.json, so ESNext stands in for NodeNext.
  const out = mkdtempSync(join(tmpdir(), 'latentbridge-engine-'))
  t.teardown(() => { rmSync(out, { recursive: true, force: true }) })
  for (const folder of ['engine', 'engine/ops', 'math', 'util']) {
    mkdirSync(join(out, folder), { recursive: true })
    for (const file of readdirSync(join(root, 'src', folder)).filter(f => f.endsWith('.ts'))) {
      const emitted = ts.transpileModule(readFileSync(join(root, 'src', folder, file), 'utf8'), {
        compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022, isolatedModules: true },
        fileName: file
      })
      writeFileSync(join(out, folder, file.replace(/\.ts$/, '.js')), emitted.outputText)
    }
  }
  writeFileSync(join(out, 'package.json'), '{ "type": "module" }\n')
  symlinkSync(join(root, 'node_modules'), join(out, 'node_modules'), 'dir')
  writeFileSync(join(out, 'run.js'), `
    import { createEngine } from './engine/index.js'
    const engine = await createEngine({ executionProviders: ['cpu'], strict: true, intraOpThreads: 1, workers: 2, rowBudget: 3, sessionCacheSize: 4 })
    const input = JSON.parse(process.argv[2])
    const matrix = m => ({ rows: m.rows, cols: m.cols, data: Float32Array.from(m.data) })
    const r = await engine.relative(matrix(input.x), matrix(input.a), input.opts)
    console.log(JSON.stringify({ launcher: engine.launcher, data: Array.from(r.matrix.data), zeroRows: r.zeroRows }))
    await engine.close()
  `)
  const random = rng(9)
  const x = randomMatrix(7, 5, random)
  const a = randomMatrix(4, 5, random)
  const opts = { projections: ['cosine', 'euclidean'] as const, center: true, normalize: 'none' as const }
  const payload = JSON.stringify({ x: { ...x, data: Array.from(x.data) }, a: { ...a, data: Array.from(a.data) }, opts })
  // A clean environment: no loader from the test runner reaches the child.
  const env = { ...process.env }
  delete env.NODE_OPTIONS
  const child = spawn(process.execPath, [join(out, 'run.js'), payload], { env, cwd: out })
  let stdout = ''
  let stderr = ''
  child.stdout.on('data', (d: Buffer) => { stdout += d.toString() })
  child.stderr.on('data', (d: Buffer) => { stderr += d.toString() })
  const code = await new Promise<number | null>(resolve => child.on('close', resolve))
  t.equal(code, 0, `child exits cleanly${stderr === '' ? '' : `: ${stderr}`}`)
  const result = JSON.parse(stdout.trim().split('\n').pop() ?? '{}') as { launcher: string, data: number[] }
  t.equal(result.launcher, 'direct', 'the compiled worker.js is started directly')
  const expected = relativeReference(x, a, { projections: [...opts.projections], center: true, normalize: 'none' })
  t.ok(maxScaledError(result.data, expected.matrix.data) < 1e-5, 'and computes the projection (7 rows in 3-row chunks over 2 workers)')
})
