import t from 'tap'
import { MemoryStore } from '../../src/store/memory.js'
import type { StoreChange } from '../../src/store/types.js'
import { isProblem, testApp } from '../helpers/app.js'
import { injectApi, rowsOf, setUpPair, SOURCE_DIM } from '../helpers/service.js'

/*
 * Which translator a translate call uses, and what it says when there is none: a space that does
 * not exist is named as such (not-found), and "no active translator" is said only when both
 * spaces exist. A translator deleted behind the cache's back (its eviction notice not heard yet, as
 * on another replica) is never used again.
 */

const NOT_FOUND = 'urn:latentbridge:problem:not-found'

t.test('translate without an active translator names what is missing', async t => {
  const app = await testApp(t)
  const api = injectApi(app)
  const data = await setUpPair(api, { source: 'src', target: 'tgt', set: 'pairs' })
  const vectors = rowsOf(data.x.subarray(0, 2 * SOURCE_DIM), SOURCE_DIM)
  const translate = async (source: string, target: string): Promise<{ status: number, type: string, detail: string }> => {
    const res = await api('POST', '/v1/translate', { source, target, vectors })
    return { status: res.status, type: res.body.type, detail: res.body.detail }
  }

  const unknownSource = await translate('nope', 'tgt')
  t.match(unknownSource, { status: 404, type: NOT_FOUND }, 'unknown source: not-found')
  t.match(unknownSource.detail, /no space named "nope"/, `names the source (${unknownSource.detail})`)
  t.notMatch(unknownSource.detail, /active translator/, 'and does not speak of translators')

  const unknownTarget = await translate('src', 'gone')
  t.match(unknownTarget, { status: 404, type: NOT_FOUND })
  t.match(unknownTarget.detail, /no space named "gone"/, `names the target (${unknownTarget.detail})`)

  const both = await translate('nope', 'gone')
  t.match(both, { status: 404, type: NOT_FOUND })
  t.match(both.detail, /no space named "nope" and "gone"/, `names both (${both.detail})`)

  const none = await translate('src', 'tgt')
  t.match(none, { status: 404, type: NOT_FOUND })
  t.match(none.detail, /no active translator from "src" to "tgt"/, 'both spaces exist: no active translator')

  const fitted = await api('POST', '/v1/translators', { source: 'src', target: 'tgt', anchorSet: 'pairs' })
  t.equal(fitted.status, 201)
  t.equal((await translate('src', 'tgt')).status, 200, 'fitted: translates')
  const reverse = await api('POST', '/v1/translate', { source: 'tgt', target: 'src', vectors })
  t.match(isProblem(t, reverse, 'not-found', 'the reverse pair').detail, /no active translator from "tgt" to "src"/, 'the reverse pair has none')
})

/** A memory store whose change feed stays silent: like a replica that has not heard of a delete yet. */
class DeafStore extends MemoryStore {
  override onChange (_listener: (change: StoreChange) => void): () => void {
    return () => {}
  }
}

t.test('a translator deleted elsewhere is not used from the cache, by id or by pair', async t => {
  const store = new DeafStore()
  const app = await testApp(t, { store })
  const api = injectApi(app)
  const data = await setUpPair(api, { source: 'src', target: 'tgt', set: 'pairs' })
  const vectors = rowsOf(data.x.subarray(0, 2 * SOURCE_DIM), SOURCE_DIM)
  const fitted = await api('POST', '/v1/translators', { source: 'src', target: 'tgt', anchorSet: 'pairs' })
  const id = fitted.body.id as string
  t.equal((await api('POST', '/v1/translate', { source: 'src', target: 'tgt', vectors, translator: id })).status, 200)
  t.equal((await api('POST', '/v1/translate', { source: 'src', target: 'tgt', vectors })).status, 200)
  t.equal(app.translators.size, 1, 'cached')

  // Deleted in the store directly, as another replica would: no eviction reaches this cache.
  t.equal(await store.deleteTranslator(id), true)
  t.equal(app.translators.size, 1, 'still cached: nobody told the cache')
  const byPair = await api('POST', '/v1/translate', { source: 'src', target: 'tgt', vectors })
  t.match(byPair, { status: 404, body: { type: NOT_FOUND, detail: /no active translator/ } }, 'by pair: 404 (the active pointer went with it)')
  t.equal(app.translators.size, 1, 'still cached')
  const byId = await api('POST', '/v1/translate', { source: 'src', target: 'tgt', vectors, translator: id })
  t.match(byId, { status: 404, body: { type: NOT_FOUND, detail: new RegExp(`translator "${id}" does not exist`) } }, 'by id: 404, although cached')
  t.equal(app.translators.size, 0, 'and the stale entry is evicted')
  const evaluate = await api('POST', `/v1/translators/${id}/evaluate`, { vectors, targetVectors: vectors.map(row => row.slice(0, 6)), k: 1 })
  isProblem(t, evaluate, 'not-found', 'evaluate by id')
})
