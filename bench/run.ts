/**
 * `npm run bench -- <name> [args...]` runs `bench/<name>.ts`.
 * Each benchmark prints a table and writes `bench/results/<name>.json`.
 */
import { readdirSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'

const here = dirname(fileURLToPath(import.meta.url))
const available = readdirSync(here)
  .filter((f) => f.endsWith('.ts') && f !== 'run.ts')
  .map((f) => f.slice(0, -3))
const name = process.argv[2]
if (name === undefined || !available.includes(name)) {
  process.stderr.write(`usage: npm run bench -- <name>\navailable: ${available.join(', ')}\n`)
  process.exit(name === undefined ? 0 : 2)
}
process.argv.splice(2, 1)
await import(pathToFileURL(join(here, `${name}.ts`)).href)
