/**
 * Starts bench/lib/serve.ts in a child process (the service under test, apart from the load
 * generator) and reads its metrics. The child is stopped with stop(), and killed if this process
 * exits first.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { fileURLToPath } from 'node:url'

export interface BenchServer {
  url: string
  translators: string[]
  pid: number
  child: ChildProcess
  /** The /metrics text. */
  metrics: () => Promise<string>
  stop: () => Promise<void>
}

export async function startBenchServer (env: Record<string, string> = {}): Promise<BenchServer> {
  const root = fileURLToPath(new URL('../..', import.meta.url))
  const child = spawn(process.execPath, ['--expose-gc', '--import', 'tsx', 'bench/lib/serve.ts'], {
    cwd: root,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'inherit']
  })
  const kill = (): void => { child.kill('SIGKILL') }
  process.once('exit', kill)
  const ready = await new Promise<{ url: string, translators: string[], pid: number }>((resolve, reject) => {
    let out = ''
    const onData = (d: Buffer): void => {
      out += d.toString()
      const line = out.split('\n').find(l => l.startsWith('{'))
      if (line !== undefined && out.includes('\n')) {
        child.stdout?.off('data', onData)
        resolve(JSON.parse(line))
      }
    }
    child.stdout?.on('data', onData)
    child.once('exit', code => reject(new Error(`bench server exited with ${String(code)} before it was ready`)))
  })
  return {
    ...ready,
    child,
    metrics: async () => await (await fetch(`${ready.url}/metrics`)).text(),
    stop: async () => {
      process.off('exit', kill)
      if (child.exitCode !== null) return
      const exited = new Promise(resolve => child.once('exit', resolve))
      child.kill('SIGTERM')
      await exited
    }
  }
}

/** The value of one sample line of Prometheus text (0 when absent). */
export function metricValue (text: string, name: string, labels: Record<string, string> = {}): number {
  for (const line of text.split('\n')) {
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})? (\S+)$/.exec(line)
    if (m === null || m[1] !== name) continue
    const have = Object.fromEntries([...(m[2] ?? '').matchAll(/([a-zA-Z_]+)="([^"]*)"/g)].map(x => [x[1], x[2]]))
    if (Object.entries(labels).every(([k, v]) => have[k] === v)) return Number(m[3])
  }
  return 0
}
