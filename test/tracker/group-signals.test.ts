/**
 * `dandelion tracker` stopped as a service manager or a terminal stops it (see
 * `test/node/utils/stop-rounds.ts`): one graceful stop and status 0 however many stop signals
 * come and whenever, as for the other daemons. Its handlers used to come only once it was up,
 * and `dandelion` passed no SIGINT on to it: a signal while it started killed it (143), and
 * `docker stop` with STOPSIGNAL SIGINT never reached it.
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

describe('dandelion tracker stopped by signals to its process group', () => {
  stopRounds(
    {
      start: async () => {
        const data = await mkdtemp(join(tmpdir(), 'dandelion-tracker-'))
        dirs.push(data)
        const tokens = ['--admin-token', 'a'.repeat(24), '--enrollment-token', 'e'.repeat(24)]
        return { args: ['tracker', '--data-dir', data, '--port', '0', ...tokens] }
      },
      ready: /"channelUrl"/,
      stopping: /stopping tracker…/,
      stoppingOn: 'stderr',
      children,
    },
    // a second Ctrl-C ends the tracker at once (by design), so one here
    [...SIGTERM_ROUNDS, { name: 'Ctrl-C (SIGINT to the group)', signal: 'SIGINT', to: 'group', times: 1 }],
  )
})
