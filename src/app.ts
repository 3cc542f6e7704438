import { createRequire } from 'node:module'
import Fastify, { LogController, type FastifyInstance, type FastifyServerOptions } from 'fastify'
import fp from 'fastify-plugin'
import { serializerCompiler, validatorCompiler, type ZodTypeProvider } from 'fastify-type-provider-zod'
import type { Config } from './config.js'
import { createEngine } from './engine/index.js'
import type { Engine } from './engine/types.js'
import auth from './plugins/auth.js'
import contentTypes from './plugins/content-types.js'
import budget from './services/budget.js'
import deadline from './plugins/deadline.js'
import enginePlugin from './services/engine.js'
import metrics from './plugins/metrics.js'
import compute from './services/compute.js'
import cors from './plugins/cors.js'
import { instrumentEngine, instrumentStore } from './plugins/instrument.js'
import pressure from './plugins/pressure.js'
import problems, { clientErrorHandler, frameworkErrors } from './plugins/problems.js'
import storePlugin from './services/store.js'
import swagger from './plugins/swagger.js'
import operations from './routes/operations.js'
import anchorSets from './routes/v1/anchor-sets.js'
import computeRoutes from './routes/v1/compute.js'
import translators from './routes/v1/translators.js'
import report from './routes/v1/report.js'
import info from './routes/v1/info.js'
import translatorsPlugin from './services/translators.js'
import operationsService from './services/operations.js'
import operationRoutes from './routes/v1/operations.js'
import spaces from './routes/v1/spaces.js'
import { createStore, redisTargetFromConfig, storeOptionsFromConfig } from './store/index.js'
import type { Store } from './store/types.js'
import { VERSION } from './version.js'

/**
 * The application as a plugin: everything but listening. server.ts wraps it for production; tests
 * build it with buildApp and call it through inject or a real socket.
 */

export interface AppOptions {
  config: Config
  store: Store
  engine: Engine
  /** Whether closing the app closes the store / engine (false when the caller shares them). */
  ownsStore: boolean
  ownsEngine: boolean
}

export default async function app (fastify: FastifyInstance, opts: AppOptions): Promise<void> {
  const { config } = opts
  // Binary bodies (octet-stream, npy) skip schema validation: the codecs check them against the
  // space's dim and name the first bad row and column.
  fastify.setValidatorCompiler(req => {
    const validate = validatorCompiler(req as Parameters<typeof validatorCompiler>[0])
    if (req.httpPart !== 'body') return validate
    return (data: unknown) => Buffer.isBuffer(data) ? { value: data } : validate(data)
  })
  fastify.setSerializerCompiler(serializerCompiler)

  await fastify.register(problems, { bodyLimit: config.BODY_LIMIT })
  await fastify.register(metrics, { version: VERSION })
  await fastify.register(deadline, { handlerTimeoutMs: config.HANDLER_TIMEOUT_MS })
  await fastify.register(budget, {
    memoryBytes: config.WORK_MEMORY_BYTES,
    timeMs: config.WORK_TIME_MS,
    retryAfterSeconds: config.WORK_RETRY_AFTER_S,
    maxTranslatorBytes: config.MAX_TRANSLATOR_BYTES
  })
  await fastify.register(pressure, {
    maxEventLoopDelayMs: config.MAX_EVENT_LOOP_DELAY_MS,
    maxHeapUsedBytes: config.MAX_HEAP_USED_BYTES,
    maxRssBytes: config.MAX_RSS_BYTES,
    sampleIntervalMs: config.PRESSURE_SAMPLE_INTERVAL_MS,
    retryAfterSeconds: config.PRESSURE_RETRY_AFTER_S
  })
  await fastify.register(cors, { origins: config.CORS_ORIGINS })
  // After CORS (preflights are answered, and problems carry CORS headers, before authentication)
  // and before every route: each route registered from here on must declare its scope.
  await fastify.register(auth, { keys: config.API_KEYS })
  await fastify.register(contentTypes, {
    bodyLimit: config.BODY_LIMIT,
    largeJsonBytes: config.LARGE_JSON_BYTES,
    largeJsonConcurrency: config.LARGE_JSON_CONCURRENCY,
    largeJsonQueue: config.LARGE_JSON_QUEUE,
    retryAfterSeconds: config.PRESSURE_RETRY_AFTER_S
  })
  // The store and the engine go in wrapped by metrics decorators (src/plugins/instrument.ts).
  await fastify.register(storePlugin, { store: instrumentStore(opts.store, fastify.metrics), owned: opts.ownsStore })
  await fastify.register(enginePlugin, {
    engine: instrumentEngine(opts.engine, fastify.metrics),
    owned: opts.ownsEngine,
    probeIntervalMs: config.ENGINE_PROBE_INTERVAL_MS,
    probeTimeoutMs: config.ENGINE_PROBE_TIMEOUT_MS
  })
  await fastify.register(translatorsPlugin, { cacheSize: config.TRANSLATOR_CACHE })
  await fastify.register(compute, {
    windowMs: config.BATCH_WINDOW_MS,
    maxRows: config.BATCH_MAX_ROWS,
    queueRows: config.QUEUE_MAX_ROWS,
    retryAfterSeconds: config.QUEUE_RETRY_AFTER_S
  })
  // Operations run on BullMQ when the app's store is on the configured Redis (the same Redis), else
  // in process. A store handed in by the caller (tests) says nothing of where its Redis is.
  await fastify.register(operationsService, {
    redis: opts.ownsStore && opts.store.kind === 'redis' ? redisTargetFromConfig(config) : undefined,
    keyPrefix: config.REDIS_KEY_PREFIX,
    concurrency: config.FIT_CONCURRENCY,
    asyncAfterMs: config.ASYNC_AFTER_MS,
    syncWaitMs: config.HANDLER_TIMEOUT_MS > 0 ? Math.max(0, config.HANDLER_TIMEOUT_MS - 1000) : 300_000,
    ttlMs: config.OPERATION_TTL_S * 1000,
    maxQueued: config.OPERATIONS_MAX_QUEUED,
    retryAfterSeconds: config.OPERATIONS_RETRY_AFTER_S,
    idempotencyTtlMs: config.IDEMPOTENCY_TTL_S * 1000,
    attempts: config.OPERATION_ATTEMPTS,
    lockMs: config.OPERATION_LOCK_MS,
    stalledIntervalMs: config.OPERATION_STALLED_INTERVAL_MS,
    maxStalled: config.OPERATION_MAX_STALLED
  })
  await fastify.register(swagger, { version: VERSION, docs: config.DOCS_ENABLED })

  const api = fastify.withTypeProvider<ZodTypeProvider>()
  await api.register(operations, { metricsRoute: config.METRICS_PORT === undefined })
  await api.register(spaces, { maxDim: config.MAX_DIM, maxMetadataBytes: config.MAX_METADATA_BYTES })
  await api.register(anchorSets, { maxAnchors: config.MAX_ANCHORS_PER_SET, maxRows: config.MAX_ROWS_PER_REQUEST, maxSetBytes: config.MAX_SET_BYTES })
  await api.register(computeRoutes, { maxRows: config.MAX_ROWS_PER_REQUEST })
  await api.register(translators, { maxRows: config.MAX_ROWS_PER_REQUEST })
  await api.register(report, { maxRows: config.MAX_ROWS_PER_REQUEST })
  await api.register(operationRoutes)
  await api.register(info, { config })
}

function prettyTransport (): FastifyServerOptions['logger'] | undefined {
  if (process.stdout.isTTY !== true) return undefined
  try {
    createRequire(import.meta.url).resolve('pino-pretty')
    return { transport: { target: 'pino-pretty', options: { translateTime: 'SYS:HH:MM:ss.l', ignore: 'pid,hostname' } } } as FastifyServerOptions['logger']
  } catch {
    return undefined // pino-pretty is a dev dependency; production images log JSON
  }
}

/** Fastify's options. `logTo` sends JSON log lines to a stream instead of stdout (tests). */
export function serverOptions (config: Config, logger: boolean = true, logTo?: NodeJS.WritableStream): FastifyServerOptions {
  const pretty = logTo === undefined ? prettyTransport() : undefined
  return {
    logger: logger
      ? {
          level: config.LOG_LEVEL,
          // Keys must never reach the logs.
          redact: { paths: ['req.headers.authorization', 'headers.authorization'], censor: '[redacted]' },
          ...(logTo !== undefined ? { stream: logTo } : {}),
          ...(typeof pretty === 'object' ? pretty : {})
        }
      : false,
    bodyLimit: config.BODY_LIMIT,
    // One line per request is written by the metrics plugin, with route, status, duration and rows.
    logController: new LogController({ disableRequestLogging: true, requestIdLogLabel: 'requestId' }),
    requestIdHeader: 'x-request-id',
    connectionTimeout: config.CONNECTION_TIMEOUT_MS,
    requestTimeout: config.REQUEST_TIMEOUT_MS,
    keepAliveTimeout: config.KEEP_ALIVE_TIMEOUT_MS,
    // HANDLER_TIMEOUT_MS is the deadline plugin's (src/plugins/deadline.ts): Fastify's own
    // handlerTimeout is cancelled as soon as a request body has been read.
    routerOptions: { maxParamLength: 512 },
    // Errors before routing (bad URL encodings, overlong path segments, malformed HTTP) are problems too.
    frameworkErrors,
    clientErrorHandler: clientErrorHandler(config.REQUEST_TIMEOUT_MS),
    return503OnClosing: true
  }
}

export interface BuildOptions {
  store?: Store
  engine?: Engine
  logger?: boolean
}

/** Builds the app, creating the store and engine from config unless they are given. */
export async function buildApp (config: Config, deps: BuildOptions = {}): Promise<FastifyInstance> {
  const fastify = Fastify(serverOptions(config, deps.logger ?? true))
  const store = deps.store ?? await createStore({ ...storeOptionsFromConfig(config), logger: fastify.log })
  let engine: Engine
  try {
    engine = deps.engine ?? await createEngine({
      executionProviders: config.EXECUTION_PROVIDERS,
      strict: config.EXECUTION_PROVIDERS_STRICT,
      intraOpThreads: config.ENGINE_THREADS,
      workers: config.ENGINE_WORKERS,
      rowBudget: config.ENGINE_ROW_BUDGET,
      sessionCacheSize: config.ENGINE_SESSION_CACHE,
      logger: fastify.log
    })
  } catch (err) {
    if (deps.store === undefined) await store.close()
    throw err
  }
  // fastify-plugin: the app's decorators (store, engine, swagger) stay visible on the returned instance.
  await fastify.register(fp(app), { config, store, engine, ownsStore: deps.store === undefined, ownsEngine: deps.engine === undefined })
  return fastify
}
