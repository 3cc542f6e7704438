import t from 'tap'
import { testApp } from '../helpers/app.js'
import { injectApi, setUpPair } from '../helpers/service.js'
import { prepareFit } from '../../src/translators/pipeline.js'

/*
 * A job run again after its first run stored the translator but died before completing (the
 * failover case where the kill falls between the store write and the job's completion): the
 * second run, under the same operation id, stores nothing new and answers the stored translator.
 */

t.test('a fit run twice under one translator id stores one translator', async t => {
  const app = await testApp(t)
  await setUpPair(injectApi(app), { source: 'src', target: 'tgt', set: 'set' })
  const deps = { store: app.store, engine: app.engine, maxTranslatorBytes: app.budgets.maxTranslatorBytes }
  const request = { source: 'src', target: 'tgt', anchorSet: 'set', method: 'procrustes' as const, scaling: 'center' as const, holdout: 0, folds: 5, seed: 1 }
  const id = '6f1c1d2e-0000-4000-8000-000000000001'
  const first = await (await prepareFit(deps, request, { translatorId: id })).run(new AbortController().signal)
  const second = await (await prepareFit(deps, request, { translatorId: id })).run(new AbortController().signal)
  t.equal(first.id, id)
  t.same(second, first, 'the second run answers the stored translator')
  t.same((await app.store.listTranslators({})).map(l => [l.id, l.version]), [[id, 1]], 'one translator, version 1')
})
