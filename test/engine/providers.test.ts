/**
 * Execution-provider fallback and strict mode. This machine has no GPU and onnxruntime-node's
 * CUDA/TensorRT libraries are not installed, so 'cuda' and 'tensorrt' fail to load: exactly the
 * fallback path a GPU host takes when its drivers are missing.
 */
import t from 'tap'
import { createEngine, type EngineConfig } from '../../src/engine/index.js'
import { providerOrder } from '../../src/engine/runtime.js'

interface LogCall { level: 'info' | 'warn' | 'error', obj: Record<string, unknown>, msg?: string }

function recordingLogger (): { calls: LogCall[], logger: NonNullable<EngineConfig['logger']> } {
  const calls: LogCall[] = []
  const at = (level: LogCall['level']) => (obj: object, msg?: string) => { calls.push({ level, obj: obj as Record<string, unknown>, msg }) }
  return { calls, logger: { info: at('info'), warn: at('warn'), error: at('error') } }
}

function config (overrides: Partial<EngineConfig>): EngineConfig {
  return { executionProviders: ['cpu'], strict: false, intraOpThreads: 1, workers: 0, rowBudget: 1024, sessionCacheSize: 4, ...overrides }
}

t.test('provider order: lower-cased, de-duplicated, always ending on cpu', async t => {
  t.same(providerOrder(['CUDA', 'cuda', 'tensorrt']), ['cuda', 'tensorrt', 'cpu'])
  t.same(providerOrder(['cpu', 'cuda']), ['cpu'], 'nothing after cpu is tried')
  t.same(providerOrder([]), ['cpu'])
})

for (const workers of [0, 2]) {
  t.test(`cuda falls back to cpu (workers: ${workers})`, async t => {
    const { calls, logger } = recordingLogger()
    const engine = await createEngine(config({ executionProviders: ['cuda', 'cpu'], workers, logger }))
    t.teardown(async () => { await engine.close() })
    const info = engine.info()
    t.equal(info.executionProvider, 'cpu')
    t.same(info.requested, ['cuda', 'cpu'])
    t.equal(info.failed.length, 1)
    t.equal(info.failed[0].provider, 'cuda')
    t.match(info.failed[0].error, /cuda/i, 'the failure carries ORT\'s message')
    const warnings = calls.filter(c => c.level === 'warn')
    t.equal(warnings.length, 1, 'the failure is logged once, not once per worker')
    t.equal(warnings[0].obj.provider, 'cuda')
    t.match(String(warnings[0].obj.err), /cuda/i)
    t.ok(calls.some(c => c.level === 'info' && c.obj.executionProvider === 'cpu'), 'the provider in use is logged')
    await engine.probe()
    const r = await engine.relative({ rows: 1, cols: 2, data: Float32Array.from([1, 0]) }, { rows: 1, cols: 2, data: Float32Array.from([0, 1]) },
      { projections: ['cosine'], center: false, normalize: 'none' })
    t.same(Array.from(r.matrix.data), [0], 'computes on the fallback')
  })
}

t.test('every failing provider is tried in order, then cpu', async t => {
  const { calls, logger } = recordingLogger()
  const engine = await createEngine(config({ executionProviders: ['tensorrt', 'cuda', 'no-such-provider'], workers: 2, logger }))
  t.teardown(async () => { await engine.close() })
  t.same(engine.info().failed.map(f => f.provider), ['tensorrt', 'cuda', 'no-such-provider'])
  t.equal(engine.info().executionProvider, 'cpu')
  t.same(calls.filter(c => c.level === 'warn').map(c => c.obj.provider), ['tensorrt', 'cuda', 'no-such-provider'])
})

for (const workers of [0, 2]) {
  t.test(`strict mode rejects when a provider fails (workers: ${workers})`, async t => {
    const { calls, logger } = recordingLogger()
    await t.rejects(createEngine(config({ executionProviders: ['cuda', 'cpu'], strict: true, workers, logger })), /cuda/i)
    t.ok(calls.some(c => c.level === 'error' && c.obj.provider === 'cuda'), 'the failure is logged as an error')
  })
}

t.test('strict mode with a provider that loads', async t => {
  const engine = await createEngine(config({ executionProviders: ['cpu'], strict: true, workers: 1 }))
  t.teardown(async () => { await engine.close() })
  t.same(engine.info().failed, [])
  t.equal(engine.info().executionProvider, 'cpu')
  t.equal(engine.info().workers, 1)
  t.equal(engine.info().threads, 1)
})
