import { existsSync } from 'node:fs'
import t, { type Test } from 'tap'
import type { FastifyInstance } from 'fastify'
import { chromium, type Browser } from 'playwright-core'
import { percent } from '../../src/analysis/report-page.js'
import { json, testApp } from '../helpers/app.js'
import { values } from '../helpers/data.js'

/*
 * The report's page in a real headless Chromium (Debian's package, never a downloaded browser):
 * the browser itself POSTs the request with its own Accept header to the real app, renders the
 * answer, and must draw the curves, show the figures the JSON form gives, and request nothing else.
 */

const CHROMIUM = '/usr/bin/chromium'
const skip = existsSync(CHROMIUM) ? false : 'chromium not installed: apt-get install chromium'

const DIM = 6
const ANCHORS = 100
const HELD_OUT = 60

/** Two 6-d spaces related by a permutation, a common offset and noise; rows i .. i + count. */
function rows (count: number, seed: number): { a: number[][], b: number[][] } {
  const base = values(count * DIM, seed)
  const noise = values(count * DIM, seed + 1)
  const a: number[][] = []
  const b: number[][] = []
  for (let i = 0; i < count; i++) {
    const x = Array.from(base.subarray(i * DIM, (i + 1) * DIM))
    a.push(x)
    b.push(x.map((_, j) => Math.fround(x[(j + 2) % DIM] + 1 + 0.5 * noise[i * DIM + j])))
  }
  return { a, b }
}

async function seed (t: Test, app: FastifyInstance): Promise<string> {
  const send = async (method: 'PUT' | 'POST', url: string, payload: object): Promise<any> => {
    const res = await app.inject({ method, url, payload })
    t.ok(res.statusCode < 300, `${method} ${url}: ${res.statusCode} ${res.statusCode >= 300 ? res.body : ''}`)
    return json(res)
  }
  const anchors = rows(ANCHORS, 3)
  await send('PUT', '/v1/spaces/old-model', { dim: DIM })
  await send('PUT', '/v1/spaces/new-model', { dim: DIM })
  await send('PUT', '/v1/anchor-sets/shared', { ids: Array.from({ length: ANCHORS }, (_, i) => `doc-${i}`) })
  await send('PUT', '/v1/anchor-sets/shared/embeddings/old-model', { vectors: anchors.a })
  await send('PUT', '/v1/anchor-sets/shared/embeddings/new-model', { vectors: anchors.b })
  await send('POST', '/v1/translators', { source: 'new-model', target: 'old-model', anchorSet: 'shared', method: 'procrustes', scaling: 'center', holdout: 0 })
  const forward = await send('POST', '/v1/translators', { source: 'old-model', target: 'new-model', anchorSet: 'shared', method: 'procrustes', scaling: 'center', holdout: 0 })
  return forward.id
}

t.test('the page renders in Chromium: curves drawn, figures shown, nothing else requested', { skip, timeout: 90_000 }, async t => {
  const app = await testApp(t)
  const id = await seed(t, app)
  const held = rows(HELD_OUT, 41)
  const body = { vectors: held.a, targetVectors: held.b }
  const base = await app.listen({ host: '127.0.0.1', port: 0 })
  const url = `${base}/v1/translators/${id}/report`
  const report = json(await app.inject({ method: 'POST', url: `/v1/translators/${id}/report`, payload: body }))
  t.equal(report.directions.length, 2, 'both directions (a translator each way)')

  const browser: Browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync']
  })
  t.teardown(async () => { await browser.close() })
  const page = await browser.newPage({ viewport: { width: 1100, height: 900 } })
  page.setDefaultTimeout(15_000)
  const requested: string[] = []
  const problems: string[] = []
  page.on('request', request => requested.push(`${request.method()} ${request.url()}`))
  page.on('pageerror', err => problems.push(err.message))
  page.on('console', message => { if (message.type() === 'error' || message.type() === 'warning') problems.push(message.text()) })
  // The navigation goes out as the POST the API takes, with the browser's own Accept header.
  await page.route(url, async route => {
    await route.continue({ method: 'POST', postData: JSON.stringify(body), headers: { ...route.request().headers(), 'content-type': 'application/json' } })
  })
  const response = await page.goto(url)
  t.equal(response?.status(), 200)
  t.match(await response?.headerValue('content-type'), /^text\/html/, "the browser's Accept gets the page")
  t.match((await response?.request().allHeaders())?.accept, /text\/html/)

  t.equal(await page.title(), 'Migration report: old-model → new-model')
  t.equal(await page.locator('section.direction').count(), 2)
  t.equal(await page.locator('svg.chart').count(), 4, 'two charts per direction')
  // Each curve is drawn: three polylines per direction, each with a point per threshold and a real size.
  const curves = page.locator('svg.chart polyline.curve')
  t.equal(await curves.count(), 6)
  for (let i = 0; i < 6; i++) {
    const points = (await curves.nth(i).getAttribute('points') ?? '').trim().split(/\s+/)
    t.ok(points.length >= 2, `curve ${i} has ${points.length} points`)
    const box = await curves.nth(i).boundingBox()
    t.ok(box !== null && box.width > 100, `curve ${i} is rendered ${box?.width.toFixed(0) ?? 'without a box'} px wide`)
  }
  const first = await page.locator('svg.chart').first().boundingBox()
  t.ok(first !== null && first.width > 200 && first.height > 100, 'the charts take room on the page')

  // The figures on the page are the JSON's.
  for (const [n, d] of (report.directions as any[]).entries()) {
    const section = page.locator('section.direction').nth(n)
    t.match(await section.locator('h2').innerText(), `${d.source as string} → ${d.target as string}`)
    t.match(await section.innerText(), d.translator.id, 'names the translator used')
    for (const k of ['1', '5', '10']) {
      t.equal(await section.locator(`[data-figure="recall@${k}"]`).innerText(), percent(d.recall[`at${k}`]), `${d.direction as string} recall@${k}`)
      t.equal(await section.locator(`[data-figure="retrieval@${k}"]`).innerText(), percent(d.retrieval[`at${k}`]), `${d.direction as string} retrieval@${k}`)
    }
    t.equal(await section.locator('[data-figure="mrr"]').innerText(), d.mrr.toFixed(3))
    const curveRows = section.locator('table.curve-table tbody tr')
    t.equal(await curveRows.count(), 21, 'the curve as a table too')
    t.equal(await curveRows.nth(10).locator('td').nth(2).innerText(), percent(d.coverage[10].coverage), 'coverage at threshold 0.5')
  }

  t.same(requested, [`GET ${url}`], 'the page requested nothing but itself')
  t.same(problems, [], 'no script errors, no CSP violations')
})
