import t from 'tap'
import type { FastifyInstance } from 'fastify'
import { isProblem, json } from '../helpers/app.js'
import { redisSkipReason } from '../helpers/redis-server.js'
import { memoryApp, redisApp, type AppFactory } from '../helpers/stores.js'
import { seedTranslator } from '../helpers/fixtures.js'

/** Follows `next` from the first page to the last; `between` runs after each page but the last. */
async function walk (app: FastifyInstance, url: string, field: string, limit: number, between?: (page: number) => Promise<void>): Promise<{ items: any[], pages: number }> {
  const items: any[] = []
  let cursor: string | null = null
  let pages = 0
  do {
    const sep = url.includes('?') ? '&' : '?'
    const res: { statusCode: number, body: string } = await app.inject({ method: 'GET', url: `${url}${sep}limit=${limit}${cursor !== null ? `&cursor=${encodeURIComponent(cursor)}` : ''}` })
    if (res.statusCode !== 200) throw new Error(`${url}: ${res.statusCode} ${res.body}`)
    const body: any = json(res)
    if (body[field].length > limit) throw new Error(`page of ${body[field].length} over limit ${limit}`)
    items.push(...body[field])
    cursor = body.next
    pages++
    if (cursor !== null && between !== undefined) await between(pages)
  } while (cursor !== null)
  return { items, pages }
}

const putSpace = async (app: FastifyInstance, name: string): Promise<void> => {
  const res = await app.inject({ method: 'PUT', url: `/v1/spaces/${encodeURIComponent(name)}`, payload: { dim: 2 } })
  if (res.statusCode !== 201) throw new Error(res.body)
}

const putSet = async (app: FastifyInstance, name: string): Promise<void> => {
  const res = await app.inject({ method: 'PUT', url: `/v1/anchor-sets/${encodeURIComponent(name)}`, payload: { ids: ['x', 'y'] } })
  if (res.statusCode !== 201) throw new Error(res.body)
}

// Names in an order that is not the sorted one, some holding characters of the name alphabet that sort oddly.
const NAMES = Array.from({ length: 23 }, (_, i) => `s${String((i * 7) % 23).padStart(2, '0')}${i % 3 === 0 ? '/x' : i % 3 === 1 ? '.y' : '-z'}`)

function suite (name: string, makeApp: AppFactory, skip: string | false): void {
  t.test(name, { skip }, async t => {
    t.test('spaces: pages concatenate to the whole sorted list, also with inserts and deletes between pages', async t => {
      const app = await makeApp(t)
      for (const name of NAMES) await putSpace(app, name)
      const whole = json(await app.inject({ method: 'GET', url: '/v1/spaces?limit=1000' }))
      t.equal(whole.next, null, 'one page holds all')
      const sorted = [...NAMES].sort()
      t.same(whole.spaces.map((s: any) => s.name), sorted, 'sorted by name, as before')

      for (const limit of [1, 5, 22, 23, 24]) {
        const { items, pages } = await walk(app, '/v1/spaces', 'spaces', limit)
        t.same(items.map(s => s.name), sorted, `limit ${limit}: no duplicate, no gap`)
        t.equal(pages, Math.max(1, Math.ceil(sorted.length / limit)), `limit ${limit}: pages`)
      }

      // Between pages: one name sorting before the cursor, one after, and a deletion of one not yet listed.
      const deleted = sorted[20]
      const { items } = await walk(app, '/v1/spaces', 'spaces', 5, async page => {
        if (page !== 2) return
        await putSpace(app, 'a-first')
        await putSpace(app, 'z-last')
        t.equal((await app.inject({ method: 'DELETE', url: `/v1/spaces/${encodeURIComponent(deleted)}` })).statusCode, 204)
      })
      const names = items.map(s => s.name)
      t.equal(new Set(names).size, names.length, 'no duplicate after inserts')
      t.same(names, [...sorted.filter(n => n !== deleted), 'z-last'], 'every item there throughout, once; the later insert too; the earlier one is behind the cursor')
    })

    t.test('anchor sets: pages concatenate to the whole list, also with an insert between pages', async t => {
      const app = await makeApp(t)
      for (const name of NAMES) await putSet(app, name)
      const sorted = [...NAMES].sort()
      const { items } = await walk(app, '/v1/anchor-sets', 'anchorSets', 4, async page => {
        if (page === 3) await putSet(app, 'zz')
      })
      t.same(items.map(s => s.name), [...sorted, 'zz'])
      t.match(items[0], { size: 2, spaces: {} }, 'the summaries are whole')
      const first = json(await app.inject({ method: 'GET', url: '/v1/anchor-sets?limit=3' }))
      t.equal(first.anchorSets.length, 3)
      t.type(first.next, 'string')
    })

    t.test('translators: pages by source, target and version, with a filter, and an insert between pages', async t => {
      const app = await makeApp(t)
      for (const name of ['a', 'b', 'c']) await putSpace(app, name)
      await putSet(app, 'set')
      const pairs: Array<[string, string]> = [['a', 'b'], ['a', 'b'], ['b', 'a'], ['a', 'c'], ['a', 'b'], ['c', 'a'], ['b', 'a'], ['a', 'c']]
      for (const [source, target] of pairs) await seedTranslator(app.store, { source, target, anchorSet: 'set', sourceDim: 2, targetDim: 2 })
      const whole = json(await app.inject({ method: 'GET', url: '/v1/translators' }))
      t.equal(whole.translators.length, pairs.length)
      t.equal(whole.next, null)
      const key = (x: any): string => `${x.source}|${x.target}|${x.version}`

      const { items } = await walk(app, '/v1/translators', 'translators', 3, async page => {
        // After the second page (cursor b|a|1): a new version of the last pair (after the cursor) and of the first (behind it).
        if (page === 2) {
          await seedTranslator(app.store, { source: 'c', target: 'a', anchorSet: 'set', sourceDim: 2, targetDim: 2 })
          await seedTranslator(app.store, { source: 'a', target: 'b', anchorSet: 'set', sourceDim: 2, targetDim: 2 })
        }
      })
      t.same(items.map(key), [...whole.translators.map(key), 'c|a|2'], 'each once, in the order of the whole list')

      const filtered = await walk(app, '/v1/translators?source=a', 'translators', 2)
      t.same(filtered.items.map(key), ['a|b|1', 'a|b|2', 'a|b|3', 'a|b|4', 'a|c|1', 'a|c|2'])
    })

    t.test('limit bounds and malformed cursors are 400 invalid-request', async t => {
      const app = await makeApp(t)
      for (let i = 0; i < 101; i++) await putSpace(app, `n${String(i).padStart(3, '0')}`)
      const byDefault = json(await app.inject({ method: 'GET', url: '/v1/spaces' }))
      t.equal(byDefault.spaces.length, 100, 'default limit 100')
      t.type(byDefault.next, 'string')
      const rest = json(await app.inject({ method: 'GET', url: `/v1/spaces?cursor=${byDefault.next}` }))
      t.same(rest.spaces.map((s: any) => s.name), ['n100'])
      t.equal(rest.next, null)
      t.equal((await app.inject({ method: 'GET', url: '/v1/spaces?limit=1000' })).statusCode, 200, 'limit 1000 is allowed')

      for (const url of ['/v1/spaces', '/v1/anchor-sets', '/v1/translators']) {
        const over = isProblem(t, await app.inject({ method: 'GET', url: `${url}?limit=1001` }), 'invalid-request', `${url} limit 1001`)
        t.match(JSON.stringify(over), /1000/, 'names the maximum')
        isProblem(t, await app.inject({ method: 'GET', url: `${url}?limit=0` }), 'invalid-request', `${url} limit 0`)
        isProblem(t, await app.inject({ method: 'GET', url: `${url}?limit=ten` }), 'invalid-request', `${url} limit ten`)
        for (const cursor of ['not base64!', Buffer.from('not json').toString('base64url'), Buffer.from('{"a":1}').toString('base64url'), Buffer.from('[1,2,3,4]').toString('base64url')]) {
          isProblem(t, await app.inject({ method: 'GET', url: `${url}?cursor=${encodeURIComponent(cursor)}` }), 'invalid-request', `${url} cursor ${cursor}`)
        }
      }
      // A space-list cursor does not fit the translator list's key.
      isProblem(t, await app.inject({ method: 'GET', url: `/v1/translators?cursor=${byDefault.next}` }), 'invalid-request', 'cursor of another list')
    })
  })
}

suite('memory store', memoryApp, false)
suite('redis store', redisApp, redisSkipReason())
