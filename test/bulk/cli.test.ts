/**
 * The bulk CLI as a command: `--help` and usage errors, paths taken from the caller's directory
 * (run from a directory outside the repository, directly and through `npm run translate-npy`),
 * and the compiled bin that `npm run build` emits (built here into a temporary directory).
 */
import { spawn } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import t, { type Test } from 'tap'
import { encodeNpy, readNpyHeader } from '../../src/codecs/vectors.js'
import { testApp } from '../helpers/app.js'
import { rowsOf, values } from '../helpers/data.js'

const root = fileURLToPath(new URL('../../', import.meta.url))
const entry = join(root, 'bin', 'translate-npy.ts')
// The loader by absolute URL: from another directory a bare 'tsx' would not resolve.
const tsx = import.meta.resolve('tsx')
const OPTIONS = ['--url', '--source', '--target', '--translator', '--chunk-rows', '--concurrency', '--key', '--quiet', '--help']

interface Run { code: number | null, stdout: string, stderr: string }

async function run (command: string, args: string[], cwd: string, env: NodeJS.ProcessEnv = process.env): Promise<Run> {
  const child = spawn(command, args, { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] })
  let stdout = ''
  let stderr = ''
  child.stdout.on('data', (d: Buffer) => { stdout += d.toString() })
  child.stderr.on('data', (d: Buffer) => { stderr += d.toString() })
  const code = await new Promise<number | null>(resolve => child.on('close', resolve))
  return { code, stdout, stderr }
}

function tempDir (t: Test): string {
  const dir = mkdtempSync(join(tmpdir(), 'bulk-cli-'))
  t.teardown(() => { rmSync(dir, { recursive: true, force: true }) })
  return dir
}

async function serve (t: Test): Promise<string> {
  const app = await testApp(t)
  const ok = async (url: string, payload: object, method: 'PUT' | 'POST' = 'PUT'): Promise<void> => {
    const res = await app.inject({ method, url, payload })
    if (res.statusCode >= 300) throw new Error(`${method} ${url}: ${res.statusCode} ${res.body}`)
  }
  await ok('/v1/spaces/src', { dim: 6 })
  await ok('/v1/spaces/tgt', { dim: 4 })
  await ok('/v1/anchor-sets/set', { ids: Array.from({ length: 20 }, (_, i) => `a${i}`) })
  await ok('/v1/anchor-sets/set/embeddings/src', { vectors: rowsOf(values(20 * 6, 1), 6) })
  await ok('/v1/anchor-sets/set/embeddings/tgt', { vectors: rowsOf(values(20 * 4, 2), 4) })
  await ok('/v1/translators', { source: 'src', target: 'tgt', anchorSet: 'set', method: 'affine' }, 'POST')
  return await app.listen({ host: '127.0.0.1', port: 0 })
}

t.test('--help prints every option and both variables on stdout and exits 0', async t => {
  const r = await run(process.execPath, ['--import', tsx, entry, '--help'], tempDir(t))
  t.equal(r.code, 0)
  t.equal(r.stderr, '')
  for (const word of [...OPTIONS, 'LATENTBRIDGE_URL', 'LATENTBRIDGE_API_KEY']) t.match(r.stdout, word)
})

t.test('usage errors exit 2 with the usage on stderr', async t => {
  const cwd = tempDir(t)
  const cases = [
    ['--bogus', '--source', 'a', '--target', 'b', 'in.npy', 'out.npy'],
    ['--source', 'a', '--target', 'b', 'in.npy'],
    ['--target', 'b', 'in.npy', 'out.npy'],
    ['--source', 'a', '--target', 'b', '--chunk-rows', '0', 'in.npy', 'out.npy']
  ]
  for (const args of cases) {
    const r = await run(process.execPath, ['--import', tsx, entry, ...args], cwd)
    t.equal(r.code, 2, args.join(' '))
    t.match(r.stderr, /usage: latentbridge-translate/)
    t.equal(r.stdout, '')
  }
})

t.test('relative paths are the caller\'s: run from another directory, directly and through npm run', async t => {
  const url = await serve(t)
  const dir = tempDir(t)
  writeFileSync(join(dir, 'in.npy'), encodeNpy({ rows: 37, cols: 6, data: values(37 * 6, 3) }))

  const direct = await run(process.execPath, ['--import', tsx, entry, '--quiet', '--url', url, '--source', 'src', '--target', 'tgt', '--chunk-rows', '10', 'in.npy', 'out.npy'], dir)
  t.equal(direct.code, 0, direct.stderr)
  t.match(JSON.parse(direct.stdout), { input: join(dir, 'in.npy'), output: join(dir, 'out.npy'), rows: 37, cols: 4 })
  t.match(readNpyHeader(readFileSync(join(dir, 'out.npy')), 'out.npy'), { rows: 37, cols: 4 }, 'out.npy written in the caller\'s directory')

  // npm run moves to the package root; the CLI takes the paths from where npm was called.
  const npm = await run('npm', ['--prefix', root, 'run', '--silent', 'translate-npy', '--', '--quiet', '--url', url, '--source', 'src', '--target', 'tgt', 'in.npy', 'viaNpm.npy'], dir)
  t.equal(npm.code, 0, npm.stderr)
  t.match(readNpyHeader(readFileSync(join(dir, 'viaNpm.npy')), 'viaNpm.npy'), { rows: 37, cols: 4 })
  t.ok(readFileSync(join(dir, 'viaNpm.npy')).equals(readFileSync(join(dir, 'out.npy'))), 'same output both ways')
})

t.test('the compiled bin (tsconfig.bin.json, as npm run build) starts with a shebang and runs under plain node', async t => {
  const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { bin: Record<string, string> }
  const out = tempDir(t)
  const tsc = await run(process.execPath, [join(root, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', join(root, 'tsconfig.bin.json'), '--outDir', out], root)
  t.equal(tsc.code, 0, tsc.stdout + tsc.stderr)
  // The package's bin path, with its outDir swapped for the temporary one.
  const bin = join(out, pkg.bin['latentbridge-translate'].replace(/^dist\/cli\//, ''))
  t.equal(readFileSync(bin, 'utf8').split('\n')[0], '#!/usr/bin/env node')
  const env = { ...process.env }
  delete env.NODE_OPTIONS // no loader from the test runner: plain node on plain JavaScript
  const help = await run(process.execPath, [bin, '--help'], tempDir(t), env)
  t.equal(help.code, 0, help.stderr)
  t.match(help.stdout, /usage: latentbridge-translate/)
  const bad = await run(process.execPath, [bin, '--nope'], tempDir(t), env)
  t.equal(bad.code, 2)
})
