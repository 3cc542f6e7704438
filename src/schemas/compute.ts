import { z } from 'zod'
import { EncodingFormat, MatrixField, MatrixOut, Name } from './common.js'

export const PROJECTIONS = ['cosine', 'angular', 'euclidean', 'l1', 'linf', 'dot'] as const
export const ProjectionName = z.enum(PROJECTIONS)

/** The options of a relative projection, shared by the JSON body and the binary query string. */
export const RelativeParams = z.object({
  space: Name.describe('The space the input vectors belong to'),
  anchorSet: Name.describe('The anchor set whose embeddings in that space are the anchors'),
  projection: z.union([ProjectionName, z.array(ProjectionName).min(1).max(PROJECTIONS.length)]).default('cosine')
    .describe('Similarity to each anchor; an array concatenates one block per projection, in order (product of invariances). ' +
      'cosine and dot are similarities, angular is arccos(cos)/π in [0, 1], euclidean/l1/linf are distances.'),
  center: z.boolean().default(false).describe("Subtract the anchors' mean from inputs and anchors first (adds translation invariance)"),
  commonWith: z.array(Name).max(16).optional().describe('Use only the anchor ids that these spaces also hold in the set, so their relative vectors line up'),
  topK: z.number().int().min(1).optional().describe('Keep the k largest values per row and block, zero the rest (ASIF-style sparse vectors)'),
  power: z.number().min(0.01).max(64).default(1).describe('With topK: raise the kept values to this power, keeping their sign (sign(v)·|v|^power)'),
  normalize: z.enum(['none', 'l2', 'layernorm']).default('none').describe('Per row and per block, after topK: unit L2 norm, or layernorm without affine parameters (eps 1e-5)'),
  encodingFormat: EncodingFormat,
  returnAnchorIds: z.boolean().default(false).describe('Return the anchor ids in their order')
})

export const RelativeBody = RelativeParams.extend({ vectors: MatrixField }).strict()
  .meta({ example: { space: 'demo-a', anchorSet: 'demo', vectors: [[0.15, 0.85, 0.05]], projection: ['cosine', 'euclidean'], center: true }, id: 'RelativeRequest' })

const queryBool = z.enum(['true', 'false']).optional()
/** The binary form's query string: the same options as strings; an unknown one (a typo) is a 400. */
export const RelativeQuery = z.object({
  space: z.string().optional(),
  anchorSet: z.string().optional(),
  projection: z.string().optional().describe('One projection, or several separated by commas'),
  center: queryBool,
  commonWith: z.string().optional().describe('Space names separated by commas'),
  topK: z.string().optional(),
  power: z.string().optional(),
  normalize: z.string().optional(),
  returnAnchorIds: queryBool
}).strict()

export const RelativeResult = z.object({
  vectors: MatrixOut.describe('rows x (anchors x blocks)'),
  anchorIds: z.array(z.string()).nullable(),
  anchors: z.number().int().nonnegative().describe('Number of anchors (the width of one block)'),
  blocks: z.array(ProjectionName).describe('The projection of each block, in order'),
  anchorDigest: z.string().describe('sha256 (hex) of the JSON array of the ordered anchor ids'),
  zeroRows: z.number().int().nonnegative().describe('Input rows with zero norm (after centring): their cosine and angular blocks are zeros')
}).meta({ id: 'RelativeResult' })

export const SimilarityBody = z.object({
  spaces: z.tuple([Name, Name]).describe('The two spaces to compare'),
  anchorSet: Name,
  k: z.number().int().min(1).max(1000).default(10).describe('Neighbourhood size for the kNN Jaccard score')
}).strict().meta({ example: { spaces: ['demo-a', 'demo-b'], anchorSet: 'demo', k: 2 }, id: 'SimilarityRequest' })

export const SimilarityResult = z.object({
  count: z.number().int().nonnegative().describe('Anchors both spaces hold, on which the scores are computed'),
  cka: z.number().describe('Linear CKA (feature form) in [0, 1]'),
  knnJaccard: z.number().describe('Mean Jaccard overlap of each item’s k nearest neighbours (cosine, itself excluded) in the two spaces')
}).meta({ id: 'SimilarityResult' })

export const SelectBody = z.object({
  space: Name.describe('The space whose embeddings of the set are used to spread the choice'),
  k: z.number().int().min(1).describe('How many ids to choose'),
  strategy: z.enum(['fps', 'kmeans', 'random']).default('fps').describe('fps: farthest-point sampling on unit vectors; kmeans: the item nearest each k-means++ centroid; random: uniform'),
  seed: z.number().int().min(0).max(2 ** 32 - 1).default(0)
}).strict().meta({ example: { space: 'demo-a', k: 2, strategy: 'fps', seed: 0 }, id: 'SelectRequest' })

export const SelectResult = z.object({ ids: z.array(z.string()) }).meta({ id: 'SelectResult' })

export { Name }
