/** This checkout's version (its `package.json`), as `dandelion --version` prints it and nodes report it to their tracker. */
import { readFileSync } from 'node:fs'

/** The `version` of the package this file ships in. */
export const DANDELION_VERSION: string = (
  JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }
).version
