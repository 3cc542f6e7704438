/**
 * Worker pool mechanics with stand-in workers (no ORT): round-robin across call groups, a worker
 * that dies mid-task fails only that task and is replaced, and close() rejects queued work.
 */
import t from 'tap'
import { Worker } from 'node:worker_threads'
import { WorkerPool, type WorkerLauncher } from '../../src/engine/pool.js'
import type { Task, TaskResult, WorkerInit } from '../../src/engine/tasks.js'

// A CommonJS worker script: says ready, echoes each task back after `delay` ms, and exits with
// code 3 on a task labelled 'crash'.
const ECHO_WORKER = `
const { parentPort, workerData } = require('node:worker_threads')
parentPort.postMessage({ type: 'ready', provider: 'cpu', failures: [] })
parentPort.on('message', message => {
  if (message.task.label === 'crash') process.exit(3)
  setTimeout(() => parentPort.postMessage({ type: 'result', id: message.id, result: message.task }), workerData.delay)
})
`
const echo = (delay = 2): WorkerLauncher => ({
  name: 'echo',
  spawn: (init: WorkerInit) => new Worker(ECHO_WORKER, { eval: true, workerData: { ...init, delay } })
})
const init: WorkerInit = { requested: ['cpu'], strict: false, intraOpThreads: 1, sessionCacheSize: 1 }
const labelled = (label: string): (() => { task: Task, transfer: ArrayBuffer[] }) => () => ({ task: { kind: 'probe', label } as unknown as Task, transfer: [] })
const labelOf = (result: TaskResult): string => (result as unknown as { label: string }).label

t.test('jobs of different calls are served round-robin', async t => {
  const { pool } = await WorkerPool.start(1, init, [echo()])
  t.teardown(async () => { await pool.close() })
  const order: string[] = []
  const track = async (p: Promise<TaskResult>): Promise<void> => { order.push(labelOf(await p)) }
  // The first job starts at once; then a large call (group 1) queues three chunks before a small
  // call (group 2) arrives: the small one must not wait for all three.
  await Promise.all([
    track(pool.run(labelled('big-0'), 1)),
    track(pool.run(labelled('big-1'), 1)),
    track(pool.run(labelled('big-2'), 1)),
    track(pool.run(labelled('big-3'), 1)),
    track(pool.run(labelled('small'), 2))
  ])
  t.same(order, ['big-0', 'big-1', 'small', 'big-2', 'big-3'])
})

t.test('a worker that dies fails its task only, and is replaced', async t => {
  const { pool } = await WorkerPool.start(1, init, [echo()])
  t.teardown(async () => { await pool.close() })
  await t.rejects(pool.run(labelled('crash')), /exited with code 3/)
  t.equal(labelOf(await pool.run(labelled('after'))), 'after', 'the replacement serves the next task')
  t.equal(pool.size, 1)
})

t.test('idle counts free workers net of queued work', async t => {
  const { pool } = await WorkerPool.start(2, init, [echo(30)])
  t.teardown(async () => { await pool.close() })
  t.equal(pool.idle, 2)
  const running = pool.run(labelled('a'))
  t.equal(pool.idle, 1)
  await running
  t.equal(pool.idle, 2)
})

t.test('close rejects queued and running work', async t => {
  const { pool } = await WorkerPool.start(1, init, [echo(50)])
  const running = t.rejects(pool.run(labelled('running')), /closed/, 'the running task')
  const queued = t.rejects(pool.run(labelled('queued')), /closed/, 'the queued task')
  await pool.close()
  await Promise.all([running, queued])
  await t.rejects(pool.run(labelled('late')), /closed/, 'later work')
})
