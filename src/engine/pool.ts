/**
 * A fixed pool of worker threads that run engine tasks, one task per worker at a time. Tasks are
 * grouped by call and served round-robin across groups, so a 100,000-row request split into many
 * chunks does not hold back a small request that arrives after it.
 */
import { Worker } from 'node:worker_threads'
import { extname } from 'node:path'
import { fileURLToPath } from 'node:url'
import { ProviderError } from './runtime.js'
import type { FromWorker, ProviderFailureData, Task, TaskResult, ToWorker, WorkerInit } from './tasks.js'

/** How long closing the pool waits for a busy worker's ORT run to return (see close). */
const BUSY_WORKER_WAIT_MS = 500

/** Whether the worker posts a message (its run's answer) or exits within `ms`. */
async function returnsWithin (worker: Worker, ms: number): Promise<boolean> {
  return await new Promise(resolve => {
    const done = (returned: boolean): void => {
      clearTimeout(timer)
      worker.off('message', onReturn)
      worker.off('exit', onReturn)
      resolve(returned)
    }
    const onReturn = (): void => { done(true) }
    const timer = setTimeout(() => { done(false) }, ms)
    worker.on('message', onReturn)
    worker.on('exit', onReturn)
  })
}

/** One way of starting the worker entry module. */
export interface WorkerLauncher {
  name: string
  spawn: (init: WorkerInit) => Worker
}

/**
 * The worker entry sits next to this module with the same extension: worker.js under dist/,
 * worker.ts when the sources run through a TypeScript loader (tap, tsx). A loader given on the
 * parent's command line does not always reach workers (tsx 4 on Node 20 registers its hooks on
 * the main thread only), so for .ts the first launcher registers tsx inside the worker and the
 * second relies on the inherited execArgv (tap's ts-node import works in workers).
 */
export function defaultLaunchers (moduleUrl: string = import.meta.url): WorkerLauncher[] {
  const extension = extname(fileURLToPath(moduleUrl))
  const entry = new URL(`./worker${extension}`, moduleUrl)
  const direct: WorkerLauncher = {
    name: 'direct',
    spawn: init => new Worker(entry, { workerData: init })
  }
  if (extension !== '.ts' && extension !== '.mts') return [direct]
  const launchers: WorkerLauncher[] = []
  let tsxApi: string | undefined
  try {
    tsxApi = import.meta.resolve('tsx/esm/api')
  } catch {
    tsxApi = undefined
  }
  if (tsxApi !== undefined) {
    const bootstrap = `import(${JSON.stringify(tsxApi)}).then(tsx => { tsx.register(); return import(${JSON.stringify(entry.href)}) })`
    launchers.push({ name: 'tsx-register', spawn: init => new Worker(bootstrap, { eval: true, workerData: init }) })
  }
  launchers.push(direct)
  return launchers
}

/**
 * Builds a task when a worker is free, so a chunk's input copy happens just before it runs. It
 * is told which worker (a number unique to that worker thread, never reused after it dies) will
 * run it, so the engine can leave out what that worker already holds (translator maps).
 */
export type TaskSource = (worker: number) => { task: Task, transfer: ArrayBuffer[] }

interface Job {
  prepare: TaskSource
  resolve: (result: TaskResult) => void
  reject: (error: Error) => void
}

interface Slot {
  worker: Worker
  /** Unique per worker thread started by this pool. */
  id: number
  job?: Job
  /** Jobs that must run on this worker (broadcasts), served before the shared queues. */
  pinned: Job[]
  /** Sequence number of the task in flight; a reply carries it back. */
  taskId: number
}

type StartOutcome =
  | { ok: true, worker: Worker, provider: string, failures: ProviderFailureData[] }
  | { ok: false, worker?: Worker, error: Error, fatal: boolean }

/** Starts one worker and waits for its first word: ready, a provider failure, or a load error. */
function startWorker (launcher: WorkerLauncher, init: WorkerInit): Promise<StartOutcome> {
  return new Promise(resolve => {
    let worker: Worker
    try {
      worker = launcher.spawn(init)
    } catch (error) {
      resolve({ ok: false, error: error as Error, fatal: false })
      return
    }
    const settle = (outcome: StartOutcome): void => {
      worker.off('message', onMessage)
      worker.off('error', onError)
      worker.off('exit', onExit)
      resolve(outcome)
    }
    const onMessage = (message: FromWorker): void => {
      if (message.type === 'ready') settle({ ok: true, worker, provider: message.provider, failures: message.failures })
      else if (message.type === 'init-error') settle({ ok: false, worker, error: new ProviderError(message.message, message.failures), fatal: true })
    }
    const onError = (error: Error): void => { settle({ ok: false, worker, error, fatal: false }) }
    const onExit = (code: number): void => { settle({ ok: false, worker, error: new Error(`worker exited with code ${code} before it was ready`), fatal: false }) }
    worker.on('message', onMessage)
    worker.on('error', onError)
    worker.on('exit', onExit)
  })
}

export interface PoolStart {
  pool: WorkerPool
  provider: string
  failures: ProviderFailureData[]
  launcher: string
}

export class WorkerPool {
  private readonly slots: Slot[] = []
  /** Queued jobs per call group; Map order is the round-robin order. */
  private readonly queues = new Map<number, Job[]>()
  private nextTaskId = 0
  private nextWorkerId = 0
  private closing = false
  /** Set when the last worker died and could not be replaced. */
  private broken: Error | undefined

  private constructor (private readonly launcher: WorkerLauncher, private readonly init: WorkerInit) {}

  /**
   * Starts `size` workers. The first resolves the execution provider (and may reject with a
   * ProviderError); the others start on the provider it chose.
   */
  static async start (size: number, init: WorkerInit, launchers: WorkerLauncher[] = defaultLaunchers()): Promise<PoolStart> {
    const loadErrors: string[] = []
    for (const launcher of launchers) {
      const first = await startWorker(launcher, init)
      if (!first.ok) {
        await first.worker?.terminate()
        if (first.fatal) throw first.error
        loadErrors.push(`${launcher.name}: ${first.error.message}`)
        continue
      }
      const pool = new WorkerPool(launcher, { ...init, provider: first.provider })
      pool.adopt(first.worker)
      try {
        const rest = await Promise.all(Array.from({ length: size - 1 }, async () => await startWorker(launcher, pool.init)))
        for (const outcome of rest) {
          if (outcome.ok) pool.adopt(outcome.worker)
          else await outcome.worker?.terminate()
        }
        const failed = rest.find(outcome => !outcome.ok)
        if (failed !== undefined && !failed.ok) throw failed.error
      } catch (error) {
        await pool.close()
        throw error
      }
      return { pool, provider: first.provider, failures: first.failures, launcher: launcher.name }
    }
    throw new Error(`could not start an engine worker: ${loadErrors.join('; ')}`)
  }

  get size (): number {
    return this.slots.length
  }

  /** Workers with no task and no queued work waiting for them. */
  get idle (): number {
    let queued = 0
    for (const queue of this.queues.values()) queued += queue.length
    return Math.max(0, this.slots.filter(slot => slot.job === undefined).length - queued)
  }

  private adopt (worker: Worker): void {
    const slot: Slot = { worker, id: this.nextWorkerId++, taskId: -1, pinned: [] }
    this.slots.push(slot)
    worker.on('message', (message: FromWorker) => { this.onMessage(slot, message) })
    worker.on('error', (error: Error) => { this.onFailure(slot, error) })
    worker.on('exit', (code: number) => { this.onFailure(slot, new Error(`engine worker exited with code ${code}`)) })
    // Idle workers must not keep the process alive.
    worker.unref()
  }

  private onMessage (slot: Slot, message: FromWorker): void {
    const job = slot.job
    if (job === undefined || (message.type !== 'result' && message.type !== 'error') || message.id !== slot.taskId) return
    slot.job = undefined
    slot.worker.unref()
    if (message.type === 'result') job.resolve(message.result)
    else job.reject(new Error(message.message))
    this.pump()
  }

  /** A worker died: fail its job, replace it (unless closing). */
  private onFailure (slot: Slot, error: Error): void {
    const index = this.slots.indexOf(slot)
    if (index === -1) return
    this.slots.splice(index, 1)
    slot.job?.reject(error)
    slot.job = undefined
    // A replacement starts empty, so whatever a broadcast was to clear there is gone anyway.
    for (const job of slot.pinned.splice(0)) job.reject(error)
    void slot.worker.terminate()
    if (this.closing) return
    void startWorker(this.launcher, this.init).then(outcome => {
      if (this.closing) {
        void outcome.worker?.terminate()
      } else if (outcome.ok) {
        this.adopt(outcome.worker)
        this.pump()
      } else {
        void outcome.worker?.terminate()
        const failure = new Error(`engine worker could not be restarted: ${outcome.error.message}`)
        if (this.slots.length === 0) this.broken = failure
        this.rejectQueued(failure)
      }
    })
  }

  /** Queues a task; jobs of one group start in the order they were queued. */
  async run (prepare: TaskSource, group = 0): Promise<TaskResult> {
    if (this.closing) throw new Error('engine is closed')
    if (this.broken !== undefined) throw this.broken
    return await new Promise<TaskResult>((resolve, reject) => {
      const queue = this.queues.get(group)
      const job: Job = { prepare, resolve, reject }
      if (queue === undefined) this.queues.set(group, [job])
      else queue.push(job)
      this.pump()
    })
  }

  /**
   * Runs a task once on every worker (e.g. to drop a cached session everywhere). Each worker
   * takes it before any shared work once its current task ends. Resolves with one result per
   * worker alive at the call.
   */
  async broadcast (prepare: TaskSource): Promise<TaskResult[]> {
    if (this.closing) throw new Error('engine is closed')
    if (this.broken !== undefined) throw this.broken
    const runs = this.slots.map(async slot => await new Promise<TaskResult>((resolve, reject) => {
      slot.pinned.push({ prepare, resolve, reject })
    }))
    this.pump()
    return await Promise.all(runs)
  }

  private nextJob (slot: Slot): Job | undefined {
    const pinned = slot.pinned.shift()
    if (pinned !== undefined) return pinned
    for (const [group, queue] of this.queues) {
      const job = queue.shift()
      this.queues.delete(group)
      // Re-inserting moves the group to the back: the next job comes from another group.
      if (queue.length > 0) this.queues.set(group, queue)
      if (job !== undefined) return job
    }
    return undefined
  }

  private pump (): void {
    for (const slot of this.slots) {
      if (slot.job !== undefined) continue
      const job = this.nextJob(slot)
      if (job === undefined) continue
      slot.job = job
      slot.worker.ref()
      try {
        const { task, transfer } = job.prepare(slot.id)
        slot.taskId = this.nextTaskId++
        const message: ToWorker = { type: 'task', id: slot.taskId, task }
        slot.worker.postMessage(message, transfer)
      } catch (error) {
        slot.job = undefined
        slot.worker.unref()
        job.reject(error as Error)
      }
    }
  }

  private rejectQueued (error: Error): void {
    for (const queue of this.queues.values()) for (const job of queue) job.reject(error)
    this.queues.clear()
  }

  async close (): Promise<void> {
    if (this.closing) return
    this.closing = true
    const error = new Error('engine is closed')
    this.rejectQueued(error)
    const slots = this.slots.splice(0)
    const busy = new Set<Slot>()
    for (const slot of slots) {
      if (slot.job !== undefined) busy.add(slot)
      slot.job?.reject(error)
      slot.job = undefined
      for (const job of slot.pinned.splice(0)) job.reject(error)
    }
    await Promise.all(slots.map(async slot => {
      // A worker inside an ORT run (native code) is let finish it before it is terminated:
      // terminating a worker, or exiting the process, while ORT still runs there can end the
      // process in SIGABRT instead of its exit code. Runs are bounded by the row budget, so most
      // end within BUSY_WORKER_WAIT_MS; a longer run is left behind, and does not keep the
      // process alive.
      if (busy.has(slot) && !await returnsWithin(slot.worker, BUSY_WORKER_WAIT_MS)) {
        slot.worker.unref()
        slot.worker.terminate().catch(() => {})
        return
      }
      await slot.worker.terminate()
    }))
  }
}
