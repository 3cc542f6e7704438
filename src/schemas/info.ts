import { z } from 'zod'

const count = z.number().int().nonnegative()

export const Info = z.object({
  version: z.string().describe('The service version'),
  limits: z.object({
    MAX_ROWS_PER_REQUEST: count.describe('Rows per request (vectors to translate, embeddings to upload)'),
    BODY_LIMIT: count.describe('Bytes of a request body, after decoding any Content-Encoding'),
    MAX_DIM: count.describe("A space's dim"),
    MAX_ANCHORS_PER_SET: count.describe('Ids per anchor set'),
    MAX_SET_BYTES: count.describe('Bytes of float32 embeddings one anchor set holds over all its spaces'),
    WORK_MEMORY_BYTES: count.describe('Estimated working memory of one fit, refinement, evaluation, similarity or select'),
    WORK_TIME_MS: count.describe('Estimated time of one such piece of work'),
    MAX_TRANSLATOR_BYTES: count.describe('Bytes of one stored translator'),
    QUEUE_MAX_ROWS: count.describe('Rows waiting in the compute queue over all requests'),
    LARGE_JSON_BYTES: count.describe('JSON bodies over this size are parsed a few at a time')
  }),
  store: z.object({ kind: z.enum(['memory', 'redis', 'redis-cluster', 'redis-sentinel']) }),
  compute: z.object({ executionProvider: z.string().describe('The execution provider the engine runs on, e.g. cpu or cuda') }),
  features: z.object({
    contentEncodings: z.array(z.string()).describe('Content-Encodings accepted on request bodies'),
    binaryForms: z.array(z.string()).describe('Media types of matrices besides JSON, in request bodies and (with Accept) in answers'),
    conditionalRequests: z.boolean().describe('ETag, If-None-Match (304) and If-Match (412)'),
    pagination: z.object({
      defaultLimit: count,
      maxLimit: count
    }).describe('List operations take ?limit and ?cursor and answer `next`')
  })
}).meta({ id: 'Info' })
