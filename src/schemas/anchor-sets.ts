import { z } from 'zod'
import { NextCursor, RowRangeQuery } from '../http/page.js'
import { AnchorId, EncodingFormat, MatrixField, MatrixOut, Name } from './common.js'

export const SetParams = z.object({ set: Name.describe('Anchor set name (percent-encode a "/" as %2F)').meta({ example: 'demo' }) })
export const SetSpaceParams = SetParams.extend({ space: Name.describe('Space name (percent-encode a "/" as %2F)').meta({ example: 'demo-a' }) })

export const AnchorSetBody = z.object({
  ids: z.array(AnchorId).min(1, 'an anchor set holds at least 1 id').describe('The ordered item ids; unique'),
  description: z.string().max(4096).optional()
}).strict().meta({ example: { ids: ['cat', 'dog', 'river', 'house'], description: 'a few English words' }, id: 'AnchorSetRequest' })

export const EmbeddingsSummary = z.object({
  rows: z.number().int().nonnegative(),
  dim: z.number().int().nonnegative(),
  zeroRows: z.number().int().nonnegative().describe('Rows with zero norm'),
  meanNorm: z.number().describe('Mean L2 norm of the rows'),
  updatedAt: z.string(),
  revision: z.string().describe('Changes with every upload of this space\'s rows; equal revisions mean the same stored rows')
})

export const AnchorSet = z.object({
  name: z.string(),
  size: z.number().int().nonnegative(),
  description: z.string().nullable(),
  createdAt: z.string(),
  spaces: z.record(z.string(), EmbeddingsSummary).describe('What each space holds of this set'),
  ids: z.array(z.string()).optional().describe('The ordered ids, with ?includeIds=true: those from offset, at most limit of them')
}).meta({ id: 'AnchorSet' })

export const AnchorSetList = z.object({ anchorSets: z.array(AnchorSet), next: NextCursor }).meta({ id: 'AnchorSetList' })

export const GetSetQuery = RowRangeQuery.extend({
  includeIds: z.enum(['true', 'false']).default('false').transform(v => v === 'true')
}).describe('offset and limit select a range of the ids (with includeIds=true); `size` is the total')

export const EmbeddingsBody = z.object({
  vectors: MatrixField,
  ids: z.array(AnchorId).optional().describe("Row i belongs to ids[i]: a subset of the set's ids. Default: the set's own order (then rows = set size).")
}).strict().meta({ example: { vectors: [[0.1, 0.9, 0.0], [0.2, 0.8, 0.1], [0.9, 0.1, 0.3], [0.7, 0.0, 0.9]] }, id: 'EmbeddingsRequest' })

export const EmbeddingsStored = z.object({
  set: z.string(),
  space: z.string(),
  rows: z.number().int().nonnegative(),
  dim: z.number().int().nonnegative(),
  zeroRows: z.number().int().nonnegative(),
  meanNorm: z.number(),
  revision: z.string().describe('The new revision of this space\'s rows in the set (see the set summary)'),
  replaced: z.boolean().describe('Whether earlier embeddings of this space in this set were replaced')
}).meta({ id: 'EmbeddingsStored' })

export const GetEmbeddingsQuery = RowRangeQuery.extend({
  encodingFormat: EncodingFormat
})

export const Embeddings = z.object({
  set: z.string(),
  space: z.string(),
  rows: z.number().int().nonnegative().describe('How many rows are stored, whatever range was asked for'),
  offset: z.number().int().nonnegative().describe('The stored row that is the first one here'),
  ids: z.array(z.string()).describe("The ids of the rows returned, in the set's order"),
  vectors: MatrixOut
}).meta({ id: 'Embeddings' })
