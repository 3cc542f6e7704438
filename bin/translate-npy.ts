/**
 * Translates a large .npy file through a running latentbridge service, streamed in binary chunks
 * (bin/lib/translate-file.ts): neither side holds the whole file.
 *
 *   npm run translate-npy -- --url http://127.0.0.1:8080 --source A --target B in.npy out.npy
 *     [--translator ID] [--chunk-rows 4096] [--concurrency 4] [--key KEY] [--quiet]
 *
 * The API key can also come from LATENTBRIDGE_API_KEY. A progress line with rows/s goes to stderr
 * (unless --quiet); the summary goes to stdout. Exit status 1 on any error, with its reason.
 */
import { parseArgs } from 'node:util'
import { BulkError, translateFile } from './lib/translate-file.js'

const USAGE = 'usage: translate-npy --url URL --source SPACE --target SPACE [--translator ID] [--chunk-rows N] [--concurrency N] [--key KEY] [--quiet] IN.npy OUT.npy'

function fail (message: string): never {
  process.stderr.write(`translate-npy: ${message}\n`)
  process.exit(1)
}

function positiveInt (value: string, name: string): number {
  const n = Number(value)
  if (!Number.isSafeInteger(n) || n < 1) fail(`--${name} must be a whole number ≥ 1, got "${value}"`)
  return n
}

let parsed
try {
  parsed = parseArgs({
    allowPositionals: true,
    options: {
      url: { type: 'string', default: process.env.LATENTBRIDGE_URL ?? 'http://127.0.0.1:8080' },
      source: { type: 'string' },
      target: { type: 'string' },
      translator: { type: 'string' },
      'chunk-rows': { type: 'string', default: '4096' },
      concurrency: { type: 'string', default: '4' },
      key: { type: 'string' },
      quiet: { type: 'boolean', default: false },
      help: { type: 'boolean', default: false }
    }
  })
} catch (err) {
  fail(`${(err as Error).message}\n${USAGE}`)
}
const { values: args, positionals } = parsed
if (args.help) {
  process.stdout.write(`${USAGE}\n`)
  process.exit(0)
}
if (positionals.length !== 2) fail(`expected an input and an output file\n${USAGE}`)
if (args.source === undefined || args.target === undefined) fail(`--source and --target are required\n${USAGE}`)

const [input, output] = positionals
const isTty = process.stderr.isTTY === true
let lastDraw = 0
const started = performance.now()
const progress = (done: number, total: number, force = false): void => {
  if (args.quiet) return
  const now = performance.now()
  if (!force && now - lastDraw < 250) return
  lastDraw = now
  const seconds = (now - started) / 1000
  const rate = seconds > 0 ? done / seconds : 0
  const width = 24
  const filled = total === 0 ? width : Math.round(width * done / total)
  const eta = rate > 0 ? Math.ceil((total - done) / rate) : 0
  const line = `[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${done.toLocaleString('en-US')}/${total.toLocaleString('en-US')} rows  ${Math.round(rate).toLocaleString('en-US')} rows/s  ETA ${eta} s`
  // A terminal gets one line redrawn in place; a log file gets one line per update.
  process.stderr.write(isTty ? `\r${line}\u001b[K` : `${line}\n`)
}

try {
  const result = await translateFile({
    url: args.url,
    input,
    output,
    source: args.source,
    target: args.target,
    translator: args.translator,
    apiKey: args.key ?? process.env.LATENTBRIDGE_API_KEY,
    chunkRows: positiveInt(args['chunk-rows'], 'chunk-rows'),
    concurrency: positiveInt(args.concurrency, 'concurrency'),
    onProgress: progress
  })
  progress(result.rows, result.rows, true)
  if (!args.quiet && isTty) process.stderr.write('\n')
  const rate = result.seconds > 0 ? Math.round(result.rows / result.seconds) : 0
  process.stdout.write(`${JSON.stringify({ input, output, rows: result.rows, cols: result.cols, chunks: result.chunks, retries: result.retries, seconds: Math.round(result.seconds * 1000) / 1000, rowsPerSecond: rate })}\n`)
} catch (err) {
  if (isTty && !args.quiet) process.stderr.write('\n')
  if (err instanceof BulkError) fail(err.message)
  const code = (err as NodeJS.ErrnoException).code
  fail(code === 'ECONNREFUSED' ? `cannot connect to ${args.url} (is the service running?)` : code === 'ENOENT' ? `${(err as Error).message}` : (err as Error).stack ?? String(err))
}
