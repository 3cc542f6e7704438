import t from 'tap'
import type { FastifyInstance } from 'fastify'
import { loadWords, missingWordFile, wordsDir } from '../../bench/lib/words.js'
import { takeRows, type Matrix } from '../../src/math/matrix.js'
import { createRng, sampleIndices } from '../../src/math/random.js'
import { json, testApp } from '../helpers/app.js'

/*
 * Opt-in: the report on real embeddings (../shared/data/words, or $WORDS_DIR), GloVe 100d and
 * word2vec 300d, a Procrustes translator each way fitted on 1,000 anchor words, reported on 2,000
 * other words. Skipped with a message where the data set is absent.
 */

const dir = wordsDir()
const missing = missingWordFile(dir)
const skip = missing === undefined ? false : `the word data set is absent (${missing}); set WORDS_DIR to run this`

const ANCHORS = 1000
const HELD_OUT = 2000

const base64 = (m: Matrix): object => ({ dtype: 'float32', shape: [m.rows, m.cols], data: Buffer.from(m.data.buffer, m.data.byteOffset, m.data.byteLength).toString('base64') })

async function send (t: Tap, app: FastifyInstance, method: 'PUT' | 'POST', url: string, payload: object): Promise<any> {
  const res = await app.inject({ method, url, payload })
  t.ok(res.statusCode < 300, `${method} ${url}: ${res.statusCode} ${res.statusCode >= 300 ? res.body.slice(0, 300) : ''}`)
  return res.body === '' ? null : json(res)
}
type Tap = { ok: (v: boolean, m: string) => void }

t.test('GloVe and word2vec: a report in both directions, and confidence that selects better rows', { skip, timeout: 300_000 }, async t => {
  const words = loadWords(dir)
  const [glove, word2vec] = words.spaces
  const order = Array.from(sampleIndices(createRng(0), words.ids.length, ANCHORS + HELD_OUT))
  const anchors = order.slice(0, ANCHORS)
  const held = order.slice(ANCHORS)
  const app = await testApp(t)
  await send(t, app, 'PUT', '/v1/spaces/glove', { dim: glove.dim })
  await send(t, app, 'PUT', '/v1/spaces/word2vec', { dim: word2vec.dim })
  await send(t, app, 'PUT', '/v1/anchor-sets/words', { ids: anchors.map(i => words.ids[i]) })
  await send(t, app, 'PUT', '/v1/anchor-sets/words/embeddings/glove', { vectors: base64(takeRows(glove.matrix, anchors)) })
  await send(t, app, 'PUT', '/v1/anchor-sets/words/embeddings/word2vec', { vectors: base64(takeRows(word2vec.matrix, anchors)) })
  const fit = { anchorSet: 'words', method: 'procrustes', scaling: 'center', holdout: 0 }
  const forward = await send(t, app, 'POST', '/v1/translators', { source: 'glove', target: 'word2vec', ...fit })
  const reverse = await send(t, app, 'POST', '/v1/translators', { source: 'word2vec', target: 'glove', ...fit })

  const x = takeRows(glove.matrix, held)
  const y = takeRows(word2vec.matrix, held)
  const report = await send(t, app, 'POST', `/v1/translators/${forward.id as string}/report`, { vectors: base64(x), targetVectors: base64(y) })
  t.same(report.directions.map((d: any) => d.translator.id), [forward.id, reverse.id])
  for (const d of report.directions) {
    const at = (p: any): string => `${(100 * p.at1).toFixed(1)} / ${(100 * p.at5).toFixed(1)} / ${(100 * p.at10).toFixed(1)}`
    t.comment(`${d.source as string} → ${d.target as string}: recall@1/5/10 ${at(d.recall)}, retrieval@1/5/10 ${at(d.retrieval)}, MRR ${d.mrr.toFixed(3)}`)
    const curve = d.coverage.filter((_: unknown, i: number) => i % 4 === 0).map((p: any) => `≥${p.threshold}: ${(100 * p.coverage).toFixed(0)}% kept, top-1 ${p.top1 === null ? '–' : (100 * p.top1).toFixed(1)}`)
    t.comment(`  coverage: ${curve.join('; ') as string}`)
    t.ok(d.retrieval.at1 > 0.05 && d.retrieval.at10 < 1, `${d.direction as string}: a translation that neither fails nor is perfect`)
    // The point of the curve: the rows the translator is confident about retrieve better.
    const half = d.coverage[10]
    t.ok(half.kept > 0 && half.top1 > d.retrieval.at1, `${d.direction as string}: top-1 of rows with confidence ≥ 0.5 (${half.top1}) above all rows' (${d.retrieval.at1})`)
  }
})
