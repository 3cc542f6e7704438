/**
 * Worker thread entry: resolves the execution provider (first worker only), then runs tasks one
 * at a time. ORT's session.run is synchronous native code (docs/engine-notes.md §6),
 * so it must not run on the main event loop.
 */
import { parentPort, workerData } from 'node:worker_threads'
import { resolveProvider, SessionStore, ProviderError } from './runtime.js'
import { TaskHandler, resultTransferList, type FromWorker, type ProviderFailureData, type ToWorker, type WorkerInit } from './tasks.js'

function post (message: FromWorker, transfer: ArrayBuffer[] = []): void {
  if (parentPort === null) return
  try {
    parentPort.postMessage(message, transfer)
  } catch {
    // A buffer ORT owns may not be detachable: send a copy instead.
    parentPort.postMessage(message)
  }
}

async function start (init: WorkerInit): Promise<void> {
  let provider = init.provider
  let failures: ProviderFailureData[] = []
  if (provider === undefined) {
    try {
      ({ provider, failures } = await resolveProvider(init.requested, init.strict, init.intraOpThreads))
    } catch (error) {
      post({ type: 'init-error', message: (error as Error).message, failures: error instanceof ProviderError ? error.failures : [] })
      return
    }
  }
  const handler = new TaskHandler(new SessionStore(provider, init.intraOpThreads, init.sessionCacheSize), true, init.sessionCacheSize, init.residentBytes)
  parentPort?.on('message', (message: ToWorker) => {
    handler.handle(message.task).then(
      result => { post({ type: 'result', id: message.id, result }, resultTransferList(result)) },
      (error: unknown) => { post({ type: 'error', id: message.id, message: error instanceof Error ? error.message : String(error) }) }
    )
  })
  post({ type: 'ready', provider, failures })
}

void start(workerData as WorkerInit)
