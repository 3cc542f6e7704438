/**
 * A binary POST client in a process of its own, driven over IPC by a bench: real clients of the
 * service are other processes, so this times a request without the client's work (writing the
 * body, reading and joining the reply) sharing the server's event loop.
 *
 * Messages from the parent:
 *   { type: 'setup', url, headers, body }   body as base64; answered { type: 'ready' }
 *   { type: 'post' }                        one request on a keep-alive connection; answered
 *                                           { type: 'done', ms, status, bytes, sha256 } (ms from
 *                                           the request's start to the reply's last byte)
 * Started by startPostClient() below.
 */
import { fork, type ChildProcess } from 'node:child_process'
import { createHash } from 'node:crypto'
import { Agent, request } from 'node:http'
import { fileURLToPath } from 'node:url'

interface Setup { type: 'setup', url: string, headers: Record<string, string>, body: string }
interface Post { type: 'post' }
export interface PostResult { type: 'done', ms: number, status: number, bytes: number, sha256: string }

export interface PostClient {
  /** One request, timed in the client process. */
  post: () => Promise<PostResult>
  stop: () => void
}

/** Forks this module as the client process and hands it the request to send. */
export async function startPostClient (url: string, headers: Record<string, string>, body: Uint8Array): Promise<PostClient> {
  const child = fork(fileURLToPath(import.meta.url), [], { execArgv: ['--import', 'tsx'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] })
  const kill = (): void => { child.kill('SIGKILL') }
  process.once('exit', kill)
  const next = async <T>(message: Setup | Post): Promise<T> => await new Promise((resolve, reject) => {
    const onExit = (code: number | null): void => { reject(new Error(`the bench client exited with ${String(code)}`)) }
    child.once('exit', onExit)
    child.once('message', reply => {
      child.off('exit', onExit)
      resolve(reply as T)
    })
    child.send(message)
  })
  await next({ type: 'setup', url, headers, body: Buffer.from(body.buffer, body.byteOffset, body.byteLength).toString('base64') })
  return {
    post: async () => await next<PostResult>({ type: 'post' }),
    stop: () => {
      process.off('exit', kill)
      child.kill('SIGTERM')
    }
  }
}

function serve (parent: ChildProcess | NodeJS.Process): void {
  const agent = new Agent({ keepAlive: true, maxSockets: 1 })
  let setup: { url: URL, headers: Record<string, string>, body: Buffer } | undefined
  const post = async (): Promise<PostResult> => await new Promise((resolve, reject) => {
    if (setup === undefined) throw new Error('post before setup')
    const { url, headers, body } = setup
    const t0 = performance.now()
    const req = request(url, { method: 'POST', agent, headers: { ...headers, 'content-length': String(body.length) } }, res => {
      const chunks: Buffer[] = []
      res.on('data', (chunk: Buffer) => chunks.push(chunk))
      res.on('error', reject)
      res.on('end', () => {
        // Joined as the in-process client does, so both read the reply the same way.
        const reply = Buffer.concat(chunks)
        const ms = performance.now() - t0
        resolve({ type: 'done', ms, status: res.statusCode ?? 0, bytes: reply.length, sha256: createHash('sha256').update(reply).digest('hex') })
      })
    })
    req.on('error', reject)
    req.end(body)
  })
  parent.on('message', (message: Setup | Post) => {
    if (message.type === 'setup') {
      setup = { url: new URL(message.url), headers: message.headers, body: Buffer.from(message.body, 'base64') }
      parent.send?.({ type: 'ready' })
      return
    }
    post().then(result => { parent.send?.(result) }, (err: Error) => {
      console.error(err)
      process.exit(1)
    })
  })
  parent.on('disconnect', () => { agent.destroy() })
}

if (process.send !== undefined && process.argv[1] === fileURLToPath(import.meta.url)) serve(process)
