import { spawnSync } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import t from 'tap'

/*
 * The TypeScript client's types (client/openapi.ts) are generated from the committed OpenAPI
 * document by the npm script client:types (which `npm run openapi` runs too). Generated again
 * here, with the same command, they must be what is committed.
 */

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..')

/** The flags of the client:types script in package.json. */
const CLIENT_TYPES_FLAGS = (() => {
  const script: string = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')).scripts['client:types']
  return script.split(/\s+/).slice(4)
})()

function generate (document: string, out: string): void {
  const cli = join(root, 'node_modules', '.bin', 'openapi-typescript')
  const run = spawnSync(cli, [document, '-o', out, ...CLIENT_TYPES_FLAGS], { cwd: root, encoding: 'utf8' })
  if (run.status !== 0) throw new Error(`openapi-typescript failed:\n${run.stdout}\n${run.stderr}`)
}

// Three runs of the generator, each a few seconds, more on a loaded machine.
t.setTimeout(300_000)

t.test('the client:types script writes client/openapi.ts from openapi/openapi.json', async t => {
  t.match(JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')).scripts['client:types'], /^openapi-typescript openapi\/openapi\.json -o client\/openapi\.ts/)
  // Fields with a default are optional in requests: the generator must not make them required.
  t.same(CLIENT_TYPES_FLAGS, ['--default-non-nullable', 'false'])
})

t.test('client/openapi.ts is what openapi-typescript makes of openapi/openapi.json', async t => {
  const dir = mkdtempSync(join(tmpdir(), 'client-types-'))
  t.teardown(() => { rmSync(dir, { recursive: true, force: true }) })
  const fresh = join(dir, 'openapi.ts')
  generate(join(root, 'openapi', 'openapi.json'), fresh)
  const committed = readFileSync(join(root, 'client', 'openapi.ts'), 'utf8')
  t.ok(readFileSync(fresh, 'utf8') === committed, 'client/openapi.ts is stale: run npm run client:types (or npm run openapi) and commit the result')
})

t.test('a change of the document changes the generated types (the check above can fail)', async t => {
  const dir = mkdtempSync(join(tmpdir(), 'client-types-'))
  t.teardown(() => { rmSync(dir, { recursive: true, force: true }) })
  const doc = JSON.parse(readFileSync(join(root, 'openapi', 'openapi.json'), 'utf8'))
  doc.components.schemas.Space.properties.colour = { type: 'string' }
  const changedDoc = join(dir, 'changed.json')
  const out = join(dir, 'openapi.ts')
  writeFileSync(changedDoc, JSON.stringify(doc))
  generate(changedDoc, out)
  const changed = readFileSync(out, 'utf8')
  t.not(changed, readFileSync(join(root, 'client', 'openapi.ts'), 'utf8'))
  t.match(changed, /colour\?: string/)
})
