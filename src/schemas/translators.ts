import { z } from 'zod'
import { NextCursor, PageQuery } from '../http/page.js'
import { EncodingFormat, MatrixField, MatrixOut, Name } from './common.js'

export const FIT_METHODS = ['procrustes', 'linear', 'affine', 'ridge', 'inverse-relative'] as const
export const SCALINGS = ['standard', 'center', 'l2', 'none'] as const

export const TranslatorParams = z.object({
  id: z.string().min(1).max(200).describe('Translator id, as returned when it was fitted')
})

export const FitBody = z.object({
  source: Name.describe('The space translated from'),
  target: Name.describe('The space translated into'),
  anchorSet: Name.describe('The anchor set whose ids both spaces hold: the parallel anchors'),
  method: z.enum([...FIT_METHODS, 'auto']).optional()
    .describe('procrustes: orthogonal map; linear / affine: least squares (affine adds a bias); ridge: regularised least squares; inverse-relative: relative projection inverted on the target anchors; auto: every method and scaling scored by k-fold cross-validation (each fold translated by the map fitted on the others and retrieved among its own target vectors, as "selection" says), the best kept; candidates within two standard errors of the leader are ranked by retrieval among every anchor\'s target instead. Absent with no scaling either: procrustes with each of the four scalings and affine with l2 are cross-validated the same way; absent with a scaling: procrustes'),
  scaling: z.enum(SCALINGS).optional()
    .describe("standard: subtract the anchors' mean, divide by their std; center: subtract the mean; l2: centre, then unit rows (the output is rescaled to the target anchors' mean norm); none. Target statistics are added back, so outputs live in the target space. Absent: the four are scored by k-fold cross-validation (as for auto, within the method; with no method either, see method) and the best kept, reported in diagnostics.selection and diagnostics.candidates; naming one skips that work. Ignored by auto."),
  selection: z.object({
    space: z.enum(['raw', 'centered']).default('raw')
      .describe("raw: translated vectors retrieved among the target anchors' vectors as they are, as a vector index of the target model does; centered: both with the target anchors' mean subtracted"),
    metric: z.string().regex(/^(top1|mrr|recall@([1-9]|[1-9][0-9]|100))$/, 'top1, mrr, or recall@k with k from 1 to 100')
      .default('top1').describe('What ranks the candidates: top1, mrr (MRR@5), or recall@k (own target among the k nearest, k ≤ 100); ties go to the higher meanCosine')
  }).strict().optional().describe('How cross-validation scores candidates (auto, a scaling left open, the ridge search) and which space diagnostics.heldOut is in; default raw top1'),
  ridge: z.number().positive().max(1e12).optional().describe('Ridge strength (ridge, inverse-relative); searched on held-out anchors when absent'),
  holdout: z.number().min(0).max(0.5).default(0.1).describe('Fraction of the parallel anchors held out to measure diagnostics.heldOut; the stored map is then refitted on all of them'),
  folds: z.number().int().min(2).max(20).default(5).describe('Cross-validation folds for method "auto"'),
  seed: z.number().int().min(0).max(2 ** 32 - 1).default(0),
  name: z.string().min(1).max(200).optional().describe('A label for people; the id is assigned'),
  activate: z.boolean().optional().describe("Make it the pair's active translator (the first translator of a pair always is)"),
  refine: z.object({
    iterations: z.number().int().min(1).max(50).default(5).describe('Rounds of pairing and refitting at most (stops early once the pairs stop changing)'),
    k: z.number().int().min(1).max(100).default(10).describe('CSLS neighbourhood size')
  }).strict().optional().describe('Self-learning refinement from unpaired rows (ids of the set that only one of the two spaces holds): each round translates the source\'s unpaired rows, pairs them with the target\'s unpaired rows that are mutual nearest neighbours under CSLS, and refits on the parallel anchors plus those pairs. The refined map is stored unless the mean CSLS of mutual pairs and the held-out anchors show it worse; diagnostics.refinement says which happened. 422 when either space holds no unpaired rows.'),
  // Zero parallel anchors (src/translators/pipeline-unsupervised.ts).
  anchors: z.enum(['parallel', 'none']).default('parallel')
    .describe('parallel: the ids both spaces hold are parallel anchors. none: no pair is known; each space\'s rows of the set are an unpaired pool (even where ids coincide) and the map is found from the pools\' own structure (sorted-similarity start, CSLS self-learning, restarts). Its verdict is diagnostics.unsupervised: an unreliable map is stored inactive, never activated by the fit. Method procrustes (or auto) only; no refine, no holdout (ids both pools hold, if any, check the verdict instead)'),
  unsupervised: z.object({
    restarts: z.number().int().min(1).max(8).default(6).describe('Alignments at most, each from its own seed (and row subsets when a pool exceeds initRows or inductionRows); they stop at the first that clears the null (a greedy run from a random start) on its mean CSLS and on the held-out half of its pairs, which the verdict needs'),
    initRows: z.number().int().min(50).max(4000).default(4000).describe('Rows per side whose sorted similarity profiles make each start (all rows when a pool has no more)'),
    inductionRows: z.number().int().min(50).max(10000).default(4000).describe('Rows per side each run\'s self-learning works on, drawn at random per run when a pool has more (all rows otherwise); its final map pairs every row of both pools. An iteration costs about the product of the two sides\' rows, so this bounds it; more rows cost more time per iteration'),
    patience: z.number().int().min(1).max(200).default(50).describe('Self-learning iterations without a rise of the objective before the keep probability of stochastic dictionary induction doubles (and, at keep 1, before the run ends)'),
    maxIterations: z.number().int().min(10).max(2000).default(1500).describe('Self-learning iterations per run at most; a run cut there is not converged')
  }).strict().optional().describe('With "anchors": "none" only')
}).strict().meta({ example: { source: 'demo-a', target: 'demo-b', anchorSet: 'demo', method: 'procrustes', scaling: 'center', holdout: 0 }, id: 'FitRequest' })

const HeldOut = z.object({
  count: z.number().int().nonnegative(),
  meanCosine: z.number(),
  top1: z.number(),
  top5: z.number(),
  mrr: z.number()
})

const Refinement = z.object({
  iterations: z.number().int().nonnegative(),
  k: z.number().int().nonnegative().describe('CSLS neighbourhood size'),
  unpaired: z.object({ source: z.number().int().nonnegative(), target: z.number().int().nonnegative() }).describe('Unpaired rows of each space in the set'),
  heldOutCount: z.number().int().nonnegative().describe('Held-out parallel anchors the rounds were scored on (the fit\'s holdout)'),
  gallery: z.number().int().nonnegative().describe('Target rows the held-out anchors were retrieved among: every anchor\'s target plus every unpaired target row'),
  rounds: z.array(z.object({
    round: z.number().int().nonnegative().describe('0 is the unrefined map'),
    pairs: z.number().int().nonnegative().describe('Pairs added to the parallel anchors to fit this round\'s map'),
    heldOut: HeldOut.nullable(),
    mutualPairs: z.number().int().nonnegative().describe('Mutual CSLS nearest-neighbour pairs this round\'s map yields (the next round\'s pairs)'),
    meanCsls: z.number().describe('Mean CSLS of those pairs: the unsupervised criterion')
  })).describe('Rounds run on the anchors minus the held-out ones'),
  converged: z.boolean().describe('The pairs stopped changing before the last iteration'),
  kept: z.enum(['refined', 'unrefined']).describe('Which map was stored'),
  keptRound: z.number().int().nonnegative(),
  pairsUsed: z.number().int().nonnegative().describe('Pairs the stored map was fitted on, besides all the parallel anchors'),
  reason: z.string().describe('Why that map was kept'),
  ms: z.number()
})

const AlignmentRun = z.object({
  restart: z.number().int().min(-1).describe('0.. for the restarts; -1 for the null'),
  seed: z.number().int().nonnegative(),
  start: z.enum(['sorted-similarity', 'random']),
  iterations: z.number().int().nonnegative(),
  selfLearningRows: z.object({ source: z.number().int().nonnegative(), target: z.number().int().nonnegative() }).optional().describe('Rows of each pool its self-learning worked on (unsupervised.inductionRows, drawn per run); its final map paired every row. Absent for translators fitted before the option existed'),
  converged: z.boolean().describe('The keep probability reached 1 and the objective then stopped rising within maxIterations'),
  objective: z.number().describe('Mean best similarity of the last dictionary, both directions averaged'),
  mutualRate: z.number().describe('Mutual CSLS nearest-neighbour pairs of the final map, as a fraction of the smaller pool'),
  meanCsls: z.number().describe('Mean CSLS of those pairs: what restarts are ranked by, and compared with the null\'s'),
  heldOut: z.number().optional().describe('Fraction of those pairs that the map fitted on the other half of them finds again (a random split, both halves averaged). Absent for translators fitted before this check was added'),
  ms: z.number()
}).meta({ id: 'AlignmentRun', description: 'One self-learning run of a zero-anchor fit: a restart, or the null (greedy self-learning from a random start on the same pools: the level of a wrong basin)' })

const UnsupervisedVerdict = z.object({
  reliable: z.boolean().describe('Whether the map may be trusted; an unreliable one is stored inactive and never activated by the fit'),
  reasons: z.array(z.string()).describe('Each rule of the verdict, with its figures, that held or failed'),
  advice: z.string().optional().describe('When unreliable: what to do instead (a few parallel anchors)'),
  pairs: z.number().int().nonnegative().describe('Pairs the stored map was fitted on: the kept run\'s mutual CSLS pairs'),
  pools: z.object({ source: z.number().int().nonnegative(), target: z.number().int().nonnegative() }),
  options: z.object({ restarts: z.number().int().min(1), initRows: z.number().int().min(1), inductionRows: z.number().int().min(1).optional().describe('Absent for translators fitted before the option existed: every row then took part'), k: z.number().int().min(1), patience: z.number().int().min(1), maxIterations: z.number().int().min(1) }),
  best: z.number().int().nonnegative().describe('Index in runs of the run kept (the highest meanCsls)'),
  agreement: z.number().nullable().describe('Fraction of the kept run\'s pairs that each other run which also cleared the null found, the least of them; null when none did'),
  runs: z.array(AlignmentRun).describe('The restarts that ran, in order: they stop at the first confirmed'),
  null: AlignmentRun,
  anchorCheck: z.object({ count: z.number().int().nonnegative(), top1: z.number() }).optional().describe('Ids both pools hold (never used by the fit), translated and retrieved among the whole target pool')
}).describe('With "anchors": "none": the verdict on the alignment and its evidence (docs/methods.md §19)')

export const Translator = z.object({
  id: z.string(),
  name: z.string(),
  source: z.string(),
  target: z.string(),
  anchorSet: z.string(),
  method: z.string(),
  scaling: z.string(),
  ridge: z.number().optional(),
  version: z.number().int().min(1).describe('Increases with every translator fitted for this (source, target) pair'),
  createdAt: z.string(),
  active: z.boolean().describe("Whether it is its pair's active translator"),
  anchorsUsed: z.number().int().nonnegative().describe('Parallel anchors the stored map was fitted on'),
  sourceDim: z.number().int().nonnegative(),
  targetDim: z.number().int().nonnegative(),
  diagnostics: z.object({
    rank: z.number().int().nonnegative().describe('Numerical rank of the fitting problem (below min(anchors, dims) means the map is only determined on the anchors\' span)'),
    fitResidual: z.number().describe('‖translated − target‖ / ‖target‖ on all the anchors'),
    heldOut: HeldOut.nullable().describe('Scores on the held-out anchors, retrieved among all the anchors\' target vectors in the selection space, of the map fitted on the parallel anchors alone (with refine, refinement.rounds scores every round)'),
    heldOutBySpace: z.object({ raw: HeldOut, centered: HeldOut }).nullable().optional()
      .describe('The same held-out anchors scored in both spaces: raw (as a vector index of the target model retrieves) and centred (the target anchors\' mean subtracted)'),
    selection: z.object({
      space: z.enum(['raw', 'centered']),
      metric: z.string(),
      chose: z.array(z.enum(['method', 'scaling', 'ridge'])).describe('What cross-validation chose: the method (auto), the scaling (left open), the ridge strength (searched)'),
      folds: z.number().int().nonnegative(),
      score: z.number().describe('The chosen configuration\'s cross-validated metric')
    }).optional().describe('Present when cross-validation chose anything'),
    candidates: z.array(z.object({
      method: z.string(), scaling: z.string(), ridge: z.number().optional(), score: z.number().describe('The selection metric, each fold retrieved among its own target vectors'), top1: z.number(), meanCosine: z.number(), mrr: z.number(), fitMs: z.number(),
      poolScore: z.number().optional().describe('MRR@5 (recall@k when that is the metric) with each fold retrieved among every anchor\'s target vector: it ranks the tied candidates'),
      tied: z.literal(true).optional().describe('Its score is within two standard errors of the leader\'s (paired over the same anchors), too close to tell apart; the tied candidate with the best poolScore is chosen'),
      pruned: z.literal(true).optional().describe('Stopped early: it could no longer lead or tie the leader; its scores cover the folds it ran')
    })).optional().describe('method "auto", or a method or scaling left open: every candidate with its cross-validated scores'),
    ridgeSearch: z.array(z.object({ ridge: z.number(), score: z.number(), top1: z.number(), meanCosine: z.number(), pruned: z.literal(true).optional() })).optional(),
    refinement: Refinement.optional().describe('With "refine": the rounds and which map was stored'),
    unsupervised: UnsupervisedVerdict.optional(),
    fitMs: z.number()
  }).passthrough()
}).meta({ id: 'Translator' })

export const TranslatorList = z.object({ translators: z.array(Translator), next: NextCursor }).meta({ id: 'TranslatorList' })

export const ListQuery = PageQuery.extend({
  source: Name.optional(),
  target: Name.optional()
})

export const TranslateBody = z.object({
  source: Name,
  target: Name,
  vectors: MatrixField,
  translator: z.string().min(1).max(200).optional().describe("A translator id; default: the pair's active translator"),
  withConfidence: z.boolean().optional().describe('Also return confidence: per row a score in [0, 1] of how reliable its translation is (JSON responses only; 406 with a binary Accept)'),
  encodingFormat: EncodingFormat
}).strict().meta({ example: { source: 'demo-a', target: 'demo-b', vectors: [[0.15, 0.85, 0.05]] }, id: 'TranslateRequest' })

export const TranslateQuery = z.object({
  source: Name.optional(),
  target: Name.optional(),
  translator: z.string().min(1).max(200).optional(),
  withConfidence: z.enum(['true', 'false']).optional().describe('With a binary body: per-row confidence in a JSON response (Accept: application/json); 406 with a binary Accept')
}).strict()

export const TranslateResult = z.object({
  vectors: MatrixOut.describe('rows x target dim'),
  translator: z.object({ id: z.string(), version: z.number().int().min(1) }),
  confidence: z.array(z.number()).optional().describe('With withConfidence: per row, in [0, 1], the percentile of the translation margins (best minus second-best target cosine) of its 10 nearest source rows of the anchor set, among those rows\' own; low means the input lies where translations are ambiguous or far from anything the translator was fitted near')
}).meta({ id: 'TranslateResult' })

export const EvaluateBody = z.object({
  vectors: MatrixField.describe('Source vectors'),
  targetVectors: MatrixField.describe('The true target vectors of the same items, row for row'),
  k: z.number().int().min(1).max(1000).default(5),
  retrieval: z.enum(['cosine', 'csls']).default('cosine').describe('How target rows are ranked: cosine, or CSLS (2·cos − the mean cosine of the target row to its cslsK nearest translated rows; discounts hubs)'),
  cslsK: z.number().int().min(1).max(100).optional().describe('CSLS neighbourhood size (default 10); with retrieval "csls" only')
}).strict().meta({ example: { vectors: [[0.1, 0.9, 0.0], [0.2, 0.8, 0.1], [0.9, 0.1, 0.3], [0.7, 0.0, 0.9]], targetVectors: [[0.1, 0.9, 0.0], [0.2, 0.8, 0.1], [0.9, 0.1, 0.3], [0.7, 0.0, 0.9]], k: 2 }, id: 'EvaluateRequest' })

export const EvaluateResult = z.object({
  count: z.number().int().nonnegative(),
  meanCosine: z.number().describe('Mean cosine of each translated row with its true target'),
  mse: z.number().describe('Mean squared error per element'),
  top1: z.number().describe('Share of rows whose nearest target (cosine, among the given targets) is their own'),
  topK: z.number().describe('Share of rows whose own target is among their k nearest'),
  mrr: z.number().describe('Mean of 1/rank of the own target within the k nearest, 0 on a miss'),
  jaccard: z.number().describe("Jaccard@k of the translated row's k nearest targets against the true target's k nearest (itself included)"),
  cka: z.number().describe('Linear CKA between the translated and the target rows'),
  retrieval: z.enum(['cosine', 'csls']).describe('How top1, topK, mrr and jaccard ranked the targets'),
  cslsK: z.number().int().nonnegative().optional()
}).meta({ id: 'EvaluateResult' })
