import t, { type Test } from 'tap'
import type { FastifyInstance } from 'fastify'
import { isProblem, json, testApp } from '../helpers/app.js'
import { world } from './fixtures/unsupervised-world.js'

/** Small enough to run in seconds; the same pipeline as the service's defaults. */
const TUNING = { restarts: 2, initRows: 240, patience: 4, maxIterations: 80 }

const rowsOf = (m: { rows: number, cols: number, data: Float32Array }): number[][] =>
  Array.from({ length: m.rows }, (_, i) => Array.from(m.data.subarray(i * m.cols, (i + 1) * m.cols)))

/**
 * Uploads a world's pools: source rows under ids s-<row>; target rows under t-<row>, except that
 * with `sharedIds` a shared item keeps its source id (so the fit can check itself on those ids).
 */
async function upload (t: Test, app: FastifyInstance, w: ReturnType<typeof world>, sharedIds: boolean): Promise<void> {
  const sourceIds = Array.from({ length: w.x.rows }, (_, i) => `s-${i}`)
  const byTargetRow = new Map<number, number>()
  for (const [i, j] of w.truth) byTargetRow.set(j, i)
  const targetIds = Array.from({ length: w.z.rows }, (_, j) => sharedIds && byTargetRow.has(j) ? `s-${byTargetRow.get(j) as number}` : `t-${j}`)
  const ids = [...new Set([...sourceIds, ...targetIds])]
  const ok = async (url: string, payload: object): Promise<void> => {
    const res = await app.inject({ method: 'PUT', url, payload })
    t.ok(res.statusCode < 300, `PUT ${url}: ${res.statusCode} ${res.statusCode >= 300 ? res.body : ''}`)
  }
  await ok('/v1/spaces/src', { dim: w.x.cols })
  await ok('/v1/spaces/tgt', { dim: w.z.cols })
  await ok('/v1/anchor-sets/pools', { ids })
  await ok('/v1/anchor-sets/pools/embeddings/src', { ids: sourceIds, vectors: rowsOf(w.x) })
  await ok('/v1/anchor-sets/pools/embeddings/tgt', { ids: targetIds, vectors: rowsOf(w.z) })
}

const post = async (app: FastifyInstance, body: object): Promise<{ statusCode: number, headers: Record<string, unknown>, body: string }> =>
  await app.inject({ method: 'POST', url: '/v1/translators', payload: { source: 'src', target: 'tgt', anchorSet: 'pools', scaling: 'center', anchors: 'none', unsupervised: TUNING, ...body } })

t.test('pools sharing nothing: stored inactive (even as the pair\'s first), with why and what to do', async t => {
  const app = await testApp(t)
  await upload(t, app, world(11, false), false)
  const res = await post(app, { activate: true })
  t.equal(res.statusCode, 201, res.body)
  const fitted = json(res)
  const verdict = fitted.diagnostics.unsupervised
  t.equal(verdict.reliable, false)
  t.equal(fitted.active, false, 'never activated by the fit')
  t.equal(fitted.anchorsUsed, 0)
  t.match(verdict.advice, /select/, 'suggests choosing anchors to embed')
  t.ok(verdict.reasons.length > 0)
  t.equal(verdict.runs.length, 2)
  t.equal(verdict.anchorCheck, undefined, 'no id is held by both pools')
  const active = await app.inject({ method: 'POST', url: '/v1/translate', payload: { source: 'src', target: 'tgt', vectors: [rowsOf(world(11, false).x)[0]] } })
  t.equal(active.statusCode, 404, 'the pair has no active translator')
})

t.test('a hidden correspondence: reliable, active, and checked by the ids both pools hold', async t => {
  const app = await testApp(t)
  const w = world(11, true)
  await upload(t, app, w, true)
  const fitted = json(await post(app, {}))
  const verdict = fitted.diagnostics.unsupervised
  t.equal(verdict.reliable, true, verdict.reasons.join('; '))
  t.equal(fitted.active, true)
  t.equal(verdict.anchorCheck.count, w.truth.size, 'every shared id checks the map')
  t.ok(verdict.anchorCheck.top1 >= 0.9, `top-1 of the shared ids ${verdict.anchorCheck.top1}`)
  t.equal(verdict.advice, undefined)
  t.equal(verdict.runs.length, 1, 'the first restart was confirmed')
  t.ok(verdict.runs[0].heldOut >= 0.5, `its held-out half reproduced: ${verdict.runs[0].heldOut}`)
  t.ok(verdict.null.heldOut < verdict.runs[0].heldOut, `more than the null's: ${verdict.null.heldOut}`)
  t.equal(verdict.agreement, null, 'no other restart to agree with')
})

t.test('the option\'s problems', async t => {
  const app = await testApp(t)
  await upload(t, app, world(11, false), false)
  isProblem(t, await post(app, { refine: { iterations: 2, k: 10 } }), 'unprocessable', 'refine with anchors none')
  isProblem(t, await post(app, { method: 'linear' }), 'unprocessable', 'a method other than procrustes')
  isProblem(t, await post(app, { anchors: 'parallel' }), 'unprocessable', 'unsupervised options without anchors none')
  isProblem(t, await post(app, { unsupervised: { restarts: 0 } }), 'invalid-request', 'restarts out of range')
  isProblem(t, await post(app, { anchors: 'some' }), 'invalid-request', 'an unknown anchors value')
  const small = await testApp(t)
  const tiny = world(12, true)
  await upload(t, small, { x: { ...tiny.x, rows: 20, data: tiny.x.data.subarray(0, 20 * tiny.x.cols) }, z: { ...tiny.z, rows: 20, data: tiny.z.data.subarray(0, 20 * tiny.z.cols) }, truth: new Map() }, false)
  isProblem(t, await post(small, {}), 'unprocessable', 'pools under the minimum')
  const strict = await testApp(t, { env: { WORK_TIME_MS: '1' } })
  await upload(t, strict, world(11, false), false)
  isProblem(t, await post(strict, {}), 'over-budget', 'estimated and refused before it runs')
})
