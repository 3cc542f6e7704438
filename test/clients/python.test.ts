import { spawn, spawnSync } from 'node:child_process'
import { existsSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import t, { type Test } from 'tap'
import { wordsDir } from '../../bench/lib/words.js'
import { findRedisServer, startRedisServer } from '../helpers/redis-server.js'
import { startService } from '../helpers/service.js'

/*
 * The Python client's own suite (clients/python/tests, unittest) against the real service: a
 * process on the memory store, and one on Redis when redis-server is installed. The words round
 * trip joins in when ../shared/data/words is there (WORDS_DIR overrides the place).
 */

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..')
const pythonDir = join(root, 'clients', 'python')

/**
 * The first python3 that has numpy: the one on PATH, else Debian's (which `.ci/run` installs
 * python3-numpy for, while PATH may lead to another python3 first, such as pyenv's).
 */
function findPython (): { python: string } | { skip: string } {
  let reason = 'python3 not found: install python3 and python3-numpy to test the Python client'
  for (const python of ['python3', '/usr/bin/python3']) {
    const probe = spawnSync(python, ['-c', 'import numpy; print(numpy.__version__)'], { encoding: 'utf8' })
    if (probe.error !== undefined) continue
    if (probe.status === 0) return { python }
    reason = 'python3 has no numpy: install python3-numpy (or pip install numpy) to test the Python client'
  }
  return { skip: reason }
}

// 8,000 rows per request: the chunking test sends twice that through the client, and the words
// data (7,898 rows per upload) still fits in one upload.
const LIMITS = { MAX_ROWS_PER_REQUEST: '8000' }

async function runPythonSuite (python: string, url: string): Promise<{ code: number | null, output: string }> {
  const words = wordsDir()
  const env: Record<string, string> = {
    PATH: process.env.PATH ?? '',
    HOME: process.env.HOME ?? '',
    LATENTBRIDGE_TEST_URL: url,
    // The service is on loopback: never through a proxy the environment may name.
    NO_PROXY: '127.0.0.1,localhost',
    no_proxy: '127.0.0.1,localhost',
    PYTHONDONTWRITEBYTECODE: '1'
  }
  if (existsSync(join(words, 'word2vec300.f32'))) env.LATENTBRIDGE_WORDS_DIR = words
  const child = spawn(python, ['-m', 'unittest', 'discover', '-v'], { cwd: pythonDir, env, stdio: ['ignore', 'pipe', 'pipe'] })
  let output = ''
  child.stdout.on('data', (chunk: Buffer) => { output += chunk.toString() })
  child.stderr.on('data', (chunk: Buffer) => { output += chunk.toString() })
  const code = await new Promise<number | null>(resolve => child.once('close', resolve))
  return { code, output }
}

async function check (t: Test, python: string, url: string): Promise<void> {
  const { code, output } = await runPythonSuite(python, url)
  const ran = /^Ran (\d+) tests?/m.exec(output)
  const skipped = /skipped=(\d+)/.exec(output)
  t.comment(`python: ran ${ran?.[1] ?? '?'} tests, ${skipped?.[1] ?? 0} skipped`)
  for (const line of output.split('\n')) {
    if (/skipped '|^words: /.test(line)) t.comment(line.trim())
  }
  t.equal(code, 0, 'the Python suite passes', { output: code === 0 ? undefined : output })
  t.match(output, /^OK/m)
  t.ok(Number(ran?.[1] ?? 0) > 10, 'the Python suite ran its tests')
}

const found = findPython()
const skip = 'skip' in found ? found.skip : false
const python = 'python' in found ? found.python : 'python3'
// Two service processes and two runs of the suite (the words data's uploads and fit included):
// more than the default per-file time on a loaded machine.
t.setTimeout(600_000)

t.test('the Python client against the service on the memory store', { skip, timeout: 600_000 }, async t => {
  const service = await startService(LIMITS)
  t.teardown(async () => { await service.stop() })
  await check(t, python, service.url)
})

t.test('the Python client against the service on Redis', {
  skip: skip !== false ? skip : findRedisServer() === null ? 'redis-server not found: install it to test the Python client on Redis' : false,
  timeout: 600_000
}, async t => {
  const redis = await startRedisServer()
  t.teardown(async () => { await redis.stop() })
  const service = await startService({ ...LIMITS, REDIS_URL: redis.url })
  t.teardown(async () => { await service.stop() })
  await check(t, python, service.url)
})
