import t from 'tap'
import { loadConfig } from '../src/config.js'
import { redisTargetFromConfig, storeOptionsFromConfig } from '../src/store/index.js'
import { configError } from './helpers/config.js'

/* Redis deployment settings: one Redis, Redis Cluster or Redis Sentinel, validated at start-up. */

const message = configError

t.test('no Redis: the memory store; defaults for the Redis tuning and the shutdown deadline', async t => {
  const c = loadConfig({})
  t.equal(redisTargetFromConfig(c), undefined)
  t.equal(c.REDIS_CONNECT_TIMEOUT_MS, 5000)
  t.equal(c.REDIS_COMMAND_TIMEOUT_MS, 5000)
  t.equal(c.STORE_BREAKER_PROBE_INTERVAL_MS, 500)
  t.equal(c.SHUTDOWN_TIMEOUT_MS, 10_000)
  t.equal(c.REDIS_SENTINEL_NAME, 'mymaster')
  t.equal(c.REDIS_TLS, false)
})

t.test('REDIS_URL: one Redis, with REDIS_USERNAME / REDIS_PASSWORD when the URL has none', async t => {
  t.same(redisTargetFromConfig(loadConfig({ REDIS_URL: 'redis://r:6379' })), { mode: 'standalone', url: 'redis://r:6379' })
  t.same(redisTargetFromConfig(loadConfig({ REDIS_URL: 'redis://r:6379', REDIS_PASSWORD: 'pw' })), { mode: 'standalone', url: 'redis://r:6379', password: 'pw' })
})

t.test('REDIS_CLUSTER_NODES: host:port list for the cluster client', async t => {
  const c = loadConfig({ REDIS_CLUSTER_NODES: ' redis-0.redis:6379, 10.0.0.7:7000 ,[::1]:7001', REDIS_PASSWORD: 'pw', REDIS_TLS: 'true', REDIS_COMMAND_TIMEOUT_MS: '750' })
  t.same(c.REDIS_CLUSTER_NODES, [{ host: 'redis-0.redis', port: 6379 }, { host: '10.0.0.7', port: 7000 }, { host: '::1', port: 7001 }])
  t.same(redisTargetFromConfig(c), {
    mode: 'cluster',
    nodes: [{ host: 'redis-0.redis', port: 6379 }, { host: '10.0.0.7', port: 7000 }, { host: '::1', port: 7001 }],
    password: 'pw',
    tls: true
  })
  t.match(storeOptionsFromConfig(c), { keyPrefix: 'latentbridge', commandTimeoutMs: 750, connectTimeoutMs: 5000, redis: { mode: 'cluster' } })
})

t.test('REDIS_SENTINELS: sentinel addresses, master name and credentials for the sentinel client', async t => {
  const c = loadConfig({
    REDIS_SENTINELS: 'sentinel-0:26379,sentinel-1:26379',
    REDIS_SENTINEL_NAME: 'primary-1',
    REDIS_SENTINEL_PASSWORD: 'spw',
    REDIS_USERNAME: 'app',
    REDIS_PASSWORD: 'pw'
  })
  t.same(redisTargetFromConfig(c), {
    mode: 'sentinel',
    sentinels: [{ host: 'sentinel-0', port: 26379 }, { host: 'sentinel-1', port: 26379 }],
    name: 'primary-1',
    username: 'app',
    password: 'pw',
    sentinelPassword: 'spw',
    tls: false
  })
})

t.test('bad Redis settings name the variable and say what to write; passwords are never echoed', async t => {
  t.match(message({ REDIS_CLUSTER_NODES: 'redis-0' }), /REDIS_CLUSTER_NODES="redis-0": "redis-0" is not host:port/)
  t.match(message({ REDIS_CLUSTER_NODES: 'a:1,b:99999' }), /"b:99999" is not host:port/)
  t.match(message({ REDIS_SENTINELS: ' , ' }), /REDIS_SENTINELS=" , ": no host:port given/)
  t.match(message({ REDIS_SENTINEL_NAME: 'my master' }), /REDIS_SENTINEL_NAME/)
  t.match(message({ REDIS_URL: 'redis://a:6379', REDIS_CLUSTER_NODES: 'a:6379' }), /REDIS_CLUSTER_NODES=.*set only one of REDIS_URL .*REDIS_CLUSTER_NODES .*REDIS_SENTINELS/)
  t.match(message({ REDIS_CLUSTER_NODES: 'a:6379', REDIS_SENTINELS: 'b:26379' }), /REDIS_SENTINELS=.*set only one/)
  t.match(message({ REDIS_URL: 'redis://a:6379', REDIS_TLS: 'true' }), /REDIS_TLS="true": with REDIS_URL, ask for TLS with the rediss:\/\/ scheme/)
  t.match(message({ REDIS_COMMAND_TIMEOUT_MS: '10' }), /REDIS_COMMAND_TIMEOUT_MS="10"/)
  t.match(message({ SHUTDOWN_TIMEOUT_MS: '-1' }), /SHUTDOWN_TIMEOUT_MS/)
  const withSecrets = message({ REDIS_SENTINEL_PASSWORD: 's3cret', REDIS_URL: 'redis://user:s3cret@a:6379', REDIS_SENTINELS: 'a:1' })
  t.match(withSecrets, /REDIS_SENTINELS=/)
  t.notMatch(withSecrets, /s3cret/, 'neither the sentinel password nor the password in REDIS_URL appears')
  const badUrl = message({ REDIS_URL: 'redis://user:s3cret@bad host:6379' })
  t.match(badUrl, /REDIS_URL="redis:\/\/\*\*\*@bad host:6379"/, 'a bad REDIS_URL is shown without its credentials')
  t.notMatch(badUrl, /s3cret/)
})
