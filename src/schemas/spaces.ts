import { z } from 'zod'
import { NextCursor } from '../http/page.js'
import { Name } from './common.js'

export const SpaceParams = z.object({ space: Name.describe('Space name (percent-encode a "/" as %2F)').meta({ example: 'demo-a' }) })

export const SpaceBody = z.object({
  dim: z.number().int().min(1).describe('Length of the embedding vectors of this model'),
  description: z.string().max(4096).optional(),
  metadata: z.record(z.string(), z.unknown()).optional().describe('Free-form JSON about the model (provider, version, ...)')
}).strict().meta({ example: { dim: 3, description: 'a toy model', metadata: { provider: 'example' } }, id: 'SpaceRequest' })

export const Space = z.object({
  name: z.string(),
  dim: z.number().int().nonnegative(),
  description: z.string().nullable(),
  metadata: z.record(z.string(), z.unknown()),
  createdAt: z.string().describe('ISO 8601 time of creation')
}).meta({ id: 'Space' })

export const SpaceList = z.object({ spaces: z.array(Space), next: NextCursor }).meta({ id: 'SpaceList' })
