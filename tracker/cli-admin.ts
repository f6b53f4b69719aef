/**
 * What the operator's commands of the admin API share (`dandelion release`, `enroll-token`,
 * `operator`, `backup`): asking for help, and where the tracker and the admin token come from.
 */
import { InvalidConfigError } from '../node/errors.ts'
import { TRACKER_ENV, trackerEnvValue } from './cli-env.ts'

/** Whether `dandelion <command> <sub> …` asks for help (no sub-command, or `-h` / `--help` anywhere). */
export function wantsHelp(sub: string | undefined, rest: readonly string[]): boolean {
  return (
    sub === undefined || sub === '--help' || sub === '-h' || rest.includes('--help') || rest.includes('-h')
  )
}

/** The `parseArgs` options of the tracker's address and the admin token. */
export const ADMIN_CLIENT_OPTIONS = {
  tracker: { type: 'string', default: trackerEnvValue(process.env, 'trackerUrl') ?? 'http://127.0.0.1:7070' },
  token: { type: 'string' },
} as const

/** The admin token: `--token`, else `DANDELION_ADMIN_TOKEN` (blank is unset); a usage error without either. */
export function adminTokenOf(values: { token?: string }): string {
  const token = values.token ?? trackerEnvValue(process.env, 'adminToken')
  if (token === undefined) throw new InvalidConfigError(`--token or ${TRACKER_ENV.adminToken} required`)
  return token
}
