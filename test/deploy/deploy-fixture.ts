/**
 * What the deployment-file tests share: the services, their units' flags that matter, the
 * secrets the example env files leave blank (filled with one fleet's worth), and the files
 * read before the tests (`loadDeploys`).
 */
import { randomBytes } from 'node:crypto'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterAll, beforeAll, expect } from 'vitest'
import {
  commandWords,
  type EnvEntry,
  parseEnvFile,
  parseUnit,
  type UnitFile,
  unitValue,
} from './unit-file.ts'

export const ROOT = fileURLToPath(new URL('../..', import.meta.url))
export const SERVICES = ['node', 'origin', 'tracker', 'rtc'] as const
export type Service = (typeof SERVICES)[number]

/** The flag whose value is the service's data directory (rtc's is the grant key file in it). */
export const DATA_FLAG: Record<Service, string> = {
  node: '--data',
  origin: '--data',
  tracker: '--data-dir',
  rtc: '--grant-key-file',
}
/** Flags that carry a secret: never in a unit, where `ps` and `systemctl show` print them. */
export const SECRET_FLAGS: Record<Service, string[]> = {
  node: ['--api-token', '--enroll-token'],
  origin: ['--token', '--tracker-token'],
  tracker: ['--admin-token', '--enrollment-token', '--viewer-token'],
  rtc: ['--secret', '--previous-secret', '--turn-secret', '--ops-token', '--ice-server'],
}
/** Services whose daemon takes a `--config` JSON file. */
export const WITH_CONFIG: ReadonlySet<Service> = new Set(['node', 'origin'])

const secret = (): string => randomBytes(24).toString('hex')
/**
 * What the blank secrets of the example environment files are filled with, one fleet's worth:
 * the origin presents the tracker's admin token, a node the tracker's enrollment token.
 */
export const TOKENS = { admin: secret(), enroll: secret() }
export const FILL: Record<Service, Record<string, string>> = {
  node: { DANDELION_ENROLLMENT_TOKEN: TOKENS.enroll, DANDELION_API_TOKEN: secret() },
  origin: { DANDELION_ORIGIN_TRACKER_TOKEN: TOKENS.admin },
  tracker: {
    DANDELION_ADMIN_TOKEN: TOKENS.admin,
    DANDELION_ENROLLMENT_TOKEN: TOKENS.enroll,
    DANDELION_VIEWER_TOKEN: secret(),
  },
  rtc: {
    DANDELION_RTC_SECRET: secret(),
    DANDELION_RTC_PREVIOUS_SECRETS: secret(),
    DANDELION_RTC_OPS_TOKEN: secret(),
  },
}

export interface Deploy {
  unit: UnitFile
  /** ExecStart's words. */
  words: string[]
  /** The env file's variables. */
  env: EnvEntry[]
}
const deploys = new Map<Service, Deploy>()
export const deploy = (s: Service): Deploy => deploys.get(s)!
export const file = (s: Service, name: string): string => join(ROOT, s, 'deploy', name)

/** The example env file's set variables, blanks filled from {@link FILL}. */
export function filledEnv(s: Service): Record<string, string> {
  const env: Record<string, string> = {}
  for (const e of deploy(s).env.filter((v) => !v.optional)) {
    const value = e.value === '' ? FILL[s][e.name] : e.value
    if (value === undefined) throw new Error(`${s}.env.example: no test value for the blank ${e.name}`)
    env[e.name] = value
  }
  return env
}

/** The unit's arguments after the command, with `flag`'s value replaced as `values` say. */
export function localArgs(s: Service, values: Record<string, string>): string[] {
  const args = deploy(s).words.slice(3)
  for (const [flag, value] of Object.entries(values)) {
    const i = args.indexOf(flag)
    expect(i, `${s} unit: ExecStart has no ${flag}`).toBeGreaterThan(-1)
    args[i + 1] = value
  }
  return args
}

let dir = ''
/** The scratch directory of the calling test file, made before its tests. */
export const scratch = (): string => dir

/** Reads the deployment files before the calling file's tests; removes its scratch directory after. */
export function loadDeploys(): void {
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'dandelion-deploy-'))
    for (const s of SERVICES) {
      const unit = parseUnit(await readFile(file(s, `dandelion-${s}.service`), 'utf8'))
      const words = commandWords(unitValue(unit, 'Service', 'ExecStart') ?? '')
      const env = parseEnvFile(await readFile(file(s, `${s}.env.example`), 'utf8'))
      deploys.set(s, { unit, words, env })
    }
  })
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true })
  })
}
