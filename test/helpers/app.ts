import tap, { type Test } from 'tap'
import type { FastifyInstance } from 'fastify'
import { buildApp } from '../../src/app.js'
import { loadConfig } from '../../src/config.js'
import { PROBLEM_KINDS, problemType, type ProblemKind } from '../../src/errors.js'
import { createEngine } from '../../src/engine/index.js'
import type { Engine } from '../../src/engine/types.js'
import { MemoryStore } from '../../src/store/memory.js'
import type { Store } from '../../src/store/types.js'

type Tap = { teardown: (fn: () => unknown) => void }

let shared: Promise<Engine> | undefined

/**
 * One real engine per test process: ORT sessions and workers are costly to start. It closes when
 * the whole test file ends, after every app that used it.
 */
export async function testEngine (_t?: Tap): Promise<Engine> {
  if (shared === undefined) {
    const engine = createEngine({ executionProviders: ['cpu'], strict: false, intraOpThreads: 1, workers: 1, rowBudget: 4096, sessionCacheSize: 16 })
    shared = engine
    tap.teardown(async () => { await (await engine).close(); shared = undefined })
    return await engine
  }
  return await shared
}

/**
 * The real app (real engine, memory store unless one is given), ready for inject; closed on
 * teardown. `env` holds configuration variables as the server would read them.
 */
export async function testApp (t: Tap, opts: { env?: Record<string, string>, store?: Store } = {}): Promise<FastifyInstance> {
  // The overload guard measures the real event loop and heap: on a loaded CI machine (coverage on,
  // jobs in parallel) a large upload would trip it and turn other tests' answers into 503s. Off in
  // tests unless a test sets it (test/overload.test.ts does).
  // Fits stay synchronous in tests unless a test sets ASYNC_AFTER_MS (test/operations/).
  const config = loadConfig({ MAX_EVENT_LOOP_DELAY_MS: '0', MAX_HEAP_USED_BYTES: '0', ASYNC_AFTER_MS: '86400000', ...opts.env })
  const engine = await testEngine(t)
  const app = await buildApp(config, { store: opts.store ?? new MemoryStore(), engine, logger: false })
  await app.ready()
  t.teardown(async () => { await app.close() })
  return app
}

/** Parses a JSON reply body, failing loudly when it is not JSON. */
export function json<T = any> (res: { body: string }): T {
  return JSON.parse(res.body) as T
}

export { problemType }

/** A reply from inject (body unparsed) or from an Api of test/helpers/service.ts (body parsed). */
type Reply = { statusCode: number, headers: Record<string, unknown>, body: string } | { status: number, headers: Record<string, unknown>, body: unknown }

/**
 * Asserts that a reply is the problem+json of this kind: the kind's status, the content type and
 * the `type` URI clients branch on. Returns the problem, for checks of `detail` where its wording
 * is the point.
 */
export function isProblem (t: Test, res: Reply, kind: ProblemKind, label: string = kind): any {
  const { status } = PROBLEM_KINDS[kind]
  const body = 'statusCode' in res ? json(res) : res.body
  t.equal('statusCode' in res ? res.statusCode : res.status, status, `${label}: status ${status}`)
  t.match(String(res.headers['content-type']), /^application\/problem\+json/, `${label}: problem+json`)
  t.match(body, { type: problemType(kind), title: String, status, detail: String }, `${label}: ${kind}`)
  return body
}
