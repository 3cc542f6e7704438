import { spawn } from 'node:child_process'

/**
 * Runs a Python script with numpy at its best: without this machine's OpenBLAS override
 * variables (OPENBLAS_CORETYPE, OPENBLAS_L2_SIZE), which slow current numpy down
 * (docs/engine-notes.md §7). stderr passes through; resolves to stdout.
 */
export async function runPython (script: string, args: string[]): Promise<string> {
  const env = { ...process.env }
  delete env.OPENBLAS_CORETYPE
  delete env.OPENBLAS_L2_SIZE
  return await new Promise<string>((resolve, reject) => {
    const child = spawn('python3', [script, ...args], { env, stdio: ['ignore', 'pipe', 'inherit'] })
    let out = ''
    child.stdout.on('data', (d: Buffer) => { out += d.toString() })
    child.on('error', reject)
    child.on('close', code => { code === 0 ? resolve(out) : reject(new Error(`python3 ${script} exited with ${String(code)}`)) })
  })
}

/** The last line of a script's output, parsed as JSON. */
export function lastJsonLine<T> (output: string): T {
  const lines = output.trim().split('\n')
  return JSON.parse(lines[lines.length - 1]) as T
}
