/**
 * Writes the OpenAPI document the server serves at /openapi.json to openapi/openapi.json.
 * Run after changing a route or schema: npm run openapi (test/openapi.test.ts fails while stale).
 */
import { mkdirSync, writeFileSync } from 'node:fs'
import { buildApp } from '../src/app.js'
import { loadConfig } from '../src/config.js'
import { MemoryStore } from '../src/store/memory.js'

const app = await buildApp(loadConfig({}), { logger: false, store: new MemoryStore() })
await app.ready()
const file = new URL('../openapi/openapi.json', import.meta.url)
mkdirSync(new URL('.', file), { recursive: true })
writeFileSync(file, JSON.stringify(app.swagger(), null, 2) + '\n')
await app.close()
process.stdout.write(`wrote ${file.pathname}\n`)
