import { z } from 'zod'

/** Names of spaces, anchor sets and translators (docs/operations.md §9.1 "Names"). */
export const NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._:@/-]{0,127}$/

export const Name = z.string().regex(NAME_PATTERN, 'a name starts with a letter or digit and holds at most 128 of A-Z a-z 0-9 . _ : @ / -')

/** Anchor ids: any non-empty UTF-8 string of at most 512 bytes. */
export const AnchorId = z.string().min(1, 'an anchor id is a non-empty string').refine(s => Buffer.byteLength(s, 'utf8') <= 512, 'an anchor id is at most 512 bytes of UTF-8')

export const Problem = z.object({
  type: z.string(),
  title: z.string(),
  status: z.number().int().min(400).max(599),
  detail: z.string(),
  instance: z.string().optional(),
  requestId: z.string().optional(),
  errors: z.array(z.object({ path: z.string(), message: z.string() })).optional()
}).meta({
  id: 'Problem',
  description: 'An RFC 9457 problem document (Content-Type application/problem+json).'
})

export const Base64Matrix = z.object({
  dtype: z.enum(['float32', 'float16']),
  shape: z.tuple([z.number().int().min(0), z.number().int().min(1)]),
  data: z.string().describe('base64 of the little-endian values, row-major')
})

const matrixJsonSchema = {
  description: 'A matrix: JSON number[][] (one inner array per row, all of one length), or the base64 object { dtype, shape, data }. Every value must be finite.',
  oneOf: [
    { type: 'array', items: { type: 'array', items: { type: 'number' } } },
    {
      type: 'object',
      required: ['dtype', 'shape', 'data'],
      properties: {
        dtype: { type: 'string', enum: ['float32', 'float16'] },
        shape: { type: 'array', items: { type: 'integer', minimum: 0 }, minItems: 2, maxItems: 2 },
        data: { type: 'string', description: 'base64 of little-endian values, row-major' }
      }
    }
  ]
}

/**
 * A matrix field. Validation is the codec's job (src/codecs), which names the first bad row and
 * column and answers 422 for well-formed but invalid values; the schema only documents the forms,
 * so large arrays are not walked twice.
 */
export const MatrixField = z.custom<unknown>(v => v !== undefined && v !== null, 'a matrix is required: number[][] or { dtype, shape, data }')
  .meta(matrixJsonSchema)

/** A matrix in a response: number[][] or the base64 object, depending on encodingFormat. */
export const MatrixOut = z.custom<number[][] | z.infer<typeof Base64Matrix>>(() => true).meta(matrixJsonSchema)

export const EncodingFormat = z.enum(['float', 'base64']).default('float')
  .describe('"float" returns number[][]; "base64" returns the base64 float32 object.')

export const CascadeQuery = z.object({
  cascade: z.enum(['true', 'false']).default('false').transform(v => v === 'true')
    .describe('Also delete what depends on it (embeddings, translators).')
})

export const problemResponses = (...statuses: number[]): Record<number, typeof Problem> =>
  Object.fromEntries(statuses.map(s => [s, Problem]))
