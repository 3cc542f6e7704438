import t from 'tap'
import { ConfigError, loadConfig } from '../src/config.js'

t.test('defaults', async t => {
  const c = loadConfig({})
  t.equal(c.PORT, 8080)
  t.equal(c.HOST, '0.0.0.0')
  t.equal(c.BODY_LIMIT, 64 * 1024 * 1024)
  t.equal(c.REDIS_URL, undefined, 'no REDIS_URL: embedded store')
  t.same(c.EXECUTION_PROVIDERS, ['cpu'])
  t.same(c.API_KEYS, [])
  t.equal(c.DOCS_ENABLED, true)
})

t.test('values are parsed', async t => {
  const c = loadConfig({ PORT: '9000', EXECUTION_PROVIDERS: 'CUDA, cpu', API_KEYS: 'aaaaaaaaaa:read,bbbbbbbbbb', EXECUTION_PROVIDERS_STRICT: 'true', REDIS_URL: '' })
  t.equal(c.PORT, 9000)
  t.same(c.EXECUTION_PROVIDERS, ['cuda', 'cpu'])
  t.same(c.API_KEYS, [{ key: 'aaaaaaaaaa', scope: 'read' }, { key: 'bbbbbbbbbb', scope: 'write' }])
  t.equal(c.EXECUTION_PROVIDERS_STRICT, true)
  t.equal(c.REDIS_URL, undefined, 'an empty variable counts as unset')
})

t.test('a bad value names the variable and what it should be', async t => {
  t.throws(() => loadConfig({ PORT: 'eighty' }), ConfigError)
  try {
    loadConfig({ PORT: '70000', EXECUTION_PROVIDERS: 'gpu', LOG_LEVEL: 'loud' })
    t.fail('should throw')
  } catch (err) {
    const message = (err as Error).message
    t.match(message, /PORT="70000"/)
    t.match(message, /EXECUTION_PROVIDERS="gpu": unknown execution provider "gpu"/)
    t.match(message, /LOG_LEVEL="loud"/)
  }
  try {
    loadConfig({ API_KEYS: 'secret-key-123:admin' })
    t.fail('should throw')
  } catch (err) {
    t.match((err as Error).message, /API_KEYS=\(hidden\)/, 'keys are never echoed')
    t.notMatch((err as Error).message, /secret-key-123/)
  }
})
