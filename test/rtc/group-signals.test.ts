/**
 * `dandelion rtc` stopped as a service manager or a terminal stops it (see
 * `test/node/utils/stop-rounds.ts`). The server used to take the first signal, stop, and then
 * be killed by a later one landing while Node tore the process down (its signal watchers
 * closed first, SIGTERM back to the default action): exit 143, the unit marked failed.
 */
import type { ChildProcess } from 'node:child_process'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, describe } from 'vitest'
import { killGroups } from '../node/utils/cli.ts'
import { SIGTERM_ROUNDS, stopRounds } from '../node/utils/stop-rounds.ts'

const children: ChildProcess[] = []
const dirs: string[] = []
afterEach(async () => {
  killGroups(children)
  for (const d of dirs.splice(0)) await rm(d, { recursive: true, force: true })
})

describe('dandelion rtc stopped by signals to its process group', () => {
  stopRounds(
    {
      start: async () => {
        const cwd = await mkdtemp(join(tmpdir(), 'dandelion-rtc-'))
        dirs.push(cwd)
        return { args: ['rtc', '--secret', 's'.repeat(32), '--port', '0'], cwd }
      },
      ready: /^rtc listening on /m,
      stopping: /stopping rtc…/,
      children,
    },
    // a second Ctrl-C still ends the server at once (by design), so one here
    [...SIGTERM_ROUNDS, { name: 'Ctrl-C (SIGINT to the group)', signal: 'SIGINT', to: 'group', times: 1 }],
  )
})
