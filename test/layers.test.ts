/**
 * The layers of src/ (docs/architecture.md): imports point down, never up, and no file imports
 * itself through a circle. Read from the source text, so a new import that breaks either rule
 * fails here.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs'
import { dirname, join, normalize, relative } from 'node:path'
import t from 'tap'

const SRC = new URL('../src/', import.meta.url).pathname

/** Rank of each top-level folder or file of src/: a module may import only its rank or lower. */
const RANKS: Record<string, number> = {
  math: 0, util: 0, 'errors.ts': 0, 'version.ts': 0,
  codecs: 1, engine: 1, store: 1, anchors: 1, http: 1, budget: 1, 'config.ts': 1,
  fit: 2, analysis: 2, compute: 2, translators: 2, jobs: 2,
  schemas: 3, plugins: 3, services: 3,
  routes: 4,
  'app.ts': 5, 'metrics-server.ts': 5, 'server.ts': 6
}

function files (dir: string): string[] {
  return readdirSync(dir).flatMap(name => {
    const path = join(dir, name)
    return statSync(path).isDirectory() ? files(path) : name.endsWith('.ts') ? [path] : []
  })
}

function importsOf (file: string): string[] {
  const text = readFileSync(file, 'utf8')
  const found = [...text.matchAll(/^(?:import|export)[^'"]*?from '(\.[^']+)'/gm), ...text.matchAll(/import\('(\.[^']+)'\)/g)]
  return found.map(m => normalize(join(dirname(file), m[1].replace(/\.js$/, '.ts'))))
}

const rankOf = (file: string): number => {
  const top = relative(SRC, file).split('/')[0]
  const rank = RANKS[top]
  if (rank === undefined) throw new Error(`src/${top} has no layer: add it to RANKS in test/layers.test.ts and to docs/architecture.md`)
  return rank
}

const graph = new Map(files(SRC).map(f => [f, importsOf(f).filter(i => i.startsWith(SRC))]))

t.test('every import points to the same layer or one below', async t => {
  const upward: string[] = []
  for (const [file, imports] of graph) {
    for (const target of imports) {
      if (rankOf(target) > rankOf(file)) upward.push(`${relative(SRC, file)} → ${relative(SRC, target)}`)
    }
  }
  t.same(upward, [], 'no upward import')
  t.ok(graph.size > 50, `read ${graph.size} files`)
})

t.test('no import cycle among src files', async t => {
  const state = new Map<string, 'open' | 'done'>()
  const cycles: string[] = []
  const visit = (file: string, path: string[]): void => {
    if (state.get(file) === 'done') return
    if (state.get(file) === 'open') {
      cycles.push([...path.slice(path.indexOf(file)), file].map(f => relative(SRC, f)).join(' → '))
      return
    }
    state.set(file, 'open')
    for (const next of graph.get(file) ?? []) visit(next, [...path, file])
    state.set(file, 'done')
  }
  for (const file of graph.keys()) visit(file, [])
  t.same(cycles, [], 'no cycle')
})

t.test('the checks can fail', async t => {
  // A fake upward import and a fake cycle are caught by the same rules.
  t.ok(rankOf(join(SRC, 'routes/x.ts')) > rankOf(join(SRC, 'math/x.ts')))
  t.throws(() => rankOf(join(SRC, 'nowhere/x.ts')), /has no layer/)
})
