import type { FastifyInstance, FastifyRequest } from 'fastify'
import fp from 'fastify-plugin'
import { Gauge } from 'prom-client'
import { reserve, type Budgets } from '../budget/budget.js'
import { Permits } from '../util/permits.js'
import type { WorkPlan } from '../budget/work.js'

declare module 'fastify' {
  interface FastifyInstance {
    /**
     * Runs heavy work under the budgets: refused at once when its estimate exceeds them (422
     * over-budget) or when the working-memory pool is taken (503 busy); otherwise its estimated
     * memory is reserved while `work` runs, which gets the request's cancellation signal.
     */
    runBudgeted: <R>(request: FastifyRequest, plan: WorkPlan, work: (signal: AbortSignal) => Promise<R>) => Promise<R>
    workPool: Permits
    budgets: Budgets & { maxTranslatorBytes: number }
  }
}

export interface BudgetOptions extends Budgets {
  maxTranslatorBytes: number
}

async function budget (app: FastifyInstance, opts: BudgetOptions): Promise<void> {
  const pool = new Permits(opts.memoryBytes)
  const budgets = { memoryBytes: opts.memoryBytes, timeMs: opts.timeMs, retryAfterSeconds: opts.retryAfterSeconds, maxTranslatorBytes: opts.maxTranslatorBytes }
  app.decorate('workPool', pool)
  app.decorate('budgets', budgets)
  // eslint-disable-next-line no-new
  new Gauge({
    name: 'latentbridge_work_memory_reserved_bytes',
    help: 'Working memory reserved by heavy requests in flight, by their estimates (of WORK_MEMORY_BYTES)',
    registers: [app.metrics.registry],
    collect () { this.set(pool.inUse) }
  })
  app.decorate('runBudgeted', async <R>(request: FastifyRequest, plan: WorkPlan, work: (signal: AbortSignal) => Promise<R>): Promise<R> => {
    const release = reserve(pool, plan.what, plan.cost, budgets, plan.instead)
    try {
      request.workSignal.throwIfAborted()
      return await work(request.workSignal)
    } finally {
      release()
    }
  })
}

export default fp(budget, { name: 'budget', dependencies: ['metrics', 'deadline'] })
