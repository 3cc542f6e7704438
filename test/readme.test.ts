import { spawn, spawnSync } from 'node:child_process'
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import t from 'tap'
import { startService } from './helpers/service.js'

/*
 * README.md's "A walk through the API with curl" block, run as pasted against the real service
 * (a process on a free loopback port), so that the documentation cannot drift from the code.
 *
 * Conventions of the block, which this test enforces:
 * - every command succeeds (curl runs with --fail-with-body, bash with set -euo pipefail),
 *   except a command whose trailing comment starts with a status (`# 409: ...`): it must answer
 *   exactly that status;
 * - a comment line `# → ...` right after a command is its expected output, abridged: the parts
 *   between the `…` (spaces around them aside) must appear, in order, in what that command printed.
 */

const root = join(dirname(fileURLToPath(import.meta.url)), '..')
const HEADING = '## A walk through the API with curl'
const ELLIPSIS = '…'

function has (command: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${command}`], { stdio: 'ignore' }).status === 0
}

/** The fenced bash block under the heading, continuation lines joined. */
function walkThrough (readme: string): string[] {
  const at = readme.indexOf(`\n${HEADING}\n`)
  if (at < 0) throw new Error(`README.md has no "${HEADING}" section`)
  const open = readme.indexOf('```bash\n', at)
  const nextSection = readme.indexOf('\n## ', at + 1)
  if (open < 0 || (nextSection >= 0 && open > nextSection)) throw new Error(`no \`\`\`bash block under "${HEADING}"`)
  const close = readme.indexOf('\n```', open + 8)
  return readme.slice(open + 8, close).replace(/\\\n\s*/g, '').split('\n')
}

interface Step {
  /** The line as written in the README. */
  command: string
  /** The status its trailing comment announces, when it is meant to answer one. */
  status?: number
  /** Its `# → ...` comment lines. */
  expected: string[]
}

function stepsOf (lines: string[]): Step[] {
  const steps: Step[] = []
  for (const line of lines) {
    const trimmed = line.trim()
    if (trimmed.startsWith('# → ')) {
      const last = steps.at(-1)
      if (last === undefined) throw new Error(`expected output before any command: ${line}`)
      last.expected.push(trimmed.slice('# → '.length))
    } else if (trimmed !== '' && !trimmed.startsWith('#')) {
      const marked = /^(curl\s.*?)\s+#\s*(\d{3})\b/.exec(trimmed)
      steps.push(marked !== null
        ? { command: marked[1], status: Number(marked[2]), expected: [] }
        : { command: trimmed, expected: [] })
    }
  }
  return steps
}

const MARK = '@@readme-step'

/** The bash script: each step announced on stdout, curl failing on HTTP errors unless a status is expected. */
function scriptOf (steps: Step[], port: number): string {
  const local = (text: string): string => text.replaceAll('localhost:8080', `127.0.0.1:${port}`)
  const out = [
    'set -euo pipefail',
    'curl () { command curl --fail-with-body "$@"; }'
  ]
  steps.forEach((step, i) => {
    out.push(`printf '\\n${MARK} %d\\n' ${i}`)
    if (step.status === undefined) {
      out.push(local(step.command))
    } else {
      out.push(`status=$(${local(step.command).replace(/^curl\s/, "command curl -o .body -w '%{http_code}' ")})`)
      out.push('cat .body')
      out.push(`[ "$status" = ${step.status} ] || { echo "step ${i} answered $status, the README says ${step.status}: ${step.command.replace(/["$`\\]/g, '\\$&')}" >&2; exit 1; }`)
    }
  })
  return out.join('\n') + '\n'
}

async function runBash (script: string, cwd: string): Promise<{ code: number | null, stdout: string, stderr: string }> {
  return await new Promise((resolve, reject) => {
    const child = spawn('bash', ['-c', script], { cwd, stdio: ['ignore', 'pipe', 'pipe'] })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (chunk: Buffer) => { stdout += chunk.toString() })
    child.stderr.on('data', (chunk: Buffer) => { stderr += chunk.toString() })
    child.once('error', reject)
    child.once('close', code => { resolve({ code, stdout, stderr }) })
  })
}

/** Whether the parts of an abridged output appear in `actual`, in order. */
function abridgedMatch (expected: string, actual: string): string | null {
  let from = 0
  for (const spaced of expected.split(ELLIPSIS)) {
    const part = spaced.trim()
    if (part === '') continue
    const at = actual.indexOf(part, from)
    if (at < 0) return part
    from = at + part.length
  }
  return null
}

const missing = ['curl', 'python3', 'bash'].filter(command => !has(command))

t.test('the README walk-through runs as pasted and prints what it shows', { skip: missing.length > 0 ? `${missing.join(' and ')} not installed` : false }, async t => {
  const readme = await readFile(join(root, 'README.md'), 'utf8')
  const steps = stepsOf(walkThrough(readme))
  t.ok(steps.length >= 20, `the walk-through has ${steps.length} commands`)
  t.same(steps.filter(s => s.status !== undefined).map(s => s.status), [409, 204], 'the commands meant to answer a status: the 409 and the cascade delete')
  t.notOk(steps.some(s => /<[a-z]+>/.test(s.command)), 'no <placeholder> left for the reader to fill in')

  const service = await startService({})
  t.teardown(async () => { await service.stop() })
  const cwd = await mkdtemp(join(tmpdir(), 'latentbridge-readme-'))
  t.teardown(async () => { await rm(cwd, { recursive: true, force: true }) })

  const run = await runBash(scriptOf(steps, service.port), cwd)
  const printed = run.stdout.split(new RegExp(`\\n${MARK} \\d+\\n`)).slice(1)
  if (run.code !== 0) {
    const failed = printed.length - 1
    t.fail(`bash exited ${run.code} at step ${failed} (${steps[failed]?.command ?? '?'}):\n${printed.at(-1) ?? ''}\n${run.stderr}`)
    return
  }
  t.equal(printed.length, steps.length, 'every step ran')

  let checked = 0
  steps.forEach((step, i) => {
    for (const expected of step.expected) {
      const absent = abridgedMatch(expected, printed[i])
      t.equal(absent, null, `step ${i} (${step.command.slice(0, 60)}) printed ${JSON.stringify(expected)}`, { printed: printed[i] })
      checked++
    }
  })
  t.ok(checked >= 15, `${checked} expected outputs checked`)

  // The files the walk-through writes, in its working directory.
  t.equal((await stat(join(cwd, 'x.f32'))).size, 12, 'x.f32: one row of 3 float32')
  t.equal((await stat(join(cwd, 'rel.f32'))).size, 16, 'rel.f32: one row of 4 float32 (its cosines to the 4 anchors)')
  t.ok((await stat(join(cwd, 'translator.onnx'))).size > 100, 'translator.onnx was written')

  // The state it leaves: glove deleted with its translators, the refined translator kept its pairs.
  const spaces = await fetch(`${service.url}/v1/spaces`).then(async res => await res.json() as { spaces: Array<{ name: string }> })
  t.same(spaces.spaces.map(s => s.name), ['word2vec'], 'only word2vec remains after the cascade delete')
})
