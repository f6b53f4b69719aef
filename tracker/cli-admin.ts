/**
 * What the operator's commands of the admin API share (`dandelion release`, `enroll-token`,
 * `operator`, `backup`): asking for help, and where the tracker and the admin token come from.
 */
import { InvalidConfigError } from '../node/errors.ts'

/** Whether `dandelion <command> <sub> …` asks for help (no sub-command, or `-h` / `--help` anywhere). */
export function wantsHelp(sub: string | undefined, rest: readonly string[]): boolean {
  return (
    sub === undefined || sub === '--help' || sub === '-h' || rest.includes('--help') || rest.includes('-h')
  )
}

/** The `parseArgs` options of the tracker's address and the admin token. */
export const ADMIN_CLIENT_OPTIONS = {
  tracker: { type: 'string', default: process.env.DANDELION_TRACKER_URL ?? 'http://127.0.0.1:7070' },
  token: { type: 'string' },
} as const

/** The admin token: `--token`, else `DANDELION_ADMIN_TOKEN`; a usage error without either. */
export function adminTokenOf(values: { token?: string }): string {
  const token = values.token ?? process.env.DANDELION_ADMIN_TOKEN
  if (token === undefined) throw new InvalidConfigError('--token or DANDELION_ADMIN_TOKEN required')
  return token
}
