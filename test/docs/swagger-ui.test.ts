import { existsSync, mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { chromium, type Browser, type Locator, type Page } from 'playwright-core'
import { testApp } from '../helpers/app.js'

/*
 * The OpenAPI document checked the way a person reads it: Swagger UI at /docs in a real headless
 * Chromium (Debian's package, never a downloaded browser), every operation expanded, and the
 * example requests of the reads and the compute operations executed from the page against the
 * real app, seeded with what the examples name.
 */

const CHROMIUM = '/usr/bin/chromium'
// Every operation expanded one by one takes ~30 s on a quiet machine and several times that on a
// loaded one: time enough for the slow case, since what the test checks is order, not speed.
t.setTimeout(360_000)
const skip = existsSync(CHROMIUM) ? false : 'chromium not installed: apt-get install chromium'

type Json = Record<string, any>

/** Operations executed from the page: every GET, and the POSTs that compute. */
const COMPUTE_POSTS = ['relative', 'similarity', 'translate', 'fitTranslator', 'selectAnchors', 'evaluateTranslator']

t.test('Swagger UI shows every operation, and the examples succeed from the page', { skip, timeout: 300_000 }, async t => {
  const app = await testApp(t)
  const base = await app.listen({ host: '127.0.0.1', port: 0 })
  const doc = await (await fetch(`${base}/openapi.json`)).json() as Json

  const operations: Array<{ path: string, method: string, op: Json }> = []
  for (const [path, item] of Object.entries<Json>(doc.paths)) {
    for (const [method, op] of Object.entries<Json>(item)) operations.push({ path, method, op })
  }
  const find = (operationId: string): { path: string, method: string, op: Json } => {
    const found = operations.find(o => o.op.operationId === operationId)
    if (found === undefined) throw new Error(`no operation ${operationId}`)
    return found
  }
  // Bodies are named components: the example lives on the component the body refers to.
  const bodyExample = (operationId: string): unknown => {
    const schema = find(operationId).op.requestBody.content['application/json'].schema
    return (schema.$ref !== undefined ? doc.components.schemas[schema.$ref.split('/').pop()] : schema).example
  }
  const paramExample = (operationId: string, name: string): string => find(operationId).op.parameters.find((p: Json) => p.name === name).schema.example

  // Seed what the examples name, with the document's own examples: spaces demo-a and demo-b, set
  // demo with embeddings in both, and a translator demo-a → demo-b (the translate example's pair).
  const send = async (method: string, url: string, body: unknown): Promise<Json> => {
    const res = await fetch(base + url, { method, headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) })
    const text = await res.text()
    t.ok(res.status < 300, `seed ${method} ${url} → ${res.status} ${res.status >= 300 ? text : ''}`)
    return JSON.parse(text) as Json
  }
  const fit = bodyExample('fitTranslator') as Json
  const set = paramExample('putAnchorSet', 'set')
  for (const space of [fit.source, fit.target]) await send('PUT', `/v1/spaces/${String(space)}`, bodyExample('putSpace'))
  await send('PUT', `/v1/anchor-sets/${set}`, bodyExample('putAnchorSet'))
  for (const space of [fit.source, fit.target]) await send('PUT', `/v1/anchor-sets/${set}/embeddings/${String(space)}`, bodyExample('putEmbeddings'))
  // Fitted as an operation, so that one {id} names both the operation and its translator.
  const fitted = await fetch(base + '/v1/translators', { method: 'POST', headers: { 'content-type': 'application/json', prefer: 'respond-async' }, body: JSON.stringify(fit) })
  t.equal(fitted.status, 202, 'seed POST /v1/translators as an operation')
  let operation = await fitted.json() as Json
  while (operation.status === 'queued' || operation.status === 'running') {
    operation = await (await fetch(`${base}/v1/operations/${String(operation.id)}?wait=30`)).json() as Json
  }
  t.equal(operation.status, 'succeeded', 'the seeded fit succeeded')
  const translator = operation.result as Json
  t.equal(translator.id, operation.id, 'a translator (and an operation) to name in {id}')
  // Path parameters without an example take the seeded names.
  const seeded: Record<string, string> = { space: String(fit.source), set, id: String(translator.id) }

  const browser: Browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync']
  })
  t.teardown(async () => { await browser.close() })
  const page: Page = await browser.newPage({ viewport: { width: 1400, height: 1000 } })
  const pageErrors: string[] = []
  page.on('pageerror', err => pageErrors.push(err.message))
  page.setDefaultTimeout(15_000)

  let shot = ''
  const screenshot = async (): Promise<void> => {
    if (shot !== '') return
    shot = join(mkdtempSync(join(tmpdir(), 'swagger-ui-')), 'failure.png')
    await page.screenshot({ path: shot, fullPage: true }).catch(() => {})
    t.comment(`screenshot of the failing page: ${shot}`)
  }

  try {
    await page.goto(`${base}/docs/`)
    const blocks = page.locator('.opblock')
    await blocks.first().waitFor()
    t.equal(await blocks.count(), operations.length, `Swagger UI lists the document's ${operations.length} operations`)

    // Swagger UI names each block operations-<tag>-<operationId>. One block open at a time: with
    // all of them open every click re-renders them all, and the page slows to seconds per click.
    const block = (operationId: string): Locator => page.locator(`.opblock[id$="-${operationId}"]`).first()
    const executes = ({ method, op }: { method: string, op: Json }): boolean => method === 'get' || COMPUTE_POSTS.includes(op.operationId)
    let expanded = 0
    let executed = 0
    for (const { path, method, op } of operations) {
      const label = `${method.toUpperCase()} ${path} (${String(op.operationId)})`
      const b = block(op.operationId)
      const summary = b.locator('.opblock-summary').first()
      await summary.click()
      await b.locator('.opblock-body').waitFor()
      if (await b.evaluate(el => el.classList.contains('is-open'))) expanded++
      if (executes({ method, op })) {
        // tryItOutEnabled opens the form already; click "Try it out" where it is still offered.
        const tryOut = b.locator('button.try-out__btn:not(.cancel)')
        if (await tryOut.count() > 0) await tryOut.first().click()
        for (const param of op.parameters ?? []) {
          if (param.in !== 'path') continue
          const input = b.locator(`tr[data-param-name="${String(param.name)}"][data-param-in="path"] input`).first()
          // What was seeded replaces an example id (which names nothing here).
          const value = seeded[param.name]
          if (value !== undefined) await input.fill(value)
        }
        await b.locator('button.execute').first().click()
        const status = b.locator('.live-responses-table .response .response-col_status').first()
        await status.waitFor()
        const shown = (await status.innerText()).trim()
        const ok = /^2\d\d/.test(shown)
        if (!ok) await screenshot()
        t.ok(ok, `${label}: Swagger UI shows ${shown}`)
        executed++
      }
      await summary.click()
      await b.locator('.opblock-body').waitFor({ state: 'detached' })
    }
    t.equal(expanded, operations.length, `each of the ${operations.length} operations expands`)
    t.equal(executed, operations.filter(executes).length, 'every GET and compute POST was executed')
    t.same(pageErrors, [], 'no script errors in the page')
  } catch (err) {
    await screenshot()
    throw err
  }
  if (t.counts.fail > 0) await screenshot()
})
