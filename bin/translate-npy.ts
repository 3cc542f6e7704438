#!/usr/bin/env node
/**
 * Translates a large .npy file through a running latentbridge service, streamed in binary chunks
 * (bin/lib/translate-file.ts): neither side holds the whole file. Installed as the package's
 * `latentbridge-translate` bin; `npm run translate-npy -- ...` runs the same entry from the repo.
 * Exit status 0 on success, 1 on any error (with its reason), 2 on a usage error.
 */
import { resolve } from 'node:path'
import { parseArgs } from 'node:util'
import { BulkError, translateFile } from './lib/translate-file.js'

const NAME = 'latentbridge-translate'
const USAGE = `usage: ${NAME} --source SPACE --target SPACE [options] IN.npy OUT.npy

Translates IN.npy (2-D, C order, float32/float64/float16) from space SOURCE into space TARGET
through a running latentbridge service, in chunks, and writes OUT.npy (float32). Relative paths
are taken from the current directory.

options:
  --url URL            the service (default: $LATENTBRIDGE_URL, else http://127.0.0.1:8080)
  --source SPACE       the input's space (required)
  --target SPACE       the output's space (required)
  --translator ID      pin one translator version (default: the pair's active one)
  --chunk-rows N       rows per request (default: 4096)
  --concurrency N      requests in flight (default: 4)
  --key KEY            API key (default: $LATENTBRIDGE_API_KEY)
  --quiet              no progress line on stderr
  --help               print this and exit

environment:
  LATENTBRIDGE_URL      default for --url
  LATENTBRIDGE_API_KEY  default for --key

A progress line with rows/s goes to stderr; the summary, one JSON line, to stdout.
Exit status: 0 done, 1 error, 2 usage error.`

function fail (message: string): never {
  process.stderr.write(`${NAME}: ${message}\n`)
  process.exit(1)
}

function usageError (message: string): never {
  process.stderr.write(`${NAME}: ${message}\n\n${USAGE}\n`)
  process.exit(2)
}

function positiveInt (value: string, name: string): number {
  const n = Number(value)
  if (!Number.isSafeInteger(n) || n < 1) usageError(`--${name} must be a whole number ≥ 1, got "${value}"`)
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
  usageError((err as Error).message)
}
const { values: args, positionals } = parsed
if (args.help) {
  process.stdout.write(`${USAGE}\n`)
  process.exit(0)
}
if (positionals.length !== 2) usageError('expected an input and an output file')
if (args.source === undefined || args.target === undefined) usageError('--source and --target are required')

// Paths are the caller's: `npm run` moves to the repository root, and says where it was called
// from in INIT_CWD; run any other way (the installed bin, node, tsx), the current directory.
const base = process.env.npm_lifecycle_event === 'translate-npy' && process.env.INIT_CWD !== undefined ? process.env.INIT_CWD : process.cwd()
const input = resolve(base, positionals[0])
const output = resolve(base, positionals[1])
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
