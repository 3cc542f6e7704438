/**
 * The shared word data set (../shared/data/words relative to the repository root, see its
 * README.md): 7,898 words embedded by three models, raw little-endian float32, row i of every
 * matrix = line i of ids.txt. Read in place; never copied into the repository.
 */
import { existsSync, readFileSync, statSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { Matrix } from '../../src/math/matrix.js'

export interface WordSpaceSpec {
  /** Short name used in tables, e.g. "glove". */
  name: string
  file: string
  dim: number
  label: string
}

export const WORD_SPACES: readonly WordSpaceSpec[] = [
  { name: 'glove', file: 'glove100.f32', dim: 100, label: 'GloVe 6B 100d' },
  { name: 'word2vec', file: 'word2vec300.f32', dim: 300, label: 'word2vec GoogleNews 300d' },
  { name: 'use', file: 'use512.f32', dim: 512, label: 'USE lite 512d' }
]

export interface WordSpace extends WordSpaceSpec {
  matrix: Matrix
}

export interface Words {
  dir: string
  ids: string[]
  spaces: WordSpace[]
}

/** Where the data set is: $WORDS_DIR when set, else ../shared/data/words next to the repository. */
export function wordsDir (): string {
  const override = process.env.WORDS_DIR
  if (override !== undefined && override !== '') return resolve(override)
  const repoRoot = fileURLToPath(new URL('../../', import.meta.url))
  return resolve(repoRoot, '..', 'shared', 'data', 'words')
}

/** Every file the benches need, or the first one missing. */
export function missingWordFile (dir: string): string | undefined {
  for (const file of ['ids.txt', ...WORD_SPACES.map(s => s.file)]) {
    if (!existsSync(join(dir, file))) return join(dir, file)
  }
  return undefined
}

/** Loads ids and the three matrices; throws when a file's size does not match ids x dim. */
export function loadWords (dir: string): Words {
  const ids = readFileSync(join(dir, 'ids.txt'), 'utf8').split('\n').filter(line => line !== '')
  const spaces = WORD_SPACES.map(spec => {
    const path = join(dir, spec.file)
    const expected = ids.length * spec.dim * 4
    const size = statSync(path).size
    if (size !== expected) throw new Error(`${path} has ${size} bytes; ${ids.length} words x ${spec.dim} float32 need ${expected}`)
    const bytes = readFileSync(path)
    const data = new Float32Array(ids.length * spec.dim)
    Buffer.from(data.buffer).set(bytes) // little-endian on disk; this host is little-endian (x86/arm)
    return { ...spec, matrix: { rows: ids.length, cols: spec.dim, data } }
  })
  return { dir, ids, spaces }
}
