import { z } from 'zod'
import { MatrixField } from './common.js'

export const ReportBody = z.object({
  vectors: MatrixField.describe("Held-out items as the translator's source model embeds them (not anchors the translator was fitted on), at least 10 rows"),
  targetVectors: MatrixField.describe('The same items as the target model embeds them, row for row'),
  reverse: z.boolean().optional().describe("Also report the reverse direction (target → source) with the reverse pair's active translator. Default: when the reverse pair has one; true: 404 when it has none; false: this translator's direction only")
}).strict().meta({
  id: 'ReportRequest',
  example: {
    vectors: [[0.1, 0.9, 0.0], [0.2, 0.8, 0.1], [0.9, 0.1, 0.3], [0.7, 0.0, 0.9], [0.3, 0.3, 0.8], [0.5, 0.6, 0.1], [0.0, 0.4, 0.9], [0.8, 0.8, 0.2], [0.4, 0.1, 0.1], [0.6, 0.2, 0.7]],
    targetVectors: [[0.1, 0.8, 0.1], [0.2, 0.9, 0.1], [0.8, 0.1, 0.3], [0.7, 0.1, 0.8], [0.3, 0.2, 0.8], [0.5, 0.5, 0.2], [0.1, 0.4, 0.9], [0.8, 0.7, 0.2], [0.4, 0.2, 0.1], [0.6, 0.3, 0.7]]
  }
})

const AtK = z.object({ at1: z.number(), at5: z.number(), at10: z.number() })

const CoveragePoint = z.object({
  threshold: z.number().describe('Items kept: those whose confidence is at least this'),
  kept: z.number().int().nonnegative(),
  coverage: z.number().describe('kept / count: the share translated; the rest would be re-embedded'),
  top1: z.number().nullable().describe('Top-1 retrieval of the kept items (null when none is kept)'),
  recallAt10: z.number().nullable().describe('Neighbour recall@10 of the kept items (null when none is kept)')
})

const Direction = z.object({
  direction: z.enum(['forward', 'reverse']).describe("forward: the translator asked for; reverse: the reverse pair's active translator"),
  source: z.string(),
  target: z.string(),
  translator: z.object({ id: z.string(), version: z.number().int().min(1), name: z.string(), method: z.string(), scaling: z.string() }).describe('The translator that translated the queries'),
  count: z.number().int().nonnegative(),
  recall: AtK.describe("Neighbour recall@k: the share of a native query's k nearest native rows that the translated query retrieves among its own k nearest (cosine among the target model's raw vectors; the item itself is among the rows)"),
  retrieval: AtK.describe("Own-item retrieval@k: the share of items whose own native row is among their translated query's k nearest"),
  mrr: z.number().describe('Mean reciprocal rank of the own native row among the translated query\'s 10 nearest (0 beyond)'),
  meanCosine: z.number().describe('Mean cosine of each translated row with its native row'),
  coverage: z.array(CoveragePoint).nullable().describe('The confidence-coverage curve, at thresholds 0, 0.05, ..., 1 of the per-row confidence (POST /v1/translate withConfidence): pick the threshold whose kept items retrieve well enough, and re-embed the rest. null when the translator has no confidence model'),
  coverageNote: z.string().optional().describe('Why coverage is null')
})

export const ReportResult = z.object({
  count: z.number().int().nonnegative().describe('Held-out items'),
  directions: z.array(Direction).describe('The translator\'s own direction first, then the reverse one when reported'),
  reverse: z.object({ included: z.boolean(), reason: z.string() }).describe('Whether the reverse direction is reported, and why (not)')
}).meta({ id: 'ReportResult' })

export type ReportJson = z.infer<typeof ReportResult>
