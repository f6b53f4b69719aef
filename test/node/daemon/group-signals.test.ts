/**
 * `dandelion node` stopped as a service manager or a terminal stops it (see
 * `test/node/utils/stop-rounds.ts`): one graceful stop (`"stopped"`) and status 0 however
 * many stop signals come and whenever, as for the origin and rtc. A copy landing while Node
 * tore the stopped daemon down (its signal watchers closed first) used to kill it, 143.
 */
import type { ChildProcess } from 'node:child_process'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, describe } from 'vitest'
import { killGroups, LOCAL_FLAGS, TRUSTED_ORIGIN } from '../utils/cli.ts'
import { SIGTERM_ROUNDS, stopRounds } from '../utils/stop-rounds.ts'

const children: ChildProcess[] = []
const dirs: string[] = []
afterEach(async () => {
  killGroups(children)
  for (const d of dirs.splice(0)) await rm(d, { recursive: true, force: true })
})

describe('dandelion node stopped by signals to its process group', () => {
  stopRounds(
    {
      start: async () => {
        const data = await mkdtemp(join(tmpdir(), 'dandelion-node-'))
        dirs.push(data)
        return { args: ['node', '--data', data, ...LOCAL_FLAGS, '--trusted-origin', TRUSTED_ORIGIN] }
      },
      ready: /"event":"ready"/,
      stopping: /"event":"stopped"/,
      children,
    },
    // a second Ctrl-C ends the daemon at once (by design), so one here
    [...SIGTERM_ROUNDS, { name: 'Ctrl-C (SIGINT to the group)', signal: 'SIGINT', to: 'group', times: 1 }],
  )
})
